/**
 * A fixture app under test, seen through the event lines its generations print. Every
 * generation inherits the first one's stdout, so one stream tells the whole story; the
 * generation numbers in 'ready' events say which handover an event belongs to.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseEventLine, tracker, waitFor } from '@graceful-restart/test-utils'
import type { AfterHookHost, Answer, Started } from '@graceful-restart/test-utils'

export interface AppEvent {
  event: string
  pid: number
  /** Date.now() in the fixture process. */
  at: number
  [key: string]: unknown
}

export interface StartOptions {
  fixture: string
  env?: Record<string, string | undefined>
  /** How long the first generation may take to be ready (ms). Default 15 s. */
  timeoutMs?: number
  /** Node options (`--import` a preload); every next generation inherits them. */
  execArgv?: string[]
}

const WAIT_MS = 15_000

function parse (line: string): AppEvent | undefined {
  const value = parseEventLine(line)
  return typeof value?.pid === 'number' ? value as AppEvent : undefined
}

export class RunningApp {
  readonly started: Started
  /** A scratch directory for this app (BOOT_MODE_FILE, PID_FILE). */
  readonly dir: string
  readonly modeFile: string
  readonly pidFile: string
  /** The TCP port the app listens on; 0 on a unix socket. */
  port = 0
  /** The pid of the generation that is ready now. */
  pid = 0
  generation = 1

  private constructor (started: Started, dir: string) {
    this.started = started
    this.dir = dir
    this.modeFile = path.join(dir, 'boot-mode')
    this.pidFile = path.join(dir, 'app.pid')
  }

  /** Starts the fixture (killed with every generation it spawns when the test ends) and waits until it is ready. */
  static async start (t: AfterHookHost, options: StartOptions): Promise<RunningApp> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-contract-'))
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
    const processes = tracker(t)
    const started = processes.startNode(options.fixture, {
      ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        BOOT_MODE_FILE: path.join(dir, 'boot-mode'),
        UPGRADE_TIMEOUT_FILE: path.join(dir, 'upgrade-timeout'),
        PID_FILE: path.join(dir, 'app.pid'),
        ...options.env
      }
    })
    const app = new RunningApp(started, dir)
    const timeoutMs = options.timeoutMs ?? WAIT_MS
    const ready = await app.waitEvent((e) => e.event === 'ready', 'the first generation to be ready', { timeoutMs })
    const listening = await app.waitEvent((e) => e.event === 'listening' && e.pid === ready.pid, 'its listening event', { timeoutMs })
    app.pid = ready.pid
    const where = listening.address as { port?: number } | string | null
    app.port = typeof where === 'object' && where !== null ? Number(where.port) : 0
    return app
  }

  /** Every event so far, from line index `from` on. */
  events (from = 0): AppEvent[] {
    const out: AppEvent[] = []
    const { lines } = this.started
    for (let i = from; i < lines.length; i++) {
      const event = parse(lines[i] as string)
      if (event !== undefined) out.push(event)
    }
    return out
  }

  /** Index of the next line, for waiting on events that come after now. */
  get mark (): number {
    return this.started.lines.length
  }

  /** The first event matching `pred`, from line index `from` on; waits for it. */
  async waitEvent (pred: (e: AppEvent) => boolean, what: string, options: { from?: number, timeoutMs?: number } = {}): Promise<AppEvent> {
    const from = options.from ?? 0
    let scanned = from
    try {
      return await waitFor(() => {
        const { lines } = this.started
        for (; scanned < lines.length; scanned++) {
          const event = parse(lines[scanned] as string)
          if (event !== undefined && pred(event)) return event
        }
        return undefined
      }, { timeoutMs: options.timeoutMs ?? WAIT_MS, intervalMs: 5, what })
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast lines:\n${this.started.lines.slice(-15).join('\n')}`)
    }
  }

  /** Sends SIGUSR2 to the ready generation; resolves once the next one is ready. */
  async handover (): Promise<{ from: number, to: number, readyAt: number }> {
    const from = this.pid
    const mark = this.mark
    const generation = this.generation + 1
    process.kill(from, 'SIGUSR2')
    const ready = await this.waitEvent((e) => e.event === 'ready' && e.generation === generation,
      `generation ${generation} to be ready (handover from ${from})`, { from: mark })
    this.pid = ready.pid
    this.generation = generation
    return { from, to: ready.pid, readyAt: ready.at }
  }

  /** `count` handovers back to back, each over once the replaced generation started draining. */
  async handoversInARow (count: number): Promise<{ replaced: Array<{ from: number, drainAt: number }>, durationMs: number }> {
    const replaced: Array<{ from: number, drainAt: number }> = []
    const started = Date.now()
    for (let i = 0; i < count; i++) {
      const mark = this.mark
      const { from } = await this.handover()
      const drain = await this.waitEvent((e) => e.event === 'drain:start' && e.pid === from, `drain of ${from}`, { from: mark })
      replaced.push({ from, drainAt: drain.at })
    }
    return { replaced, durationMs: Date.now() - started }
  }

  /** Sends SIGUSR2 expecting the next generation to fail; resolves with the rollback event. */
  async failedHandover (): Promise<AppEvent> {
    const mark = this.mark
    process.kill(this.pid, 'SIGUSR2')
    return await this.waitEvent((e) => e.event === 'handover:rollback' && e.pid === this.pid,
      `a rollback in ${this.pid}`, { from: mark })
  }

  /**
   * Asks until `pid` answers: right after a handover the old generation may still accept
   * for a moment (it stops once it hears that the new one is ready). Any failure, or an
   * answer from a pid other than `pid` and `previous`, rejects.
   */
  async answeredBy (pid: number, previous: number, ask: () => Promise<Answer>, timeoutMs = 5_000): Promise<Answer> {
    return await waitFor(async () => {
      const answer = await ask()
      if (answer.pid !== pid && answer.pid !== previous) throw new Error(`answered by ${answer.pid}, expected ${pid} (or ${previous} for a moment)`)
      return answer.pid === pid ? answer : undefined
    }, { timeoutMs, intervalMs: 10, what: `pid ${pid} to answer` })
  }

  /** The exit event of `pid` (every fixture prints one). */
  async exitOf (pid: number, timeoutMs = WAIT_MS): Promise<AppEvent> {
    return await this.waitEvent((e) => e.event === 'exit' && e.pid === pid, `pid ${pid} to exit`, { timeoutMs })
  }

  /** The upgradeTimeout that generations booting from now on use (ms); undefined: UPGRADE_TIMEOUT's. */
  setUpgradeTimeout (ms: number | undefined): void {
    const file = path.join(this.dir, 'upgrade-timeout')
    if (ms === undefined) fs.rmSync(file, { force: true })
    else fs.writeFileSync(file, String(ms))
  }

  /** Writes the mode the next boot reads (see fixture.ts); undefined: a good boot. */
  setBootMode (mode: 'throw' | 'exit1' | 'hang' | 'slow' | undefined): void {
    if (mode === undefined) fs.rmSync(this.modeFile, { force: true })
    else fs.writeFileSync(this.modeFile, mode)
  }
}
