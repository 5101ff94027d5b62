/**
 * The older generations still draining, as each parent passes them on (oldest first), and
 * `maxDraining`: before a handover starts the next generation, room is made so that once it
 * took over at most `maxDraining` generations drain (and at most `maxDraining + 1` processes
 * run meanwhile). The oldest over the cap first gets to finish by itself: it is ended at once
 * (SIGWINCH) only when it still drains `idleGrace` + CAP_GRACE_MS after its drain began,
 * when what holds it is a long-lived connection (SSE, WebSocket, a long poll) rather than
 * ordinary requests, which a burst of handovers would otherwise cut.
 */
import type { Reporter } from '../diagnostics.ts'
import type { Platform } from '../platform.ts'
import type { DrainingGeneration } from './protocol.ts'

/**
 * Ends a drain at once: what is still open is closed, counted and reported in `drain:end`.
 * SIGTERM cannot say it (a second one exits without a report, and a first one must let a
 * handover's drain run: systemd sends it to every process of the unit on stop). SIGWINCH
 * is ignored by default, so a process that does not know it is left alone; Apache and
 * nginx use it for their own graceful stops too.
 */
export const END_DRAIN_SIGNAL = 'SIGWINCH'
/** How long a handover waits for the drains it ended before it starts the next generation anyway. */
const END_DRAIN_WAIT_MS = 5_000
const END_DRAIN_POLL_MS = 10
/** Beyond idleGrace, how long a generation over maxDraining may keep draining by itself. */
const CAP_GRACE_MS = 1_000

export class DrainingGenerations {
  #list: DrainingGeneration[]
  readonly #platform: Platform
  readonly #reporter: Reporter
  readonly #maxDraining: number
  readonly #idleGrace: number
  /** The kernel's start time of this process (undefined without /proc: no drain cap then). */
  readonly #startTime: string | undefined

  constructor (inherited: DrainingGeneration[], platform: Platform, reporter: Reporter, options: { maxDraining: number, idleGrace: number }) {
    this.#list = inherited
    this.#platform = platform
    this.#reporter = reporter
    this.#maxDraining = options.maxDraining
    this.#idleGrace = options.idleGrace
    this.#startTime = platform.processStartTime(platform.pid)
  }

  /** The parent took this generation's ready report: its drain, measured from now. */
  parentDrains (parentPid: number | undefined): void {
    const parent = this.#list.at(-1)
    if (parent !== undefined && parent.pid === parentPid) parent.sinceUs ??= this.#platform.monotonicUs()
  }

  /** What the next generation is told: those still draining once it took over, this one last. */
  passedOn (): DrainingGeneration[] {
    return this.#startTime === undefined ? this.#list : [...this.#list, { pid: this.#platform.pid, start: this.#startTime }]
  }

  /**
   * Makes room (see above). Resolves once the generations over the cap exited (at most
   * END_DRAIN_WAIT_MS after they were told); undefined when there is nothing to wait for.
   */
  makeRoom (): Promise<void> | undefined {
    const alive = this.#list.filter((g) => this.#isAlive(g))
    const excess = alive.length + 1 - this.#maxDraining
    this.#list = alive.slice(Math.max(0, excess))
    if (excess <= 0) return undefined
    const over = alive.slice(0, excess)
    const graceMs = this.#idleGrace + CAP_GRACE_MS
    this.#reporter.log('info', `maxDraining ${this.#maxDraining}: the next generation starts once the oldest ${over.length === 1 ? 'generation has' : `${over.length} generations have`} finished draining; ` +
      `one still draining ${graceMs} ms after its drain began is ended at once`, { pid: this.#platform.pid, over: over.map((g) => g.pid) })
    const told = new Map<number, number>()
    return new Promise((resolve) => {
      const check = (): void => {
        const now = this.#platform.monotonicUs()
        const left = this.#endOverdue(over, told, graceMs * 1000, now)
        const stuck = left.filter((g) => { const at = told.get(g.pid); return at !== undefined && now - at >= END_DRAIN_WAIT_MS * 1000 })
        if (left.length === 0) {
          resolve()
        } else if (stuck.length === left.length) {
          this.#reporter.log('warn', `older generations still running ${END_DRAIN_WAIT_MS} ms after ${END_DRAIN_SIGNAL}; starting the next generation anyway`, { pid: this.#platform.pid, pids: left.map((g) => g.pid) })
          resolve()
        } else {
          this.#platform.setTimeout(check, END_DRAIN_POLL_MS)
        }
      }
      check()
    })
  }

  /** Tells each generation of `over` still alive and past its grace to end its drain (once); returns those alive. */
  #endOverdue (over: DrainingGeneration[], told: Map<number, number>, graceUs: number, now: number): DrainingGeneration[] {
    const left = over.filter((g) => this.#isAlive(g))
    for (const g of left) {
      // A drain whose start is not known yet (the parent's, if its ready report is still
      // being taken; one passed by an older release) is counted from now.
      g.sinceUs ??= now
      if (told.has(g.pid) || now < g.sinceUs + graceUs) continue
      told.set(g.pid, now)
      this.#reporter.log('info', `maxDraining ${this.#maxDraining}: ending the drain of generation pid ${g.pid} at once`, { pid: this.#platform.pid, ended: g.pid })
      this.#platform.kill(g.pid, END_DRAIN_SIGNAL)
    }
    return left
  }

  #isAlive (g: DrainingGeneration): boolean {
    return this.#platform.processStartTime(g.pid) === g.start
  }
}
