/**
 * An app under test: a fixture started through a tracker, seen through the event lines its
 * generations print. Every generation inherits the first one's stdout, so one stream tells
 * the whole story. The one way the tests start an app and read its events; the contract
 * suite's RunningApp and core's startApp() build on it.
 *
 * Ready means one of two things, by the fixture: its PID file names a pid (core's fixtures,
 * `by: 'pid-file'`), or it printed a `ready` event (the adapter fixtures, `by: 'ready-event'`).
 * Either way the port is the one in that pid's `listening` event.
 */
import path from 'node:path'
import { parseEventLine } from './events.ts'
import type { Answer } from './http.ts'
import { readPidFile, waitFor, type StartNodeOptions, type Started } from './process.ts'
import type { Tracker } from './tracker.ts'

export interface AppEvent {
  event: string
  pid: number
  /** Date.now() in the fixture process. */
  at: number
  [key: string]: unknown
}

export interface LaunchOptions {
  /** Where the app keeps its files; its PID file is `app.pid` in it (PID_FILE). */
  dir: string
  env?: Record<string, string | undefined>
  execArgv?: string[]
  cwd?: string
  by: 'pid-file' | 'ready-event'
  /** How long the first generation may take to be ready (ms). Default 15 s. */
  timeoutMs?: number
  /** How long, once ready, its listening event may take (ms). Default: timeoutMs. */
  listeningTimeoutMs?: number
}

const WAIT_MS = 15_000

function parse (line: string): AppEvent | undefined {
  const value = parseEventLine(line)
  return typeof value?.pid === 'number' ? value as AppEvent : undefined
}

export class AppUnderTest {
  readonly started: Started
  readonly dir: string
  readonly pidFile: string
  /** The TCP port the app listens on; 0 on a unix socket. */
  port = 0
  /** The pid of the generation that is ready now. */
  pid = 0

  constructor (started: Started, dir: string) {
    this.started = started
    this.dir = dir
    this.pidFile = path.join(dir, 'app.pid')
  }

  /** Starts `script` with PID_FILE set (killed with every generation it spawns when the test ends) and waits until it is ready. */
  static async launch (track: Tracker, script: string, options: LaunchOptions): Promise<AppUnderTest> {
    const app = new AppUnderTest(AppUnderTest.spawn(track, script, options), options.dir)
    await app.untilReady(options)
    return app
  }

  /** The process of launch(), for a subclass that constructs itself. */
  protected static spawn (track: Tracker, script: string, options: LaunchOptions): Started {
    const spawnOptions: StartNodeOptions = { env: { PID_FILE: path.join(options.dir, 'app.pid'), ...options.env } }
    if (options.execArgv !== undefined) spawnOptions.execArgv = options.execArgv
    if (options.cwd !== undefined) spawnOptions.cwd = options.cwd
    return track.startNode(script, spawnOptions)
  }

  /** Waits for the first generation to be ready, then for its listening event; sets pid and port. */
  protected async untilReady (options: LaunchOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? WAIT_MS
    this.pid = options.by === 'pid-file'
      ? await waitFor(() => readPidFile(this.pidFile), { timeoutMs, what: 'first generation ready (PID file)' })
      : (await this.waitEvent((e) => e.event === 'ready', 'the first generation to be ready', { timeoutMs })).pid
    const listening = await this.waitEvent((e) => e.event === 'listening' && e.pid === this.pid, 'its listening event', { timeoutMs: options.listeningTimeoutMs ?? timeoutMs })
    const where = listening.address as { port?: number } | string | null
    this.port = typeof where === 'object' && where !== null ? Number(where.port ?? 0) : 0
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
    let scanned = options.from ?? 0
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
}
