/**
 * Time as the supervisor reads it, the other half of its seam (os.ts): unit tests pass a
 * clock they move by hand, so backoff, kill timers and upgrade timeouts take no real time.
 */
import { monotonicUs } from '../clock.ts'

/** What `setTimeout` returned; only `clearTimeout` of the same clock reads it. */
export type Timer = object

export interface SupervisorClock {
  /** Wall-clock ms (Date.now()): timestamps others read (status, crash times). */
  now: () => number
  /** CLOCK_MONOTONIC µs: durations, and when a handover began (`reload --wait` compares it across processes). */
  monotonicUs: () => number
  setTimeout: (fn: () => void, ms: number) => Timer
  clearTimeout: (timer: Timer | undefined) => void
}

export const nodeClock: SupervisorClock = {
  now: () => Date.now(),
  monotonicUs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => { clearTimeout(timer as NodeJS.Timeout | undefined) }
}
