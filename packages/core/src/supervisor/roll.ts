/**
 * A supervisor reload as a roll: the workers are replaced in steps of at most `surge` (K)
 * of the N. Each step starts K workers of the new generation, waits until all K are ready,
 * then lets each take over its slot from an old worker, which drains. Never fewer than N
 * workers are ready; with `surge` set, never more than N + K processes exist, the draining
 * ones included: a draining worker still holds its memory until it exits, so the next step
 * waits for it. Without `surge` the whole set starts at once and earlier generations still
 * draining are not waited for (bounded by `--max-draining` instead): the behaviour from
 * before `surge` existed.
 *
 * A step that fails (a new worker exits before it took over, or is not ready within
 * `upgradeTimeout`) stops the roll there: its new workers are stopped, the workers that
 * already took over and the old ones left keep serving, and the next reload replaces every
 * worker, those already on the failed generation included.
 */
import { CHANNELS, Reporter } from '../diagnostics.ts'
import { GracefulError, invalidOption } from '../errors.ts'
import type { SupervisorClock } from './clock.ts'

export interface RollWorker {
  readonly slot: number
  readonly generation: number
  readonly pid: number | undefined
  /** Resolves once the worker reported ready; rejects when it exited or could not start first. */
  readonly ready: Promise<void>
  /** Resolves once the process exited and was reaped. */
  readonly exited: Promise<unknown>
}

/** What a roll needs from the supervisor; the supervisor keeps the workers, the roll the order. */
export interface RollHost<W extends RollWorker> {
  /** N: slots to fill. */
  readonly workers: number
  /** K, or undefined for every worker at once without counting the draining ones. */
  readonly surge: number | undefined
  /** How long one step's new workers may take to become ready. */
  readonly upgradeTimeout: number
  readonly clock: SupervisorClock
  /** The worker of each slot, one that crashed and waits for its restart included. */
  serving: () => readonly W[]
  /** Replaced workers that have not exited yet. */
  draining: () => readonly W[]
  /** Starts a worker of the rolled-out generation for `slot`; it serves beside the slot's worker until it takes over. */
  start: (slot: number) => W
  /** A ready new worker takes its slot; the worker it replaces drains. */
  takeOver: (worker: W) => void
  /** Stops new workers that will not take over; resolves once they exited. */
  discard: (workers: readonly W[]) => Promise<void>
  /** True once the supervisor stops: the roll ends where it is. */
  stopping: () => boolean
  /** A line for the supervisor's log. */
  log: (message: string) => void
}

export interface RollStatus {
  /** The generation being rolled out. */
  generation: number
  workers: number
  /** Workers started per step (N without `surge`). */
  surge: number
  /** 'stopped': a step failed (see reason) and the workers are left as they were. */
  state: 'rolling' | 'done' | 'stopped'
  /** Serving workers on `generation` now. */
  replaced: number
  /** Serving workers by generation, newest first: more than one entry is a mixed state. */
  serving: Array<{ generation: number, workers: number }>
  steps: number
  startedAt: number
  durationMs: number | undefined
  reason: string | undefined
}

export type RollResult =
  | { ok: true }
  | { ok: false, error: GracefulError }

/** Validates `workers` and `surge` (ERR_GRACEFUL_INVALID_OPTION); an undefined `surge` stays undefined. */
export function resolveWorkers (workers: unknown, surge: unknown): { workers: number, surge: number | undefined } {
  if (typeof workers !== 'number' || !Number.isSafeInteger(workers) || workers < 1) throw invalidOption('workers', 'an integer >= 1', workers)
  if (surge !== undefined && (typeof surge !== 'number' || !Number.isSafeInteger(surge) || surge < 1 || surge > workers)) {
    throw invalidOption('surge', `an integer from 1 to workers (${workers})`, surge)
  }
  return { workers, surge }
}

const reporter = new Reporter(false)

export class Roll<W extends RollWorker> {
  readonly generation: number
  readonly #host: RollHost<W>
  readonly #trigger: string
  readonly #startedAt: number
  readonly #startedMs: number
  #state: RollStatus['state'] = 'rolling'
  #steps = 0
  #durationMs: number | undefined
  #reason: string | undefined

  constructor (host: RollHost<W>, generation: number, trigger: string) {
    this.#host = host
    this.generation = generation
    this.#trigger = trigger
    this.#startedAt = host.clock.now()
    this.#startedMs = this.#now()
  }

  /** Monotonic ms: step and roll durations. */
  #now (): number {
    return this.#host.clock.monotonicUs() / 1000
  }

  get #surge (): number {
    return this.#host.surge ?? this.#host.workers
  }

  #replaced (): number {
    return this.#host.serving().filter((w) => w.generation === this.generation).length
  }

  #ms (): number {
    return Math.round(this.#now() - this.#startedMs)
  }

  /** Where the roll stands; `serving` counted from the workers as they are now. */
  status (): RollStatus {
    const counts = new Map<number, number>()
    for (const w of this.#host.serving()) counts.set(w.generation, (counts.get(w.generation) ?? 0) + 1)
    return {
      generation: this.generation,
      workers: this.#host.workers,
      surge: this.#surge,
      state: this.#state,
      replaced: this.#replaced(),
      serving: [...counts].sort(([a], [b]) => b - a).map(([generation, workers]) => ({ generation, workers })),
      steps: this.#steps,
      startedAt: this.#startedAt,
      durationMs: this.#durationMs,
      reason: this.#reason
    }
  }

  /** Runs the roll to its end; never rejects (a failed step is a result). */
  async run (): Promise<RollResult> {
    const host = this.#host
    reporter.event(CHANNELS.rollStart, 'info', 'roll started', {
      pid: process.pid, generation: this.generation, workers: host.workers, surge: this.#surge, bounded: host.surge !== undefined, trigger: this.#trigger
    })
    for (;;) {
      if (host.stopping()) return this.#end(new GracefulError('ERR_GRACEFUL_SHUTTING_DOWN', 'the supervisor is stopping'))
      const waitStarted = this.#now()
      if (host.surge !== undefined) {
        const size = Math.min(host.surge, this.#left().length)
        // The next step's workers plus those still draining must fit in the surge.
        while (size > 0 && host.draining().length + size > host.surge && !host.stopping()) {
          await Promise.race(host.draining().map((w) => w.exited))
        }
        if (host.stopping()) continue
      }
      const left = this.#left()
      if (left.length === 0) return this.#end(undefined)
      const waitedMs = Math.round(this.#now() - waitStarted)
      const stepStarted = this.#now()
      const batch = left.slice(0, this.#surge).map((old) => host.start(old.slot))
      try {
        await settle(batch, host.upgradeTimeout, this.generation, host.clock)
      } catch (err) {
        await host.discard(batch)
        return this.#end(err as GracefulError)
      }
      if (host.stopping()) continue
      const replacedPids = batch.map((w) => host.serving().find((old) => old.slot === w.slot)?.pid)
      for (const w of batch) host.takeOver(w)
      this.#steps++
      this.#stepDone(batch, replacedPids, waitedMs, Math.round(this.#now() - stepStarted))
    }
  }

  #stepDone (batch: readonly W[], replacedPids: Array<number | undefined>, waitedMs: number, durationMs: number): void {
    const replaced = this.#replaced()
    const { workers } = this.#host
    this.#host.log(`generation ${this.generation}: ${replaced}/${workers} workers took over (step ${this.#steps}: ` +
      `${batch.map((w, i) => `worker ${w.slot} pid ${w.pid ?? '-'} for pid ${replacedPids[i] ?? '-'}`).join(', ')}; ready in ${durationMs} ms` +
      `${waitedMs > 0 ? ` after ${waitedMs} ms waiting for draining workers to exit` : ''})`)
    reporter.event(CHANNELS.rollStep, 'info', 'roll step took over', {
      pid: process.pid,
      generation: this.generation,
      step: this.#steps,
      replaced,
      workers,
      slots: batch.map((w) => w.slot),
      pids: batch.map((w) => w.pid),
      drained: replacedPids,
      waitedMs,
      durationMs
    })
  }

  /** Old workers first (the oldest generation, then by slot): a mixed state shrinks from its oldest end. */
  #left (): W[] {
    return this.#host.serving().filter((w) => w.generation !== this.generation)
      .sort((a, b) => a.generation - b.generation || a.slot - b.slot)
  }

  #end (error: GracefulError | undefined): RollResult {
    this.#durationMs = this.#ms()
    const replaced = this.#replaced()
    this.#state = error === undefined ? 'done' : 'stopped'
    if (error !== undefined) this.#reason = error.message
    reporter.event(CHANNELS.rollEnd, error === undefined ? 'info' : 'warn', error === undefined ? 'roll done' : 'roll stopped', {
      pid: process.pid,
      generation: this.generation,
      ok: error === undefined,
      replaced,
      workers: this.#host.workers,
      steps: this.#steps,
      durationMs: this.#durationMs,
      ...(error === undefined ? {} : { reason: error.message, code: error.code })
    })
    return error === undefined ? { ok: true } : { ok: false, error }
  }
}

/**
 * Resolves once every worker of a step is ready; rejects when one exits first (its own
 * reason), exits after it was ready but before the step took over, or the step outlasts
 * `timeoutMs`.
 */
function settle (batch: readonly RollWorker[], timeoutMs: number, generation: number, clock: SupervisorClock): Promise<void> {
  let timer: object | undefined
  return new Promise<void>((resolve, reject) => {
    timer = clock.setTimeout(() => {
      reject(new GracefulError('ERR_GRACEFUL_UPGRADE_TIMEOUT', `generation ${generation} not ready within ${timeoutMs} ms`))
    }, timeoutMs)
    Promise.all(batch.map((w) => w.ready)).then(() => resolve(), reject)
    for (const w of batch) {
      // Exited before it was ready: `ready` already rejected with the reason.
      void w.exited.then(() => w.ready.then(() => {
        reject(new GracefulError('ERR_GRACEFUL_CHILD_EXITED', `worker ${w.slot} of generation ${generation} (pid ${w.pid ?? '-'}) exited after it was ready, before it took over`))
      }, () => {}))
    }
  }).finally(() => clock.clearTimeout(timer))
}
