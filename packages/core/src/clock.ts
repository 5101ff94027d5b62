/**
 * Time as the state machine and the drain see it: wall-clock timestamps, CLOCK_MONOTONIC,
 * and timers. The platform passes Node's (`systemClock`); unit tests pass a fake one and
 * move time by hand instead of waiting for it.
 */

/** What `setTimeout` returned; only `clearTimeout` of the same clock reads it. */
export type Timer = object

export interface Clock {
  /** Wall-clock ms (Date.now()): timestamps that others read, and durations. */
  now: () => number
  /** CLOCK_MONOTONIC µs (see `monotonicUs` below). */
  monotonicUs: () => number
  setTimeout: (fn: () => void, ms: number) => Timer
  clearTimeout: (timer: Timer | undefined) => void
  /** Runs `fn` once the I/O events already queued were handled (setImmediate). */
  setImmediate: (fn: () => void) => void
}

/**
 * CLOCK_MONOTONIC in microseconds. Unlike Date.now() it never jumps, and it is the same
 * clock in every process of the machine, so one process can tell whether another's event
 * came after its own: `reload --wait` compares it with the start of a handover, and systemd
 * with the MONOTONIC_USEC= of a RELOADING=1 notification.
 */
export function monotonicUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Resolves once `promise` settled, or after `ms` on `clock` at the latest (never rejects). */
export function settledWithin (clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>, promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(resolve, ms)
    const done = (): void => {
      clock.clearTimeout(timer)
      resolve()
    }
    promise.then(done, done)
  })
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicUs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => { clearTimeout(timer as NodeJS.Timeout | undefined) },
  setImmediate: (fn) => { setImmediate(fn) }
}
