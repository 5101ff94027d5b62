/**
 * Workers that die on their own, counted over a sliding minute: each restart waits twice
 * as long as the one before (100 ms up to 10 s), so a release that cannot stay up does not
 * spin the machine, and five crashes within the minute are a crash loop, reported in the
 * status until a restarted worker is ready a full minute after the last crash.
 */

export const CRASH_WINDOW_MS = 60_000
export const CRASH_LOOP = 5
export const MAX_BACKOFF_MS = 10_000
const FIRST_BACKOFF_MS = 100

export interface CrashLoop {
  /** The first crash of the window in which the loop began (ms since the epoch). */
  since: number
  crashes: number
}

export class Crashes {
  #times: number[] = []
  #loop: CrashLoop | undefined

  get loop (): CrashLoop | undefined {
    return this.#loop === undefined ? undefined : { ...this.#loop }
  }

  /** A worker crashed at `now`: how long its restart waits, and whether a crash loop began with it. */
  record (now: number): { delayMs: number, loopBegan: boolean, recent: number } {
    this.#times = [...this.#times.filter((t) => now - t < CRASH_WINDOW_MS), now]
    const recent = this.#times.length
    const delayMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (recent - 1))
    if (recent >= CRASH_LOOP && this.#loop === undefined) {
      this.#loop = { since: this.#times[0] ?? now, crashes: recent }
      return { delayMs, loopBegan: true, recent }
    }
    if (this.#loop !== undefined) this.#loop.crashes++
    return { delayMs, loopBegan: false, recent }
  }

  /** A restarted worker became ready at `now`. */
  recovered (now: number): void {
    if (this.#loop !== undefined && now - (this.#times.at(-1) ?? 0) > CRASH_WINDOW_MS) this.#loop = undefined
  }
}
