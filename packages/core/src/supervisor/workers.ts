/**
 * The supervisor's workers by role: the one serving each slot (a crashed one until its
 * restart), new ones started beside them by a roll, and replaced ones that drain. A worker
 * asked to stop gets SIGTERM, and SIGKILL if it still runs `drainTimeout` plus a margin
 * later (its own drain deadline comes first).
 */
import type { Release } from './release.ts'
import type { WorkerStatus } from './status.ts'
import { startWorker, type Worker, type WorkerLaunch } from './worker.ts'

const KILL_MARGIN_MS = 5_000

export class WorkerSet {
  readonly #launch: WorkerLaunch
  readonly #killAfterMs: number
  readonly #log: (msg: string) => void
  readonly #serving = new Map<number, Worker>()
  readonly #incoming = new Set<Worker>()
  readonly #draining = new Set<Worker>()
  /** Set once a worker had to be killed: the supervisor then exits 1. */
  forced = false

  constructor (launch: WorkerLaunch, drainTimeout: number, log: (msg: string) => void) {
    this.#launch = launch
    this.#killAfterMs = drainTimeout + KILL_MARGIN_MS
    this.#log = log
  }

  serving (): Worker[] {
    return [...this.#serving.values()]
  }

  servingIn (slot: number): Worker | undefined {
    return this.#serving.get(slot)
  }

  draining (): Worker[] {
    return [...this.#draining]
  }

  all (): Worker[] {
    return [...this.#serving.values(), ...this.#incoming, ...this.#draining]
  }

  statuses (): WorkerStatus[] {
    return this.all().map((w) => ({ slot: w.slot, pid: w.proc.pid, generation: w.generation, state: w.state, startedAt: w.startedAt, restarts: w.restarts }))
  }

  /** Starts the worker of `slot` (the first, or a restart): it fills the slot at once. */
  serve (slot: number, release: Release, restarts: number): Worker {
    const worker = startWorker(this.#launch, slot, release, restarts)
    this.#serving.set(slot, worker)
    return worker
  }

  /** Starts a worker beside the slot's own (a roll); it fills the slot once it takes over. */
  startIncoming (slot: number, release: Release): Worker {
    const worker = startWorker(this.#launch, slot, release, 0)
    this.#incoming.add(worker)
    return worker
  }

  /** A ready new worker takes its slot; the worker it replaces drains. */
  takeOver (worker: Worker): void {
    this.#incoming.delete(worker)
    const old = this.#serving.get(worker.slot)
    this.#serving.set(worker.slot, worker)
    if (old !== undefined && !old.gone) {
      old.state = 'draining'
      old.drainingSince = this.#launch.clock.monotonicUs() / 1000
      this.#draining.add(old)
      this.terminate(old)
    }
  }

  /** Stops new workers that will not take over; resolves once they exited. */
  async discard (workers: readonly Worker[]): Promise<void> {
    for (const w of workers) this.terminate(w)
    await Promise.all(workers.map((w) => w.exited))
    for (const w of workers) this.#incoming.delete(w)
  }

  /** SIGTERM: the worker drains and exits; SIGKILL if it is still there after its drain deadline and a margin. */
  terminate (worker: Worker): void {
    if (worker.killTimer !== undefined) return
    worker.proc.kill('SIGTERM')
    worker.killTimer = this.#launch.clock.setTimeout(() => {
      this.forced = true
      this.#log(`worker ${worker.slot} (pid ${worker.proc.pid ?? '-'}) still running ${this.#killAfterMs} ms after SIGTERM: SIGKILL`)
      worker.proc.kill('SIGKILL')
    }, this.#killAfterMs)
  }

  /**
   * Records that a worker exited: 'drained' when it had been replaced, 'crashed' when it
   * still filled its slot (an incoming one that never took over is neither).
   */
  exited (worker: Worker): 'drained' | 'crashed' | undefined {
    this.#launch.clock.clearTimeout(worker.killTimer)
    worker.gone = true
    if (this.#draining.delete(worker)) return 'drained'
    return this.#serving.get(worker.slot) === worker ? 'crashed' : undefined
  }
}
