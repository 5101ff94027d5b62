// A Clock whose time moves only when a test moves it: timers fire in order as `advance()`
// passes their due time, or all at once with `fireTimers()`. `setImmediate` defers for real
// (no time passes), so code that waits for I/O events still sees them.
import type { Clock, Timer } from '../../src/clock.ts'

interface FakeTimer { fn: () => void, ms: number, at: number }

export class FakeClock implements Clock {
  /** Wall-clock ms. */
  clock = 0
  /** CLOCK_MONOTONIC in µs. */
  monotonic = 1_000_000
  timers = new Map<number, FakeTimer>()
  #nextTimer = 1

  now = (): number => this.clock
  monotonicUs = (): number => this.monotonic
  setImmediate = (fn: () => void): void => { setImmediate(fn) }

  setTimeout = (fn: () => void, ms: number): Timer => {
    const id = this.#nextTimer++
    this.timers.set(id, { fn, ms, at: this.clock + ms })
    return { id }
  }

  clearTimeout = (timer: Timer | undefined): void => {
    if (timer !== undefined) this.timers.delete((timer as { id: number }).id)
  }

  /** Fires every timer set so far, due or not (not those they set). */
  fireTimers (): void {
    for (const [id, { fn }] of [...this.timers]) {
      this.timers.delete(id)
      fn()
    }
  }

  /** Moves both clocks by `ms`, firing each timer that falls due on the way, at its time. */
  advance (ms: number): void {
    const end = this.clock + ms
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0]
      if (due === undefined) break
      const [id, timer] = due
      this.timers.delete(id)
      this.monotonic += (timer.at - this.clock) * 1000
      this.clock = timer.at
      timer.fn()
    }
    this.monotonic += (end - this.clock) * 1000
    this.clock = end
  }
}
