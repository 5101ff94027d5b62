/**
 * The one orchestrator per process: a small state machine through which every signal and
 * API call passes, and the only place that decides what happens next. Who owns what is the
 * role's (role.ts); a handover's child is its attempt's (handover/attempt.ts).
 *
 *   starting -> ready -> handing-over -> draining -> exited
 *                 ^           |
 *                 +-----------+   (rollback: the next generation failed)
 *
 * `starting -> draining` and `ready -> draining` are a shutdown (SIGTERM/SIGINT).
 */
import type { Server } from 'node:net'
import { Attachments } from './attachments.ts'
import { settledWithin } from './clock.ts'
import type { ProcessContext } from './context.ts'
import { CHANNELS, Reporter } from './diagnostics.ts'
import type { DrainCounts } from './drain.ts'
import type { GracefulError } from './errors.ts'
import { drainGeneration, runHooks, type ShutdownResult } from './generation-drain.ts'
import { GenerationHandoff } from './handoff/generation-handoff.ts'
import { watchRelease } from './handover/release-watch.ts'
import { HandoverAttempt, type AttemptContext, type HandoverResult, type LastHandover } from './handover/attempt.ts'
import { DrainingGenerations } from './handover/draining-cap.ts'
import { cannotHandOver, handoverPolicy, processContext, refuseHandover, reportContext, type HandoverPolicy } from './handover/policy.ts'
import type { Inheritance } from './listeners/inherit.ts'
import { ListenerRegistry } from './listeners/registry.ts'
import { reloadSignal, resolveOptions, type GracefulOptions, type ResolvedOptions } from './options.ts'
import type { Platform } from './platform.ts'
import { roleOf, type Role } from './role.ts'
import { SignalConflictGuard } from './signal-conflicts.ts'
import { installSignals, SignalRouter } from './signals.ts'
import type { ReleaseWatch } from './release/watch.ts'

export type State = 'starting' | 'ready' | 'handing-over' | 'draining' | 'exited'

/** How long the exit waits for systemd to take STOPPING=1, still queued after a short drain. */
const STOPPING_FLUSH_MS = 5_000

export class Graceful {
  readonly options: ResolvedOptions
  /** Where this process runs, detected at start-up or named by the `context` option. */
  readonly context: ProcessContext
  readonly #policy: HandoverPolicy
  readonly #platform: Platform
  readonly #reporter: Reporter
  readonly #inheritance: Inheritance
  readonly #role: Role
  readonly #attachments: Attachments
  /** What each handover attempt is given (handover/attempt.ts). */
  readonly #handovers: AttemptContext
  readonly #drainedHooks: Array<() => unknown> = []
  readonly #drainingHooks: Array<(reason: string) => unknown> = []
  readonly #signalConflicts: SignalConflictGuard
  #state: State = 'starting'
  #uninstallSignals: () => void = () => {}
  #readyPromise: Promise<void> | undefined
  #handover: HandoverAttempt | undefined
  #drain: Promise<ShutdownResult> | undefined
  #exitCode = 0
  readonly #signals: SignalRouter
  #lastHandover: LastHandover | undefined
  /** The `watch` option: runs while this generation is the live one, from ready until its drain. */
  readonly #watch: ReleaseWatch | undefined
  /** Idle connections and TLS ticket keys, from the previous generation and to the next (issue 16). */
  readonly #handoff: GenerationHandoff

  constructor (options: GracefulOptions | undefined, platform: Platform) {
    this.options = resolveOptions(options)
    this.#platform = platform
    const createdAt = platform.now()
    this.#reporter = new Reporter(this.options.logger)
    this.#inheritance = platform.readInheritance()
    this.context = processContext(this.options.context, this.#inheritance, platform.detectContext)
    this.#policy = handoverPolicy(this.context)
    this.#role = roleOf(this.#inheritance, platform, this.#reporter, this.options.pidFile,
      () => ({ generation: this.generation, startedAt: createdAt, reloadSignal: reloadSignal(this.options.signals), context: this.context.kind }))
    this.#handovers = {
      platform, reporter: this.#reporter, role: this.#role, options: this.options, generation: this.generation,
      // Read now: by the time of a handover, `current` may already point at the new release,
      // and $PWD could no longer be told apart from a stale value.
      launch: platform.captureLaunch(),
      envOrigin: platform.captureEnv(this.#inheritance.envFromFiles ?? [], this.options.envFile),
      draining: new DrainingGenerations(this.#inheritance.draining ?? [], platform, this.#reporter, this.options),
      handoff: { wanted: () => this.#handoff.wantsChannel(), opened: (channel) => { this.#handoff.opened(channel) } }
    }
    this.#watch = watchRelease(this.options, this.#role.supervisorPid !== undefined, this.#handovers.launch.cwd, platform, this.#reporter,
      { running: () => this.#handover?.promise, live: () => this.#state === 'ready', handover: () => this.handover('watch') })
    for (const err of this.#inheritance.ignored) this.#reporter.log('warn', err.message, { code: err.code })
    this.#attachments = new Attachments({
      clock: platform, registry: new ListenerRegistry(this.#inheritance.sockets), pid: platform.pid, supplier: this.#role.supplier,
      reporter: this.#reporter, keepAliveTimeout: this.options.keepAliveTimeout, onAllListening: () => { this.#autoReady() },
      onListening: () => { this.#handoff.listening() }
    })
    this.#handoff = new GenerationHandoff({
      platform, reporter: this.#reporter, handoffIdleConnections: this.options.handoffIdleConnections, fromPrevious: this.#inheritance.handoff,
      attachments: () => this.#attachments.all, serving: () => this.#state === 'ready' || this.#state === 'handing-over'
    })
    if (!platform.canPassSockets()) this.#reporter.log('warn', 'this platform cannot pass listening sockets to a new process: serving with graceful shutdown only, handover is disabled', { platform: process.platform })
    this.#signalConflicts = new SignalConflictGuard(this.options.signals, platform.signalListeners, (msg, data) => this.#reporter.log('warn', msg, data))
    reportContext(this.#reporter, this.context, this.#policy, platform.pid)
    this.#signals = new SignalRouter({
      reporter: this.#reporter, pid: platform.pid, exit: (code) => { platform.exit(code) }, draining: () => this.#drain !== undefined,
      exitingManager: () => this.#policy.action === 'exit' ? this.context.kind : undefined,
      handover: (signal) => { this.handover(signal).catch(() => {}) },
      shutdown: (signal) => { this.shutdown(signal).catch(() => {}) }
    })
    if (this.options.signals.size > 0) this.#uninstallSignals = installSignals(this.options.signals, this.#signals, platform.onSignal)
  }

  get state (): State { return this.#state }
  /** 1 for the first process, one more for each handover. */
  get generation (): number { return this.#inheritance.generation }
  /** The supervisor's pid when this process runs under `graceful-restart run`. */
  get supervisorPid (): number | undefined { return this.#role.supervisorPid }
  /** Whether this process took its sockets over from a previous generation. */
  get inherited (): boolean { return this.#inheritance.parentPid !== undefined }
  get lastHandover (): LastHandover | undefined { return this.#lastHandover }

  /**
   * Makes `server.listen(...)` claim the inherited socket for its address (or bind anew) and
   * tracks its connections for the drain. Call it before `listen()`. Returns the server.
   */
  attach<S extends Server> (server: S): S {
    return this.#attachments.attach(server)
  }

  /** Like `server.listen(...args)` on an attached server. */
  listen<S extends Server> (server: S, ...args: unknown[]): S {
    return this.#attachments.listen(server, args)
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
    return this.#attachments.counts()
  }

  #autoReady (): void {
    if (!this.options.autoReady || this.#state !== 'starting' || this.#readyPromise !== undefined) return
    this.ready().catch((err: unknown) => {
      this.#reporter.log('error', 'readiness check failed; draining and exiting with code 1 so the previous generation keeps serving', { error: String(err), code: (err as GracefulError).code })
      this.#exitCode = 1
      this.shutdown('ready-failed').catch(() => {})
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
    await this.#handoff.welcomed()
    if (this.#state !== 'starting') return
    this.#role.claimPidFile()
    this.#state = 'ready'
    this.#attachments.closeUnclaimed(this.#platform.closeFd)
    this.#role.reportReady({
      // The parent drains from now on; maxDraining measures its drain from here.
      parentTookReport: () => { this.#handovers.draining.parentDrains(this.#inheritance.parentPid) },
      supervisorGone: () => { this.shutdown('supervisor-gone').catch(() => {}) }
    })
    this.#reporter.event(CHANNELS.ready, 'info', 'ready', { pid: this.#platform.pid, generation: this.generation, listeners: this.#attachments.keys(), context: this.context.kind })
    this.#watch?.start()
    this.#signalConflicts.check()
  }

  /**
   * Starts the next generation and, once it is ready, drains this one. Resolves with the new
   * PID; rejects with a `HandoverError` when the next generation failed, in which case this
   * one keeps serving. Concurrent calls share one handover.
   */
  handover (trigger = 'api'): Promise<HandoverResult> {
    if (this.#role.askReload !== undefined) return this.#role.askReload(trigger)
    if (this.#policy.action !== 'reexec') {
      const err = refuseHandover(this.#reporter, this.context, this.#policy.refusal, trigger, this.#platform.pid)
      // `graceful-restart reload --wait` reads the outcome in the status: a refusal, at once.
      if (this.#role.live) this.#role.recordHandover({ ok: false, generation: this.generation + 1, at: this.#platform.now(), durationMs: 0, startedMonoUs: this.#platform.monotonicUs(), reason: `${err.code}: ${err.message}` })
      return Promise.reject(err)
    }
    if (this.#handover !== undefined) return this.#handover.absorb(trigger)
    const notNow = cannotHandOver(this.#state, this.#platform.canPassSockets(), trigger)
    if (notNow !== undefined) {
      this.#reporter.log('warn', notNow.log, { code: notNow.error.code })
      return Promise.reject(notNow.error)
    }
    this.#state = 'handing-over'
    // A listener added after ready (enableShutdownHooks() after listen()) is running now too.
    this.#signalConflicts.check()
    this.#handover = new HandoverAttempt(this.#handovers, this.#attachments.all, trigger, {
      ended: (last) => { this.#lastHandover = last },
      tookOver: () => {
        this.#handover = undefined
        this.#handoff.tookOver()
        this.#drain = this.#drainAndExit('handover', false)
      },
      rolledBack: () => {
        this.#handover = undefined
        if (this.#state === 'handing-over') this.#state = 'ready'
      },
      // Servers closed by someone else (another listener of the signal): staying would
      // pretend to serve. Exits 1 after draining what is left; the PID file goes with it.
      abandoned: () => {
        this.#handover = undefined
        this.#exitCode = 1
        this.shutdown('servers-closed').catch(() => {})
      }
    })
    return this.#handover.promise
  }

  /** Drains and exits (SIGTERM/SIGINT do this). A running handover is aborted first. */
  shutdown (reason = 'api'): Promise<ShutdownResult> {
    this.#drain ??= this.#drainAndExit(reason, true)
    return this.#drain
  }

  async #drainAndExit (reason: string, final: boolean): Promise<ShutdownResult> {
    this.#watch?.stop()
    // Without a handover to abort, nothing is awaited: readiness fails from the call on.
    if (this.#handover !== undefined) {
      const running = this.#handover
      running.abort()
      await running.promise.catch(() => {})
    }
    this.#state = 'draining'
    const stopping = final && this.#role.live ? this.#role.notifySystemd(['STOPPING=1']) : undefined
    // Offers from the previous generation are declined from now on; those claimed already
    // are adopted (or dropped) first, so that the drain below serves and counts them.
    await this.#handoff.claimsSettled()
    const result = await drainGeneration({
      platform: this.#platform, reporter: this.#reporter, attachments: this.#attachments, options: this.options, drainingHooks: this.#drainingHooks, handoff: this.#handoff
    }, reason, final)
    // No generation follows: the public names this one served go with it.
    if (final) this.#role.release(this.#attachments.unixPaths())
    await runHooks([...this.#drainedHooks, ...(this.options.beforeExit === undefined ? [] : [this.options.beforeExit])], this.#reporter, 'a beforeExit/onDrained hook')
    this.#state = 'exited'
    this.#uninstallSignals()
    if (this.options.exit) {
      if (stopping !== undefined) await settledWithin(this.#platform, stopping, STOPPING_FLUSH_MS)
      // Our handler is gone, so the signal's default action ends the process, as the
      // manager expects of its child. Should the app listen for it too, exit normally.
      const exitSignal = this.#signals.exitSignal
      if (exitSignal !== undefined && this.#exitCode === 0) this.#platform.kill(this.#platform.pid, exitSignal)
      this.#platform.exit(this.#exitCode)
    }
    return result
  }

  /** Removes the signal handlers (tests, or an app that takes over signal handling). */
  close (): void {
    this.#watch?.stop()
    this.#uninstallSignals()
    this.#uninstallSignals = () => {}
  }
}
