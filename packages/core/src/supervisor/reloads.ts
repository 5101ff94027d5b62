/**
 * The supervisor's reloads, one at a time: each reads the next generation's release, makes
 * room under --max-draining (drain-cap.ts), rolls the workers over to it (roll.ts) and
 * records how it ended, which `status` shows and `reload --wait` reads.
 */
import { GracefulError } from '../errors.ts'
import type { SupervisorClock } from './clock.ts'
import { makeRoom } from './drain-cap.ts'
import type { Release } from './release.ts'
import { Roll, type RollHost } from './roll.ts'
import type { HandoverStatus, SupervisorStatus } from './status.ts'
import type { Worker } from './worker.ts'
import type { WorkerSet } from './workers.ts'

export interface ReloadHost {
  readonly workers: number
  readonly surge: number | undefined
  readonly upgradeTimeout: number
  readonly maxDraining: number
  readonly clock: SupervisorClock
  readonly pool: WorkerSet
  /** The release of `generation`, given the environment of the newest one serving; throws when an --env-file cannot be read. */
  release: (generation: number, previous: NodeJS.ProcessEnv | undefined) => Release
  /** A worker that took over was already gone: a crash in its slot. */
  crashed: (worker: Worker, how: string) => void
  /** The reload ended (the status is written after this). */
  ended: () => void
  stopping: () => boolean
  /** The workers or the record changed: write the status. */
  changed: () => void
  log: (msg: string) => void
}

interface Started { at: number, monoUs: number }

export class Reloads {
  readonly #host: ReloadHost
  #generation = 0
  #serving = 0
  #roll: Roll<Worker> | undefined
  #last: HandoverStatus | undefined
  readonly #counts = { ok: 0, failed: 0 }

  constructor (host: ReloadHost) {
    this.#host = host
  }

  /** The first workers run generation 1. */
  first (): number {
    this.#generation = this.#serving = 1
    return 1
  }

  status (): Pick<SupervisorStatus, 'generation' | 'lastHandover' | 'roll' | 'handovers'> {
    return { generation: this.#serving, lastHandover: this.#last, roll: this.#roll?.status(), handovers: { ...this.#counts } }
  }

  /** Starts the next generation and resolves once it serves everywhere; rejects (after recording why) when it does not. */
  async run (trigger: string): Promise<void> {
    const host = this.#host
    const generation = ++this.#generation
    const started = { at: host.clock.now(), monoUs: host.clock.monotonicUs() }
    host.log(`${trigger}: starting generation ${generation}${host.surge === undefined ? '' : ` (${host.workers} workers, ${host.surge} at a time)`}`)
    let release: Release
    try {
      const newest = host.pool.serving().sort((a, b) => b.generation - a.generation)[0]
      release = host.release(generation, newest?.release.env)
    } catch (err) {
      const reason = `cannot read --env-file: ${(err as Error).message}`
      host.log(`reload failed, the old workers keep serving: ${reason}`)
      this.#ended(generation, started, reason)
      throw new GracefulError('ERR_GRACEFUL_SPAWN', reason)
    }
    await makeRoom(host.pool.draining(), host.maxDraining, host.clock, host.log)
    const roll = this.#roll = new Roll(this.#rollHost(release), generation, trigger)
    host.changed()
    const result = await roll.run()
    if (!result.ok) {
      const { replaced, serving } = roll.status()
      const where = replaced === 0 ? undefined : `roll stopped at ${replaced}/${host.workers}; serving: ${serving.map((g) => `${g.workers} on generation ${g.generation}`).join(', ')}`
      host.log(`reload failed, ${where ?? 'the old workers keep serving'}: ${result.error.message}`)
      this.#ended(generation, started, where === undefined ? result.error.message : `${result.error.message} (${where})`)
      throw result.error
    }
    this.#serving = generation
    this.#ended(generation, started, undefined)
  }

  /** Records how a reload ended (`reason`: why it failed). */
  #ended (generation: number, started: Started, reason: string | undefined): void {
    const at = this.#host.clock.now()
    const record = { ok: reason === undefined, generation, at, durationMs: at - started.at, startedMonoUs: started.monoUs }
    this.#last = reason === undefined ? record : { ...record, reason }
    if (reason === undefined) {
      this.#counts.ok++
      this.#host.log(`generation ${generation} ready in ${record.durationMs} ms; the workers it replaced drain`)
    } else {
      this.#counts.failed++
    }
    this.#host.ended()
    this.#host.changed()
  }

  /** The roll's view of the workers: which serve, which drain, how one starts and takes over. */
  #rollHost (release: Release): RollHost<Worker> {
    const host = this.#host
    const pool = host.pool
    return {
      workers: host.workers,
      surge: host.surge,
      upgradeTimeout: host.upgradeTimeout,
      clock: host.clock,
      serving: () => pool.serving(),
      draining: () => pool.draining(),
      start: (slot) => {
        const w = pool.startIncoming(slot, release)
        host.changed()
        return w
      },
      takeOver: (w) => {
        pool.takeOver(w)
        // It exited between its ready report and now; in its slot it is a crash like any other.
        if (w.gone) host.crashed(w, 'exit before it took over')
        host.changed()
      },
      discard: async (ws) => {
        await pool.discard(ws)
        host.changed()
      },
      stopping: host.stopping,
      log: host.log
    }
  }
}
