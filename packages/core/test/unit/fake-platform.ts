// A Platform that starts no process and installs no signal handler: the state machine's
// every path can be driven by hand.
import type { Platform } from '../../src/platform.ts'
import { captureEnvOrigin, type EnvOrigin } from '../../src/handover/env.ts'
import type { GenerationStatus } from '../../src/control-status.ts'
import type { GenerationEvents, GenerationSpec } from '../../src/handover/spawn.ts'
import type { Inheritance } from '../../src/listeners/inherit.ts'
import type { ReleaseWatch, ReleaseWatchOptions } from '../../src/release/watch.ts'
import type { SupervisorChannel } from '../../src/handover/worker-channel.ts'
import type { KnownContext, ProcessContext } from '../../src/context.ts'
import http from 'node:http'
import { once } from 'node:events'
import { Graceful } from '../../src/lifecycle.ts'
import { FakeClock } from './fake-clock.ts'
import type { GenerationLink } from '../../src/handoff/protocol.ts'

/** One end of a handover channel (handoff/protocol.ts) played by a test: what was sent, and a way to answer. */
export interface FakeLink extends GenerationLink {
  sent: Array<{ message: object, handle: object | undefined }>
  deliver: (message: object, handle?: object) => void
  close: () => void
  disconnected: boolean
}

export function fakeLink (): FakeLink {
  const onMessage: Array<(message: unknown, handle: unknown) => void> = []
  const onDisconnect: Array<() => void> = []
  const link: FakeLink = {
    sent: [],
    disconnected: false,
    send: async (message, handle) => {
      if (link.disconnected) throw new Error('the channel is closed')
      link.sent.push({ message, handle })
    },
    onMessage: (fn) => { onMessage.push(fn) },
    onDisconnect: (fn) => { onDisconnect.push(fn) },
    disconnect: () => link.close(),
    deliver: (message, handle) => { for (const fn of onMessage) fn(message, handle) },
    close: () => {
      if (link.disconnected) return
      link.disconnected = true
      for (const fn of onDisconnect.splice(0)) fn()
    }
  }
  return link
}

export interface FakeChild {
  spec: GenerationSpec
  events: GenerationEvents
  pid: number
  killed: NodeJS.Signals[]
  released: boolean
  /** The handover channel, when the spec asked for one (`handoff`). */
  channel: FakeLink | undefined
  exit: (code: number | null, signal?: NodeJS.Signals | null) => void
}

export class FakePlatform extends FakeClock implements Platform {
  pid = 100
  env: NodeJS.ProcessEnv = { KEEP: '1' }
  children: FakeChild[] = []
  exits: number[] = []
  pidFiles: Array<[string, number]> = []
  removedPidFiles: string[] = []
  readyReports: Array<[number, number]> = []
  handlers = new Map<string, () => void>()
  /** Listeners of the app's own (NestJS's shutdown hooks, say), run after ours by signal(). */
  otherListeners = new Map<string, Array<() => void>>()
  inheritance: Inheritance = { sockets: [], readyFd: undefined, generation: 1, parentPid: undefined, ignored: [] }

  canPassSockets = (): boolean => true
  readInheritance = (): Inheritance => this.inheritance
  context: ProcessContext = { kind: 'standalone', source: 'detected', evidence: 'fake' }
  contextQueries: KnownContext[] = []
  detectContext = (known: KnownContext): ProcessContext => {
    this.contextQueries.push(known)
    return this.context
  }
  captureLaunch = () => ({ execPath: '/node', args: ['app.js'], cwd: '/srv' })
  /** Text files by absolute path (env files); others do not exist. */
  files = new Map<string, string>()
  execArgv: string[] = []
  /** What the process was exec'd with; by default the env as it is when captured. */
  environ: string[] | undefined
  captureEnv = (fromParentFiles: readonly string[], envFiles: readonly string[]): EnvOrigin => captureEnvOrigin({
    env: this.env,
    execArgv: this.execArgv,
    cwd: '/srv',
    environ: this.environ ?? Object.entries(this.env).map(([k, v]) => `${k}=${String(v)}`),
    fromParentFiles,
    envFiles,
    read: this.readFile
  })

  readFile = (file: string): string => {
    const text = this.files.get(file)
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${file}'`), { code: 'ENOENT' })
    return text
  }

  /** Kernel start times by pid; a pid missing here is gone. */
  startTimes = new Map<number, string>()
  processStartTime = (pid: number): string | undefined => this.startTimes.get(pid)
  listeningFd = (): number => 7
  closeFd = (): void => {}
  reportReady = (fd: number, pid: number, onClosed?: () => void): boolean => {
    this.readyReports.push([fd, pid])
    if (onClosed !== undefined) this.lifelines.push(onClosed)
    return true
  }
  lifelines: Array<() => void> = []
  killed: Array<[number, string]> = []
  kill = (pid: number, signal: string): void => { this.killed.push([pid, signal]) }
  /** What openChannel() answers: set it to play a supervisor's channel. */
  channel: SupervisorChannel | undefined = undefined
  openChannel = (): SupervisorChannel | undefined => this.channel
  /** What openParentLink() answers: set it to play a previous generation's handover channel. */
  parentLink: GenerationLink | undefined = undefined
  openParentLink = (): GenerationLink | undefined => this.parentLink
  notified: string[][] = []
  /** Set to play systemd: each message is then taken when this resolves. */
  systemd: Promise<void> | undefined
  notifySystemd = (args: string[]): Promise<void> | undefined => {
    this.notified.push(args)
    return this.systemd
  }

  writePidFile = (file: string, pid: number): void => { this.pidFiles.push([file, pid]) }
  /** Each removal with the pid it was conditional on (the file is removed only if it names that pid). */
  pidFileRemovals: Array<[string, number]> = []
  removePidFile = (file: string, pid: number): void => {
    this.removedPidFiles.push(file)
    this.pidFileRemovals.push([file, pid])
  }
  readPidFile = (file: string): number | undefined => this.pidFiles.filter(([f]) => f === file).at(-1)?.[1]
  /** Every status written beside a PID file, with the PID files written so far (to check the order). */
  statuses: Array<{ pidFile: string, status: Omit<GenerationStatus, 'kind' | 'pid' | 'identity'>, pidFilesBefore: number }> = []
  writeStatus = (pidFile: string, status: Omit<GenerationStatus, 'kind' | 'pid' | 'identity'>): void => {
    this.statuses.push({ pidFile, status, pidFilesBefore: this.pidFiles.length })
  }

  removedStatuses: string[] = []
  removeStatus = (pidFile: string): void => { this.removedStatuses.push(pidFile) }
  unlink = (): void => {}
  exit = (code: number): void => { this.exits.push(code) }
  /** The `watch` option's watcher: `change()` plays a settled change on disk. */
  watches: Array<{ options: ReleaseWatchOptions, running: boolean, change: (paths?: string[]) => Promise<unknown> }> = []
  watchRelease = (options: ReleaseWatchOptions): ReleaseWatch => {
    const w = { options, running: false, change: (paths = options.paths) => options.onChange({ paths }) }
    this.watches.push(w)
    return { start: () => { w.running = true }, stop: () => { w.running = false } }
  }
  onSignal = (signal: NodeJS.Signals, handler: () => void): (() => void) => {
    this.handlers.set(signal, handler)
    return () => { this.handlers.delete(signal) }
  }

  signalListeners = (signal: NodeJS.Signals): Function[] => {
    const ours = this.handlers.get(signal)
    return [...(ours === undefined ? [] : [ours]), ...(this.otherListeners.get(signal) ?? [])]
  }

  signal (name: string): void {
    const handler = this.handlers.get(name)
    if (handler === undefined) throw new Error(`no handler for ${name}`)
    handler()
    for (const other of this.otherListeners.get(name) ?? []) other()
  }

  spawnGeneration = (spec: GenerationSpec, events: GenerationEvents) => {
    let resolveExit: (v: { code: number | null, signal: NodeJS.Signals | null }) => void = () => {}
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => { resolveExit = resolve })
    const child: FakeChild = {
      spec, events, pid: 200 + this.children.length, killed: [], released: false,
      channel: spec.handoff === true && spec.worker === undefined ? fakeLink() : undefined,
      exit: (code, signal = null) => { resolveExit({ code, signal }); events.onExit(code, signal) }
    }
    this.children.push(child)
    return {
      pid: child.pid,
      exited,
      stdout: null,
      stderr: null,
      kill: (signal: NodeJS.Signals) => {
        child.killed.push(signal)
        resolveExit({ code: null, signal })
      },
      release: () => { child.released = true },
      channel: child.channel
    }
  }
}

/** A Graceful on `p` with one server listening on loopback, once it is ready (logger off unless asked). */
export async function readyGraceful (p: FakePlatform, options: ConstructorParameters<typeof Graceful>[0] = {}): Promise<{ g: Graceful, server: http.Server }> {
  const g = new Graceful({ logger: false, ...options }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  return { g, server }
}
