/**
 * The one orchestrator per process: a small state machine through which every signal and
 * API call passes, and the only place that decides what happens next.
 *
 *   starting -> ready -> handing-over -> draining -> exited
 *                 ^           |
 *                 +-----------+   (rollback: the next generation failed)
 *
 * `starting -> draining` and `ready -> draining` are a shutdown (SIGTERM/SIGINT).
 */
import net, { type Server } from 'node:net'
import { constants as osConstants } from 'node:os'
import type { ProcessContext } from './context.ts'
import type { HandoverRecord } from './control-status.ts'
import { CHANNELS, Reporter } from './diagnostics.ts'
import { ConnectionTracker, type DrainCounts, type DrainResult } from './drain.ts'
import { GracefulError, HandoverError } from './errors.ts'
import { nextEnvironment, type EnvDiff, type EnvOrigin, type NextEnvironment } from './handover/env.ts'
import type { Launch } from './handover/launch.ts'
import type { DrainingGeneration } from './handover/protocol.ts'
import type { NextGeneration } from './handover/spawn.ts'
import { listenOn, SocketSupplier, type ListenFn } from './listeners/bind.ts'
import type { Inheritance } from './listeners/inherit.ts'
import { setKeepAliveTimeout } from './keep-alive.ts'
import { ListenerRegistry } from './listeners/registry.ts'
import { resolveOptions, type GracefulOptions, type ResolvedOptions } from './options.ts'
import type { Timer } from './clock.ts'
import type { Platform } from './platform.ts'
import { closedBehindOurBack, SignalConflictGuard } from './signal-conflicts.ts'
import { installSignals } from './signals.ts'
import type { SupervisorChannel } from './handover/worker-channel.ts'

export type State = 'starting' | 'ready' | 'handing-over' | 'draining' | 'exited'

export interface HandoverResult {
  /** PID of the generation that took over. */
  pid: number
  durationMs: number
}

export interface ShutdownResult extends DrainResult {
  reason: string
  /** What was still open when the drain was ended at once (SIGWINCH, sent by `maxDraining`). */
  endedEarly?: Omit<DrainCounts, 'connections'>
}

interface Attachment {
  server: Server
  tracker: ConnectionTracker
  /** listen() was called and has not completed yet. */
  pending: boolean
  key: string | undefined
  unixPath: string | undefined
}

/**
 * What a handover (the signal or `handover()`) does where this process runs:
 * - `reexec`: start the next generation and pass it the sockets.
 * - `exit`: the manager sent its restart signal and waits for us to exit (nodemon): drain,
 *   then end by that same signal, so that it starts the new code. `handover()` is refused.
 * - `refuse`: a manager restarts us itself, or our exit would take the next generation
 *   down with it. The process keeps serving; the error names what to do instead.
 * Under the supervisor the worker asks the supervisor (see `handover()`).
 */
type HandoverPolicy = { action: 'reexec' } | { action: 'exit', refusal: GracefulError } | { action: 'refuse', refusal: GracefulError }

const RUN_UNDER_SUPERVISOR = 'run the app under the supervisor as the entrypoint instead (`graceful-restart run --listen <address> -- node server.js`)'

function handoverPolicy (context: ProcessContext): HandoverPolicy {
  const managed = (message: string): HandoverPolicy => ({ action: 'refuse', refusal: new GracefulError('ERR_GRACEFUL_MANAGED', message) })
  const unsafe = (message: string): HandoverPolicy => ({
    action: 'refuse',
    refusal: new GracefulError('ERR_GRACEFUL_UNSAFE_CONTEXT', `${message}; the handover is refused and this process keeps serving. ` +
      "Set the option context: 'standalone' only if something else keeps the new process alive.")
  })
  switch (context.kind) {
    case 'standalone':
    case 'supervisor':
    case 'systemd-notify':
      return { action: 'reexec' }
    case 'nodemon':
      return {
        action: 'exit',
        refusal: new GracefulError('ERR_GRACEFUL_MANAGED', 'under nodemon, nodemon restarts the app: save a file or type `rs`. ' +
          "Its restart signal (SIGUSR2) drains this process, which then exits so that nodemon starts the new code")
      }
    case 'node-watch':
      return managed('under `node --watch`, Node restarts the app when a watched file changes: save the file. ' +
        'A handover would leave a process the watcher does not know, holding the port')
    case 'tsx-watch':
      return managed('under `tsx watch`, tsx restarts the app when a watched file changes: save the file. ' +
        'A handover would leave a process the watcher does not know, holding the port')
    case 'pm2':
      return managed(`under PM2, PM2 restarts the app: \`pm2 reload ${context.pm2?.name ?? '<name>'}\`. ` +
        'A handover would leave a process PM2 does not track, holding the port')
    case 'cluster':
      return managed('a node:cluster worker shares its listener with the primary: the primary replaces workers ' +
        '(fork a new worker, then disconnect the old one)')
    case 'pid1':
      return unsafe('this process is a container\'s main process (PID 1 of its PID namespace, or started into it from outside): ' +
        'when it exits after a handover, the container ends and every process in it is killed, the new generation included. ' +
        `Fix: ${RUN_UNDER_SUPERVISOR}`)
    case 'wrapper':
      return unsafe('the processes that started this one exit when it exits, up to PID 1 of the PID namespace: ' +
        `the kernel then kills every process in the namespace, the new generation included. Fix: ${RUN_UNDER_SUPERVISOR}`)
    case 'systemd-simple':
      return unsafe('this systemd service has no notify socket (Type=simple, exec or forking): systemd stops the service when ' +
        'the main PID exits and kills the rest of its cgroup, the new generation included. ' +
        'Fix: Type=notify with NotifyAccess=all in the unit (each generation tells systemd its PID), ' +
        'or ExecStart=graceful-restart run ... -- node server.js')
  }
}

/**
 * Ends a drain at once: what is still open is closed, counted and reported in `drain:end`.
 * SIGTERM cannot say it (a second one exits without a report, and a first one must let a
 * handover's drain run: systemd sends it to every process of the unit on stop). SIGWINCH
 * is ignored by default, so a process that does not know it is left alone; Apache and
 * nginx use it for their own graceful stops too.
 */
const END_DRAIN_SIGNAL = 'SIGWINCH'
/** How long a handover waits for the drains it ended before it starts the next generation anyway. */
const END_DRAIN_WAIT_MS = 5_000
const END_DRAIN_POLL_MS = 10
/** Beyond idleGrace, how long a generation over maxDraining may keep draining by itself. */
const CAP_GRACE_MS = 1_000
/**
 * How long the last generation's exit waits for systemd to take STOPPING=1 (systemd-notify
 * gives each message as long). Sent as the drain starts, it is usually long gone by then;
 * after a short drain on a busy machine it may still be queued, and an exit would drop it.
 */
const STOPPING_FLUSH_MS = 5_000

function describeDiff (diff: EnvDiff): string {
  const parts = Object.entries(diff).filter(([, names]) => names.length > 0).map(([kind, names]) => `${kind} ${names.join(', ')}`)
  return parts.length === 0 ? 'unchanged' : parts.join('; ')
}

export class Graceful {
  readonly options: ResolvedOptions
  /** Where this process runs, detected at start-up or named by the `context` option. */
  readonly context: ProcessContext
  readonly #policy: HandoverPolicy
  readonly #platform: Platform
  readonly #reporter: Reporter
  readonly #inheritance: Inheritance
  readonly #registry: ListenerRegistry
  readonly #launch: Launch
  /** Under the supervisor: the channel on which this worker asks for sockets and reloads. */
  readonly #channel: SupervisorChannel | undefined
  readonly #supplier: SocketSupplier | undefined
  readonly #envOrigin: EnvOrigin
  /** The kernel's start time of this process (undefined without /proc: no drain cap then). */
  readonly #startTime: string | undefined
  /** Older generations draining, oldest first, as the parent passed them (pruned at each handover). */
  #draining: DrainingGeneration[]
  readonly #attachments: Attachment[] = []
  readonly #drainedHooks: Array<() => unknown> = []
  readonly #drainingHooks: Array<(reason: string) => unknown> = []
  #state: State = 'starting'
  #uninstallSignals: () => void = () => {}
  readonly #signalConflicts: SignalConflictGuard
  #readyPromise: Promise<void> | undefined
  #readyCheckScheduled = false
  #handover: { promise: Promise<HandoverResult>, child: NextGeneration | undefined, abort: () => void, absorbed: boolean } | undefined
  #drain: Promise<ShutdownResult> | undefined
  #shutdownSignals = 0
  #exitCode = 0
  /** Set when a manager's restart signal started the drain: the process ends by it. */
  #exitSignal: NodeJS.Signals | undefined
  /** Whether this generation ever served as the live one (and so owns the public names). */
  #wasLive = false
  #lastHandover: { ok: boolean, at: number, durationMs: number, reason?: string } | undefined
  /** The last handover as the status file beside the PID file tells it (control-status.ts). */
  #handoverRecord: HandoverRecord | undefined
  readonly #createdAt: number

  constructor (options: GracefulOptions | undefined, platform: Platform) {
    this.options = resolveOptions(options)
    this.#platform = platform
    this.#createdAt = platform.now()
    this.#reporter = new Reporter(this.options.logger)
    this.#inheritance = platform.readInheritance()
    const { supervisorPid, parentPid } = this.#inheritance
    // A worker of the supervisor never re-executes itself, whatever the option says.
    this.context = this.options.context === 'auto' || supervisorPid !== undefined
      ? platform.detectContext({ supervised: supervisorPid !== undefined, previousGeneration: parentPid })
      : { kind: this.options.context, source: 'option', evidence: 'named by the context option' }
    this.#policy = handoverPolicy(this.context)
    // Read now: by the time of a handover, `current` may already point at the new release,
    // and $PWD could no longer be told apart from a stale value.
    this.#launch = platform.captureLaunch()
    this.#envOrigin = platform.captureEnv(this.#inheritance.envFromFiles ?? [], this.options.envFile)
    this.#startTime = platform.processStartTime(platform.pid)
    this.#draining = this.#inheritance.draining ?? []
    for (const err of this.#inheritance.ignored) this.#reporter.log('warn', err.message, { code: err.code })
    this.#registry = new ListenerRegistry(this.#inheritance.sockets)
    this.#channel = this.#inheritance.supervisorPid === undefined ? undefined : platform.openChannel(this.#inheritance.channel)
    this.#supplier = this.#channel === undefined ? undefined : new SocketSupplier(this.#channel)
    if (!platform.canPassSockets()) {
      this.#reporter.log('warn', 'this platform cannot pass listening sockets to a new process: serving with graceful shutdown only, handover is disabled', { platform: process.platform })
    }
    this.#signalConflicts = new SignalConflictGuard(this.options.signals, platform.signalListeners,
      (msg, data) => this.#reporter.log('warn', msg, data))
    this.#reportContext()
    if (this.options.signals.size > 0) {
      this.#uninstallSignals = installSignals(this.options.signals, {
        handover: (signal) => { this.#onHandoverSignal(signal) },
        shutdown: (signal) => this.#onShutdownSignal(signal)
      }, platform.onSignal)
    }
  }

  #reportContext (): void {
    const { kind, source, evidence } = this.context
    const data = { pid: this.#platform.pid, context: kind, source, evidence }
    const policy = this.#policy
    if (policy.action === 'reexec') {
      this.#reporter.event(CHANNELS.context, 'debug', `process context: ${kind}`, data)
    } else if (policy.refusal.code === 'ERR_GRACEFUL_UNSAFE_CONTEXT') {
      // Said once at start-up, so that it shows before anyone relies on a handover.
      this.#reporter.event(CHANNELS.context, 'warn', `process context: ${kind} (${evidence}): ${policy.refusal.message}`, { ...data, code: policy.refusal.code })
    } else {
      this.#reporter.event(CHANNELS.context, 'info', `process context: ${kind} (${evidence}): ${policy.refusal.message}`, data)
    }
  }

  #onHandoverSignal (signal: NodeJS.Signals): void {
    if (this.#policy.action === 'exit') {
      // The manager waits for this exit and then starts the new code; it may send its
      // signal more than once (nodemon signals the whole tree, then the child again).
      if (this.#drain === undefined) {
        this.#reporter.log('info', `${signal} under ${this.context.kind}: draining, then exiting by ${signal} so that ${this.context.kind} starts the new code`, { pid: this.#platform.pid, signal })
        this.#exitSignal = signal
      }
      this.shutdown(signal).catch(() => {})
      return
    }
    this.handover(signal).catch(() => {})
  }

  get state (): State { return this.#state }
  /** 1 for the first process, one more for each handover. */
  get generation (): number { return this.#inheritance.generation }
  /** The supervisor's pid when this process runs under `graceful-restart run`. */
  get supervisorPid (): number | undefined { return this.#inheritance.supervisorPid }
  /** Whether this process took its sockets over from a previous generation. */
  get inherited (): boolean { return this.#inheritance.parentPid !== undefined }
  get lastHandover (): { ok: boolean, at: number, durationMs: number, reason?: string } | undefined { return this.#lastHandover }

  /**
   * Makes `server.listen(...)` claim the inherited socket for its address (or bind anew) and
   * tracks its connections for the drain. Call it before `listen()`. Returns the server.
   */
  attach<S extends Server> (server: S): S {
    if (!(server instanceof net.Server)) {
      throw new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `attach() takes a net.Server (http, https, http2 or net), got ${server === null ? 'null' : typeof server}`)
    }
    if (this.#attachments.some((a) => a.server === server)) return server
    if (server.listening) {
      throw new GracefulError('ERR_GRACEFUL_INVALID_OPTION', 'attach() the server before it listens: a listening server cannot take over an inherited socket')
    }
    if (this.options.keepAliveTimeout !== undefined) setKeepAliveTimeout(server, this.options.keepAliveTimeout)
    const attachment: Attachment = { server, tracker: new ConnectionTracker(server, this.#platform), pending: false, key: undefined, unixPath: undefined }
    this.#attachments.push(attachment)
    const original = server.listen as unknown as ListenFn
    const graceful = this
    const listen = function (this: Server, ...args: unknown[]): Server {
      attachment.pending = true
      const done = (): void => {
        attachment.pending = false
        graceful.#scheduleReadyCheck()
      }
      server.once('listening', done)
      try {
        const outcome = listenOn(server, original, args, graceful.#registry, graceful.#platform.pid, graceful.#supplier)
        attachment.key = outcome.key
        attachment.unixPath = outcome.unixPath
        if (outcome.inherited !== undefined) {
          graceful.#reporter.event(CHANNELS.listenerInherited, 'debug', 'listener inherited',
            { key: outcome.key, fd: outcome.inherited.fd, source: outcome.inherited.source })
        } else if (outcome.asked) {
          graceful.#reporter.log('debug', 'listener asked of the supervisor', { key: outcome.key })
        } else if (outcome.key !== undefined) {
          graceful.#reporter.event(CHANNELS.listenerBound, 'debug', 'listener bound', { key: outcome.key })
        }
      } catch (err) {
        server.off('listening', done)
        attachment.pending = false
        throw err
      }
      return server
    }
    Object.defineProperty(server, 'listen', { value: listen, writable: true, configurable: true })
    return server
  }

  /** Like `server.listen(...args)` on an attached server. */
  listen<S extends Server> (server: S, ...args: unknown[]): S {
    this.attach(server)
    ;(server.listen as unknown as ListenFn)(...args)
    return server
  }

  /** Runs `fn` after the drain, before the process exits (adapters close their framework here). */
  onDrained (fn: () => unknown): void {
    this.#drainedHooks.push(fn)
  }

  /**
   * Runs `fn(reason)` when the drain starts, before connections are waited for: end
   * Server-Sent Events streams or long polls here, so they do not run into `drainTimeout`.
   */
  onDraining (fn: (reason: string) => unknown): void {
    this.#drainingHooks.push(fn)
  }

  /**
   * Whether a load balancer should send this process traffic: ready, and no shutdown or
   * drain under way. Health endpoints (`/readyz`) answer 503 when this is false.
   */
  get accepting (): boolean {
    return this.#state === 'ready' || this.#state === 'handing-over'
  }

  /** Connection counts of every attached server. */
  counts (): DrainCounts {
    const total: DrainCounts = { connections: 0, active: 0, idle: 0, upgraded: 0 }
    for (const { tracker } of this.#attachments) {
      const c = tracker.counts()
      total.connections += c.connections
      total.active += c.active
      total.idle += c.idle
      total.upgraded += c.upgraded
    }
    return total
  }

  #scheduleReadyCheck (): void {
    if (!this.options.autoReady || this.#readyCheckScheduled) return
    this.#readyCheckScheduled = true
    // Servers that listen in the same tick are all counted before readiness is decided.
    this.#platform.setImmediate(() => {
      this.#readyCheckScheduled = false
      if (this.#state !== 'starting' || this.#readyPromise !== undefined) return
      const active = this.#attachments.filter((a) => a.pending || a.server.listening)
      if (active.length === 0 || active.some((a) => a.pending)) return
      this.ready().catch((err: unknown) => {
        this.#reporter.log('error', 'readiness check failed; draining and exiting with code 1 so the previous generation keeps serving', { error: String(err), code: (err as GracefulError).code })
        this.#exitCode = 1
        this.shutdown('ready-failed').catch(() => {})
      })
    })
  }

  /**
   * Declares this generation ready: waits for the `ready` option's hook, closes inherited
   * sockets nobody claimed, writes the PID file, and tells the previous generation, which
   * then drains. Called by itself unless `autoReady: false`.
   */
  ready (): Promise<void> {
    this.#readyPromise ??= this.#becomeReady()
    return this.#readyPromise
  }

  async #becomeReady (): Promise<void> {
    if (this.options.ready !== undefined) await this.options.ready()
    if (this.#state !== 'starting') return
    const pid = this.#platform.pid
    const { supervisorPid, parentPid } = this.#inheritance
    const { readyFd } = this.#inheritance
    // Under the supervisor the PID file names the supervisor, which writes it itself.
    if (this.options.pidFile !== undefined && supervisorPid === undefined) {
      // The first generation vouches for the PID file before writing it; a next generation
      // once its parent took the report (below): until then the handover may still fail.
      if (readyFd === undefined) this.#writeStatus()
      try {
        this.#platform.writePidFile(this.options.pidFile, pid)
      } catch (err) {
        // Taking over would leave the file naming a parent that is about to exit: refuse,
        // the parent rolls back. (A file that never named anyone does not block handovers.)
        if (parentPid !== undefined && this.#platform.readPidFile(this.options.pidFile) === parentPid) throw err
        // The server works without it; say so loudly instead of refusing to serve.
        this.#reporter.log('error', (err as Error).message, { code: (err as GracefulError).code })
      }
    }
    this.#state = 'ready'
    for (const socket of this.#registry.closeUnclaimed(this.#platform.closeFd)) {
      this.#reporter.log('info', 'closed an inherited listener that no listen() claimed', { fd: socket.fd, key: socket.key ?? socket.name })
    }
    if (readyFd !== undefined && supervisorPid !== undefined) {
      this.#wasLive = true
      this.#platform.reportReady(readyFd, pid, () => { this.shutdown('supervisor-gone').catch(() => {}) })
    } else if (readyFd !== undefined) {
      // The public names (PID file, unix socket paths) become ours only once the parent
      // took the report: a parent that timed out and stops us still serves them.
      this.#platform.reportReady(readyFd, pid, () => {
        this.#wasLive = true
        // The parent drains from now on; maxDraining measures its drain from here.
        const parent = this.#draining.at(-1)
        if (parent !== undefined && parent.pid === parentPid) parent.sinceUs ??= this.#platform.monotonicUs()
        const startedMonoUs = this.#inheritance.handoverStartedUs
        if (startedMonoUs !== undefined) {
          const durationMs = Math.round((this.#platform.monotonicUs() - startedMonoUs) / 1000)
          this.#handoverRecord = { ok: true, generation: this.generation, at: this.#platform.now(), durationMs, startedMonoUs }
        }
        this.#writeStatus()
      })
    } else {
      this.#wasLive = true
    }
    if (supervisorPid === undefined) this.#platform.notifySystemd(['--ready', `--pid=${pid}`])
    this.#reporter.event(CHANNELS.ready, 'info', 'ready', {
      pid, generation: this.generation, listeners: this.#attachments.map((a) => a.key).filter((k) => k !== undefined), context: this.context.kind
    })
    this.#signalConflicts.check()
  }

  /**
   * Starts the next generation and, once it is ready, drains this one. Resolves with the new
   * PID; rejects with a `HandoverError` when the next generation failed, in which case this
   * one keeps serving. Concurrent calls share one handover.
   */
  handover (trigger = 'api'): Promise<HandoverResult> {
    const { supervisorPid } = this.#inheritance
    if (supervisorPid !== undefined) {
      // A worker never re-executes itself: the supervisor replaces all workers together. It
      // is asked over the channel: a worker running as another user may not signal it.
      this.#reporter.log('info', 'handover requested from a supervised worker: asking the supervisor', { trigger, supervisorPid })
      if (this.#channel?.askReload(trigger) !== true) this.#platform.kill(supervisorPid, 'SIGUSR2')
      return Promise.reject(new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'a supervised worker does not hand over by itself; the supervisor was asked to reload'))
    }
    const policy = this.#policy
    if (policy.action !== 'reexec') {
      const { code, message } = policy.refusal
      this.#reporter.event(CHANNELS.handoverRefused, code === 'ERR_GRACEFUL_UNSAFE_CONTEXT' ? 'error' : 'warn',
        `${trigger} refused (${this.context.kind}: ${this.context.evidence}): ${message}`,
        { pid: this.#platform.pid, trigger, code, context: this.context.kind })
      if (this.#wasLive) {
        // `graceful-restart reload --wait` reads the outcome here: a refusal, at once.
        this.#handoverRecord = { ok: false, generation: this.generation + 1, at: this.#platform.now(), durationMs: 0, startedMonoUs: this.#platform.monotonicUs(), reason: `${code}: ${message}` }
        this.#writeStatus()
      }
      return Promise.reject(new GracefulError(code, message))
    }
    if (this.#handover !== undefined) {
      this.#reporter.log('info', 'handover already running; request ignored', { trigger })
      // systemd (Type=notify-reload) waits for a RELOADING=1 stamped after its signal, then
      // a READY=1: this one's, when the running handover ends either way.
      this.#notifyReloading(this.#platform.monotonicUs())
      this.#handover.absorbed = true
      return this.#handover.promise
    }
    if (this.#state !== 'ready') {
      const code = this.#state === 'starting' ? 'ERR_GRACEFUL_NOT_READY' : 'ERR_GRACEFUL_SHUTTING_DOWN'
      const err = new GracefulError(code, `cannot hand over while ${this.#state}`)
      this.#reporter.log('warn', `${trigger} ignored: ${err.message}`, { code })
      return Promise.reject(err)
    }
    if (!this.#platform.canPassSockets()) {
      const err = new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'this platform cannot pass listening sockets to a new process; only graceful shutdown is available')
      this.#reporter.log('warn', err.message, { code: err.code })
      return Promise.reject(err)
    }
    this.#state = 'handing-over'
    const started = this.#platform.now()
    const startedMonoUs = this.#platform.monotonicUs()
    const pid = this.#platform.pid
    // Sent, and taken by systemd, before the next generation exists: its READY=1 must not
    // arrive first.
    const announced = this.#notifyReloading(startedMonoUs)
    this.#reporter.event(CHANNELS.handoverStart, 'info', 'handover started', { pid, trigger })
    // A listener added after ready (enableShutdownHooks() after listen()) is running now too.
    this.#signalConflicts.check()
    const serving = this.#attachments.filter((a) => a.server.listening)

    let abort: () => void = () => {}
    const promise = new Promise<HandoverResult>((resolve, reject) => {
      const listeners: Array<{ fd: number, key: string }> = []
      for (const a of this.#attachments) {
        const fd = a.server.listening && a.key !== undefined ? this.#platform.listeningFd(a.server) : undefined
        if (fd !== undefined && a.key !== undefined) listeners.push({ fd, key: a.key })
      }
      let timer: Timer | undefined
      let done = false
      const fail = (reason: HandoverError['reason'], message: string, exitCode: number | null = null, signal: string | null = null): void => {
        if (done) return
        done = true
        this.#platform.clearTimeout(timer)
        const child = current.child
        const code = reason === 'timeout' ? 'ERR_GRACEFUL_UPGRADE_TIMEOUT' : reason === 'spawn' ? 'ERR_GRACEFUL_SPAWN' : 'ERR_GRACEFUL_CHILD_EXITED'
        const err = new HandoverError(code, message, { reason, exitCode, signal })
        // A child that already listens has accepted connections from the shared queue:
        // SIGTERM lets it drain them like any generation would. SIGKILL only if it cannot.
        // Reap before accepting another handover: never two children at once.
        child?.kill('SIGTERM')
        const killTimer = this.#platform.setTimeout(() => child?.kill('SIGKILL'), this.options.drainTimeout + 1000)
        void (child?.exited ?? Promise.resolve()).then(() => {
          this.#platform.clearTimeout(killTimer)
          const durationMs = this.#platform.now() - started
          this.#lastHandover = { ok: false, at: this.#platform.now(), durationMs, reason: message }
          this.#handoverRecord = { ok: false, generation: this.generation + 1, at: this.#platform.now(), durationMs, startedMonoUs, reason: message }
          this.#writeStatus()
          const closed = closedBehindOurBack(serving)
          if (closed.length > 0) {
            this.#handover = undefined
            this.#reporter.event(CHANNELS.handoverRollback, 'error', `handover failed, and this generation no longer serves: ${message}`,
              { pid, childPid: child?.pid, code, reason, exitCode, signal, durationMs, serving: false })
            this.#abandon(closed, child?.pid)
            reject(err)
            return
          }
          // The child may have written the PID file before it failed: this generation serves.
          if (this.options.pidFile !== undefined && this.#inheritance.supervisorPid === undefined &&
            this.#platform.readPidFile(this.options.pidFile) !== pid) {
            try {
              this.#platform.writePidFile(this.options.pidFile, pid)
            } catch (err) {
              this.#reporter.log('error', (err as Error).message, { code: (err as GracefulError).code })
            }
          }
          this.#handover = undefined
          if (this.#state === 'handing-over') this.#state = 'ready'
          // Ends the reload systemd saw begin; it cannot be told that it failed (see README).
          if (reason !== 'aborted' && this.#inheritance.supervisorPid === undefined) {
            this.#platform.notifySystemd(['READY=1', `STATUS=handover failed, still serving: ${message}`])
          }
          this.#reporter.event(CHANNELS.handoverRollback, 'error', `handover failed, still serving: ${message}`,
            { pid, childPid: child?.pid, code, reason, exitCode, signal, durationMs })
          reject(err)
        })
      }
      abort = () => fail('aborted', 'handover aborted by shutdown')
      const current: { child: NextGeneration | undefined } = { child: undefined }
      let next: NextEnvironment
      try {
        next = nextEnvironment(this.#platform.env, this.#envOrigin, { cwd: this.#launch.cwd, envFiles: this.options.envFile, read: this.#platform.readFile })
      } catch (err) {
        fail('spawn', `cannot read envFile: ${(err as Error).message}`)
        return
      }
      this.#reporter.event(CHANNELS.handoverEnv, 'info', `next generation's environment: ${describeDiff(next.diff)}`, { pid, ...next.diff })
      const start = (): void => {
        if (done) return // aborted while systemd was being told
        try {
          current.child = this.#platform.spawnGeneration({
            launch: this.#launch,
            env: next.env,
            handoverStartedUs: startedMonoUs,
            envFromFiles: next.fromFiles,
            draining: this.#startTime === undefined ? this.#draining : [...this.#draining, { pid, start: this.#startTime }],
            listeners,
            parentPid: pid,
            generation: this.generation + 1
          }, {
            onReady: () => {
              if (done) return
              done = true
              this.#platform.clearTimeout(timer)
              const child = current.child
              child?.release()
              const durationMs = this.#platform.now() - started
              const childPid = child?.pid ?? -1
              this.#lastHandover = { ok: true, at: this.#platform.now(), durationMs }
              this.#reporter.event(CHANNELS.handoverReady, 'info', 'next generation ready; draining', { pid, childPid, durationMs })
              resolve({ pid: childPid, durationMs })
              // The child's READY=1 answers the reload that started this handover; a reload
              // this one absorbed (stamped later) needs one sent after its RELOADING=1.
              if (this.#handover?.absorbed === true) this.#platform.notifySystemd(['READY=1'])
              this.#handover = undefined
              this.#drain = this.#drainAndExit('handover', false)
            },
            onExit: (exitCode, signal) => fail('exit', `next generation exited before it was ready (${signal ?? `code ${String(exitCode)}`})`, exitCode, signal),
            onError: (err) => fail('spawn', `cannot start the next generation: ${err.message}`)
          })
        } catch (err) {
          // Nothing the platform throws may leave the state machine in handing-over.
          fail('spawn', `cannot start the next generation: ${(err as Error).message}`)
        }
        if (!done && current.child !== undefined) {
          this.#reporter.event(CHANNELS.handoverSpawn, 'info', 'next generation started', { pid, childPid: current.child.pid })
          timer = this.#platform.setTimeout(() => fail('timeout', `next generation not ready within ${this.options.upgradeTimeout} ms`), this.options.upgradeTimeout)
        }
      }
      // The next generation starts once systemd took RELOADING=1 and the oldest draining
      // generations over maxDraining were ended.
      const waits = [announced, this.#makeRoom()].filter((p) => p !== undefined)
      if (waits.length === 0) start()
      else void Promise.all(waits).then(start)
    })
    this.#handover = { promise, child: undefined, abort, absorbed: false }
    return promise
  }

  /**
   * Before the next generation starts: makes room so that, once it took over, at most
   * `maxDraining` generations drain (and at most `maxDraining + 1` processes run meanwhile).
   * The oldest over the cap first gets to finish by itself: it is ended at once only when it
   * still drains `idleGrace` + CAP_GRACE_MS after its drain began, when what holds it is a
   * long-lived connection (SSE, WebSocket, a long poll) rather than ordinary requests, which
   * a burst of handovers would otherwise cut. Resolves once those generations exited (at
   * most END_DRAIN_WAIT_MS after they were told); undefined when there is nothing to wait for.
   */
  #makeRoom (): Promise<void> | undefined {
    const isAlive = (g: DrainingGeneration): boolean => this.#platform.processStartTime(g.pid) === g.start
    const alive = this.#draining.filter(isAlive)
    const excess = alive.length + 1 - this.options.maxDraining
    this.#draining = alive.slice(Math.max(0, excess))
    if (excess <= 0) return undefined
    const over = alive.slice(0, excess)
    const pid = this.#platform.pid
    const graceUs = (this.options.idleGrace + CAP_GRACE_MS) * 1000
    this.#reporter.log('info', `maxDraining ${this.options.maxDraining}: the next generation starts once the oldest ${over.length === 1 ? 'generation has' : `${over.length} generations have`} finished draining; ` +
      `one still draining ${this.options.idleGrace + CAP_GRACE_MS} ms after its drain began is ended at once`, { pid, over: over.map((g) => g.pid) })
    const told = new Map<number, number>()
    return new Promise((resolve) => {
      const check = (): void => {
        const now = this.#platform.monotonicUs()
        const left = over.filter(isAlive)
        for (const g of left) {
          if (told.has(g.pid) || (g.sinceUs !== undefined && now < g.sinceUs + graceUs)) continue
          told.set(g.pid, now)
          this.#reporter.log('info', `maxDraining ${this.options.maxDraining}: ending the drain of generation pid ${g.pid} at once`, { pid, ended: g.pid })
          this.#platform.kill(g.pid, END_DRAIN_SIGNAL)
        }
        const stuck = left.filter((g) => { const at = told.get(g.pid); return at !== undefined && now - at >= END_DRAIN_WAIT_MS * 1000 })
        if (left.length === 0) {
          resolve()
        } else if (stuck.length === left.length) {
          this.#reporter.log('warn', `older generations still running ${END_DRAIN_WAIT_MS} ms after ${END_DRAIN_SIGNAL}; starting the next generation anyway`, { pid, pids: left.map((g) => g.pid) })
          resolve()
        } else {
          this.#platform.setTimeout(check, END_DRAIN_POLL_MS)
        }
      }
      check()
    })
  }

  /**
   * A rollback found servers closed by someone else (another listener of the signal):
   * staying would pretend to serve. Exits 1 after draining what is left, and no PID file
   * names this generation or the failed one, so a service manager sees the truth.
   */
  #abandon (closed: Attachment[], childPid: number | undefined): void {
    this.#reporter.log('error', 'the handover was rolled back, but this generation\'s servers were closed by someone else meanwhile (another listener of the signal): nothing serves, exiting with code 1',
      { code: 'ERR_GRACEFUL_SERVER_CLOSED', listeners: closed.map((a) => a.key ?? 'unknown') })
    if (this.options.pidFile !== undefined && childPid !== undefined && this.#inheritance.supervisorPid === undefined) {
      this.#platform.removePidFile(this.options.pidFile, childPid)
    }
    this.#exitCode = 1
    this.shutdown('servers-closed').catch(() => {})
  }

  /** Drains and exits (SIGTERM/SIGINT do this). A running handover is aborted first. */
  shutdown (reason = 'api'): Promise<ShutdownResult> {
    this.#drain ??= this.#drainAndExit(reason, true)
    return this.#drain
  }

  #onShutdownSignal (signal: NodeJS.Signals): void {
    this.#shutdownSignals++
    if (this.#drain === undefined) {
      this.shutdown(signal).catch(() => {})
      return
    }
    // The first signal during a handover's drain lets it finish; a second one is an order.
    if (this.#shutdownSignals === 1) {
      this.#reporter.log('info', `${signal} while draining after a handover: the drain continues; send it again to exit now`, { signal })
      return
    }
    this.#reporter.log('warn', `${signal} during drain: exiting now`, { signal })
    this.#platform.exit(128 + (osConstants.signals[signal] ?? 0))
  }

  async #drainAndExit (reason: string, final: boolean): Promise<ShutdownResult> {
    if (this.#handover !== undefined) {
      const running = this.#handover
      running.abort()
      await running.promise.catch(() => {})
    }
    this.#state = 'draining'
    const pid = this.#platform.pid
    const endNow = new AbortController()
    let endedEarly: ShutdownResult['endedEarly']
    const stopListening = this.#platform.onSignal(END_DRAIN_SIGNAL, () => {
      if (endNow.signal.aborted) return
      const { active, idle, upgraded } = this.counts()
      endedEarly = { active, idle, upgraded }
      this.#reporter.log('info', `${END_DRAIN_SIGNAL}: ending the drain at once`, { pid, reason, ...endedEarly })
      endNow.abort()
    })
    const stopping = final && this.#wasLive && this.#inheritance.supervisorPid === undefined ? this.#platform.notifySystemd(['STOPPING=1']) : undefined
    if (final && this.options.shutdownDelay > 0) {
      // Readiness already fails (state is draining); keep serving until the balancer noticed.
      this.#reporter.log('info', `shutdown: not ready; serving for ${this.options.shutdownDelay} ms before draining`, { pid, reason })
      await new Promise<void>((resolve) => {
        const timer = this.#platform.setTimeout(resolve, this.options.shutdownDelay)
        endNow.signal.addEventListener('abort', () => { this.#platform.clearTimeout(timer); resolve() }, { once: true })
      })
    }
    for (const hook of this.#drainingHooks) {
      try {
        await hook(reason)
      } catch (err) {
        this.#reporter.log('error', 'an onDraining hook failed', { error: String(err) })
      }
    }
    this.#reporter.event(CHANNELS.drainStart, 'info', 'drain started', { pid, reason, ...this.counts() })
    const drainOptions = {
      idleGrace: this.options.idleGrace,
      drainTimeout: this.options.drainTimeout,
      onUpgradedSocket: this.options.onUpgradedSocket,
      signal: endNow.signal
    }
    const results = await Promise.all(this.#attachments.map((a) => a.tracker.drain(drainOptions)))
    const result: ShutdownResult = {
      reason,
      durationMs: Math.max(0, ...results.map((r) => r.durationMs)),
      served: results.reduce((n, r) => n + r.served, 0),
      destroyed: results.reduce((n, r) => n + r.destroyed, 0),
      timedOut: results.some((r) => r.timedOut),
      ...(endedEarly === undefined ? {} : { endedEarly })
    }
    stopListening()
    const message = endedEarly !== undefined
      ? `drain ended at once: destroyed ${result.destroyed} connections`
      : result.timedOut ? `drain deadline reached: destroyed ${result.destroyed} connections` : 'drain finished'
    this.#reporter.event(CHANNELS.drainEnd, result.timedOut || result.destroyed > 0 ? 'warn' : 'info', message, { pid, ...result })
    if (final && this.#wasLive) {
      // No generation follows: the public names this one served go with it. A generation
      // that never became ready owns none of them (its parent still serves them).
      if (this.options.pidFile !== undefined) {
        this.#platform.removePidFile(this.options.pidFile, pid)
        if (this.#inheritance.supervisorPid === undefined) this.#platform.removeStatus(this.options.pidFile, pid)
      }
      // Under the supervisor the socket paths are the supervisor's: it bound them.
      if (this.#inheritance.supervisorPid === undefined) {
        for (const a of this.#attachments) if (a.unixPath !== undefined) this.#platform.unlink(a.unixPath)
      }
    }
    for (const hook of [...this.#drainedHooks, ...(this.options.beforeExit === undefined ? [] : [this.options.beforeExit])]) {
      try {
        await hook()
      } catch (err) {
        this.#reporter.log('error', 'a beforeExit/onDrained hook failed', { error: String(err) })
      }
    }
    this.#state = 'exited'
    this.#uninstallSignals()
    if (this.options.exit) {
      if (stopping !== undefined) await this.#flush(stopping, STOPPING_FLUSH_MS)
      // Our handler is gone, so the signal's default action ends the process, as the
      // manager expects of its child. Should the app listen for it too, exit normally.
      if (this.#exitSignal !== undefined && this.#exitCode === 0) this.#platform.kill(this.#platform.pid, this.#exitSignal)
      this.#platform.exit(this.#exitCode)
    }
    return result
  }

  /** Resolves once `sent` settled, or after `ms` at the latest. */
  #flush (sent: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#platform.setTimeout(resolve, ms)
      void sent.then(() => {
        this.#platform.clearTimeout(timer)
        resolve()
      })
    })
  }

  /**
   * Tells systemd a reload began: RELOADING=1 with the CLOCK_MONOTONIC time it began, which
   * Type=notify-reload compares with the time it sent its signal. Resolves once sent;
   * undefined when there is no systemd to tell.
   */
  #notifyReloading (monotonicUs: number): Promise<void> | undefined {
    if (this.#inheritance.supervisorPid !== undefined) return undefined
    return this.#platform.notifySystemd(['RELOADING=1', `MONOTONIC_USEC=${monotonicUs}`])
  }

  /** The signal `graceful-restart reload` must send to start a handover here. */
  #reloadSignal (): NodeJS.Signals | null {
    const routed = [...this.options.signals].filter(([, action]) => action === 'handover').map(([signal]) => signal)
    return routed.includes('SIGUSR2') ? 'SIGUSR2' : routed[0] ?? null
  }

  /** The status beside the PID file (re-exec mode): who owns the PID file, and the last handover. */
  #writeStatus (): void {
    if (this.options.pidFile === undefined || this.#inheritance.supervisorPid !== undefined) return
    try {
      this.#platform.writeStatus(this.options.pidFile, {
        generation: this.generation, startedAt: this.#createdAt, reloadSignal: this.#reloadSignal(), lastHandover: this.#handoverRecord,
        context: this.context.kind
      })
    } catch (err) {
      // Serving matters more. `graceful-restart reload|stop|status` then refuse to signal
      // this PID (nothing vouches for it), which is the safe side.
      this.#reporter.log('error', `cannot write the status beside the PID file: ${(err as Error).message}`, { code: 'ERR_GRACEFUL_PIDFILE' })
    }
  }

  /** Removes the signal handlers (tests, or an app that takes over signal handling). */
  close (): void {
    this.#uninstallSignals()
    this.#uninstallSignals = () => {}
  }
}
