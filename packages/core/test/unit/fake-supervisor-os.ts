// The supervisor's seam (src/supervisor/os.ts) faked: a clock that moves only when a test
// moves it, and workers that are objects the test makes ready, crash or exit. No process is
// started and no real time passes, so backoff, crash loops, kill timers and timeouts of a
// minute take microseconds.
import { Writable } from 'node:stream'
import type { GenerationEvents, GenerationSpec, NextGeneration } from '../../src/handover/spawn.ts'
import type { SupervisorClock, Timer } from '../../src/supervisor/clock.ts'
import type { SupervisorOs } from '../../src/supervisor/os.ts'
import type { SupervisorStatus } from '../../src/supervisor/status.ts'
import type { SupervisorOptions } from '../../src/supervisor/supervisor.ts'

/** Lets every promise chain that is ready to run, run (no timer of the fake clock fires). */
export async function flush (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

interface PendingTimer { fn: () => void, at: number, seq: number }

export class FakeClock implements SupervisorClock {
  /** Wall-clock ms. */
  wall = 1_700_000_000_000
  /** CLOCK_MONOTONIC µs. */
  mono = 5_000_000_000
  readonly #timers = new Map<object, PendingTimer>()
  #seq = 0

  now = (): number => this.wall
  monotonicUs = (): number => this.mono

  setTimeout = (fn: () => void, ms: number): Timer => {
    const timer = {}
    this.#timers.set(timer, { fn, at: this.wall + ms, seq: this.#seq++ })
    return timer
  }

  clearTimeout = (timer: Timer | undefined): void => {
    if (timer !== undefined) this.#timers.delete(timer)
  }

  /** The delays of the timers still pending, from now, soonest first. */
  pending (): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.wall).sort((a, b) => a - b)
  }

  /**
   * Moves time by `ms`: each timer due on the way fires at its time, and what it set off
   * (promise chains, timers it set) runs before the next one.
   */
  async advance (ms: number): Promise<void> {
    const end = this.wall + ms
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0]
      if (due === undefined) break
      const [key, timer] = due
      this.#timers.delete(key)
      this.#move(timer.at)
      timer.fn()
      await flush()
    }
    this.#move(end)
    await flush()
  }

  #move (to: number): void {
    this.mono += (to - this.wall) * 1000
    this.wall = to
  }
}

/** A worker as the supervisor sees it through spawn(); the test decides what it does. */
export class FakeWorker implements NextGeneration {
  readonly pid: number
  readonly spec: GenerationSpec
  readonly signals: NodeJS.Signals[] = []
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly stdout = null
  readonly stderr = null
  readonly channel = undefined
  /** What a signal does to it; by default SIGTERM ends it after its drain (code 0), SIGKILL at once. */
  onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    if (signal === 'SIGTERM') this.exit(0)
    if (signal === 'SIGKILL') this.exit(null, 'SIGKILL')
  }

  readonly #events: GenerationEvents
  #settled = false
  #gone = false
  #resolveExit: (value: { code: number | null, signal: NodeJS.Signals | null }) => void = () => {}

  constructor (pid: number, spec: GenerationSpec, events: GenerationEvents) {
    this.pid = pid
    this.spec = spec
    this.#events = events
    this.exited = new Promise((resolve) => { this.#resolveExit = resolve })
  }

  get slot (): number { return this.spec.worker as number }
  get generation (): number { return this.spec.generation }
  get alive (): boolean { return !this.#gone }

  kill = (signal: NodeJS.Signals): void => {
    this.signals.push(signal)
    if (!this.#gone) this.onSignal(signal)
  }

  release = (): void => {}

  /** Reports ready, as the worker's readiness pipe would. */
  ready (): void {
    if (this.#settled || this.#gone) return
    this.#settled = true
    this.#events.onReady()
  }

  /** Never starts, as when spawn() fails (ENOENT, EACCES): an error, then gone without an exit status. */
  failToStart (err: Error): void {
    if (this.#gone) return
    this.#gone = true
    this.#settled = true
    this.#events.onError(err)
    this.#resolveExit({ code: null, signal: null })
  }

  exit (code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.#gone) return
    this.#gone = true
    if (!this.#settled) {
      this.#settled = true
      this.#events.onExit(code, signal)
    }
    this.#resolveExit({ code, signal })
  }
}

export class FakeSupervisorOs implements SupervisorOs {
  readonly pid = 4242
  readonly workers: FakeWorker[] = []
  readonly files = new Map<string, string>()
  readonly pidFiles = new Map<string, number>()
  readonly signalHandlers = new Map<NodeJS.Signals, Array<() => void>>()
  statusWrites = 0
  lastStatus: SupervisorStatus | undefined
  keptAlive = false
  #nextPid = 5000
  /** Runs once a worker was started; by default it reports ready at once. */
  onSpawn: (worker: FakeWorker) => void = (worker) => { queueMicrotask(() => worker.ready()) }

  spawn = (spec: GenerationSpec, events: GenerationEvents): NextGeneration => {
    const worker = new FakeWorker(this.#nextPid++, spec, events)
    this.workers.push(worker)
    this.onSpawn(worker)
    return worker
  }

  onSignal = (signal: NodeJS.Signals, handler: () => void): (() => void) => {
    this.signalHandlers.set(signal, [...this.signalHandlers.get(signal) ?? [], handler])
    return () => { this.signalHandlers.set(signal, (this.signalHandlers.get(signal) ?? []).filter((h) => h !== handler)) }
  }

  /** Delivers a signal to the supervisor. */
  signal (signal: NodeJS.Signals): void {
    for (const handler of this.signalHandlers.get(signal) ?? []) handler()
  }

  keepAlive = (): (() => void) => {
    this.keptAlive = true
    return () => { this.keptAlive = false }
  }

  watchOrphans = (): void => {}

  readFile = (file: string): string => {
    const text = this.files.get(file)
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: 'ENOENT' })
    return text
  }

  realpath = (p: string): string => p
  identity = (): { start: string } => ({ start: '1' })
  writePidFile = (file: string, pid: number): void => { this.pidFiles.set(file, pid) }
  removePidFile = (file: string, pid: number): void => { if (this.pidFiles.get(file) === pid) this.pidFiles.delete(file) }

  writeStatus = (_file: string, status: SupervisorStatus): void => {
    this.statusWrites++
    this.lastStatus = status
  }

  removeStatus = (): void => { this.lastStatus = undefined }

  /** The workers alive in `slot`, oldest first. */
  alive (slot?: number): FakeWorker[] {
    return this.workers.filter((w) => w.alive && (slot === undefined || w.slot === slot))
  }
}

/** Supervisor options for a fake run: `node app.js`, no sockets, everything else as `run`'s defaults. */
export function fakeOptions (os: FakeSupervisorOs, clock: FakeClock, overrides: Partial<SupervisorOptions> = {}): SupervisorOptions & { log: string[], exits: number[] } {
  const log: string[] = []
  const exits: number[] = []
  const sink = new Writable({ write (chunk, _enc, done) { log.push(...String(chunk).split('\n').filter((l) => l !== '')); done() } })
  return {
    command: ['node', 'app.js'],
    listen: [],
    workers: 1,
    pidFile: '/run/app/sup.pid',
    statusFile: '/run/app/sup.pid.json',
    upgradeTimeout: 60_000,
    drainTimeout: 30_000,
    reloadSignals: ['SIGUSR2', 'SIGHUP'],
    cwd: '/srv/app',
    env: { PATH: '/usr/bin' },
    envFiles: [],
    maxDraining: 3,
    systemd: [],
    stdout: sink,
    stderr: sink,
    exit: (code) => { exits.push(code) },
    os,
    clock,
    ...overrides,
    log,
    exits
  }
}
