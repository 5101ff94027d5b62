/**
 * One handover, from the lifecycle's decision to start the next generation until that
 * generation took over or failed: the child's life (started once systemd took RELOADING=1
 * and the drains over `maxDraining` ended; ready; failed with a reason; aborted by a
 * shutdown), its timers (the upgrade timeout, the SIGKILL of a failed child that does not
 * drain) and the bookkeeping of a rollback. The lifecycle only moves between states on its
 * outcome (lifecycle.ts).
 */
import type { Server } from 'node:net'
import type { Timer } from '../clock.ts'
import { CHANNELS, type Reporter } from '../diagnostics.ts'
import { HandoverError } from '../errors.ts'
import type { Platform } from '../platform.ts'
import type { Role } from '../role.ts'
import { closedBehindOurBack } from '../signal-conflicts.ts'
import type { DrainingGenerations } from './draining-cap.ts'
import { describeDiff, nextEnvironment, type EnvOrigin, type NextEnvironment } from './env.ts'
import type { Launch } from './launch.ts'
import type { ChildChannel, NextGeneration } from './spawn.ts'

export interface HandoverResult {
  /** PID of the generation that took over. */
  pid: number
  durationMs: number
}

/** How the last handover ended, as `graceful.lastHandover` tells it. */
export interface LastHandover { ok: boolean, at: number, durationMs: number, reason?: string }

/** What an attempt needs of the process that hands over. */
export interface AttemptContext {
  platform: Platform
  reporter: Reporter
  role: Role
  draining: DrainingGenerations
  launch: Launch
  envOrigin: EnvOrigin
  options: { upgradeTimeout: number, drainTimeout: number, envFile: readonly string[] }
  /** This process's generation; the child is the next one. */
  generation: number
  /** The handover channel (handoff/): whether the child gets one, and its end here once it started. */
  handoff?: { wanted: () => boolean, opened: (channel: ChildChannel) => void }
}

/** A server of this generation: passed on if it listens under a key, and watched for a close behind our back. */
export interface Served { server: Server, key: string | undefined }

export interface AttemptOutcome {
  /** How it ended, for `graceful.lastHandover`; said first. */
  ended: (last: LastHandover) => void
  /** The next generation is ready and released: this one drains. */
  tookOver: () => void
  /** The child failed and is gone; this generation serves on. */
  rolledBack: () => void
  /** The child failed and is gone, and this generation's servers were closed by someone else meanwhile (said, and the child's PID file removed): nothing serves. */
  abandoned: () => void
}

export class HandoverAttempt {
  readonly promise: Promise<HandoverResult>
  readonly #ctx: AttemptContext
  readonly #outcome: AttemptOutcome
  readonly #serving: Served[]
  readonly #started: number
  readonly #startedMonoUs: number
  #resolve: (result: HandoverResult) => void = () => {}
  #reject: (err: HandoverError) => void = () => {}
  #child: NextGeneration | undefined
  #timer: Timer | undefined
  #done = false
  #absorbed = false

  constructor (ctx: AttemptContext, attachments: readonly Served[], trigger: string, outcome: AttemptOutcome) {
    this.#ctx = ctx
    this.#outcome = outcome
    this.#started = ctx.platform.now()
    this.#startedMonoUs = ctx.platform.monotonicUs()
    this.#serving = attachments.filter((a) => a.server.listening)
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // Sent, and taken by systemd, before the next generation exists: its READY=1 must not
    // arrive first.
    const announced = ctx.role.notifySystemd(['RELOADING=1', `MONOTONIC_USEC=${this.#startedMonoUs}`])
    ctx.reporter.event(CHANNELS.handoverStart, 'info', 'handover started', { pid: ctx.platform.pid, trigger })
    const next = this.#nextEnvironment()
    if (next === undefined) return
    const listeners = this.#listeners(attachments)
    // The next generation starts once systemd took RELOADING=1 and the oldest draining
    // generations over maxDraining were ended.
    const waits = [announced, ctx.draining.makeRoom()].filter((p) => p !== undefined)
    if (waits.length === 0) this.#start(next, listeners)
    else void Promise.all(waits).then(() => { this.#start(next, listeners) })
  }

  /**
   * A reload asked for while this one runs is answered by its outcome. systemd
   * (Type=notify-reload) waits for a RELOADING=1 stamped after its signal, then a READY=1:
   * this attempt's, when it ends either way.
   */
  absorb (trigger: string): Promise<HandoverResult> {
    const { reporter, role, platform } = this.#ctx
    reporter.log('info', 'handover already running; request ignored', { trigger })
    role.notifySystemd(['RELOADING=1', `MONOTONIC_USEC=${platform.monotonicUs()}`])
    this.#absorbed = true
    return this.promise
  }

  /** A shutdown ends the attempt: its child is stopped and reaped first. */
  abort (): void {
    this.#fail('aborted', 'handover aborted by shutdown')
  }

  #nextEnvironment (): NextEnvironment | undefined {
    const { platform, reporter, envOrigin, launch, options } = this.#ctx
    let next: NextEnvironment
    try {
      next = nextEnvironment(platform.env, envOrigin, { cwd: launch.cwd, envFiles: options.envFile, read: platform.readFile })
    } catch (err) {
      this.#fail('spawn', `cannot read envFile: ${(err as Error).message}`)
      return undefined
    }
    reporter.event(CHANNELS.handoverEnv, 'info', `next generation's environment: ${describeDiff(next.diff)}`, { pid: platform.pid, ...next.diff })
    return next
  }

  #listeners (attachments: readonly Served[]): Array<{ fd: number, key: string }> {
    const listeners: Array<{ fd: number, key: string }> = []
    for (const { server, key } of attachments) {
      const fd = server.listening && key !== undefined ? this.#ctx.platform.listeningFd(server) : undefined
      if (fd !== undefined && key !== undefined) listeners.push({ fd, key })
    }
    return listeners
  }

  #start (next: NextEnvironment, listeners: Array<{ fd: number, key: string }>): void {
    if (this.#done) return // aborted while systemd was being told
    const { platform, reporter, launch, draining, generation, options } = this.#ctx
    const pid = platform.pid
    try {
      this.#child = platform.spawnGeneration({
        launch,
        env: next.env,
        handoverStartedUs: this.#startedMonoUs,
        envFromFiles: next.fromFiles,
        draining: draining.passedOn(),
        listeners,
        parentPid: pid,
        generation: generation + 1,
        handoff: this.#ctx.handoff?.wanted() === true
      }, {
        onReady: () => { this.#ready() },
        onExit: (exitCode, signal) => { this.#fail('exit', `next generation exited before it was ready (${signal ?? `code ${String(exitCode)}`})`, exitCode, signal) },
        onError: (err) => { this.#fail('spawn', `cannot start the next generation: ${err.message}`) }
      })
    } catch (err) {
      // Nothing the platform throws may leave the state machine in handing-over.
      this.#fail('spawn', `cannot start the next generation: ${(err as Error).message}`)
    }
    // Open before the child says hello: it waits for the answer before it reports ready.
    if (!this.#done && this.#child?.channel !== undefined) this.#ctx.handoff?.opened(this.#child.channel)
    if (!this.#done && this.#child !== undefined) {
      reporter.event(CHANNELS.handoverSpawn, 'info', 'next generation started', { pid, childPid: this.#child.pid })
      this.#timer = platform.setTimeout(() => { this.#fail('timeout', `next generation not ready within ${options.upgradeTimeout} ms`) }, options.upgradeTimeout)
    }
  }

  #ready (): void {
    if (this.#done) return
    this.#done = true
    const { platform, reporter, role } = this.#ctx
    platform.clearTimeout(this.#timer)
    const child = this.#child
    child?.release()
    const durationMs = platform.now() - this.#started
    const childPid = child?.pid ?? -1
    this.#outcome.ended({ ok: true, at: platform.now(), durationMs })
    reporter.event(CHANNELS.handoverReady, 'info', 'next generation ready; draining', { pid: platform.pid, childPid, durationMs })
    this.#resolve({ pid: childPid, durationMs })
    // The child's READY=1 answers the reload that started this handover; a reload this one
    // absorbed (stamped later) needs one sent after its RELOADING=1.
    if (this.#absorbed) role.notifySystemd(['READY=1'])
    this.#outcome.tookOver()
  }

  #fail (reason: HandoverError['reason'], message: string, exitCode: number | null = null, signal: string | null = null): void {
    if (this.#done) return
    this.#done = true
    const { platform, options } = this.#ctx
    platform.clearTimeout(this.#timer)
    const child = this.#child
    const code = reason === 'timeout' ? 'ERR_GRACEFUL_UPGRADE_TIMEOUT' : reason === 'spawn' ? 'ERR_GRACEFUL_SPAWN' : 'ERR_GRACEFUL_CHILD_EXITED'
    const err = new HandoverError(code, message, { reason, exitCode, signal })
    // A child that already listens has accepted connections from the shared queue:
    // SIGTERM lets it drain them like any generation would. SIGKILL only if it cannot.
    // Reap before accepting another handover: never two children at once.
    child?.kill('SIGTERM')
    const killTimer = platform.setTimeout(() => child?.kill('SIGKILL'), options.drainTimeout + 1000)
    void (child?.exited ?? Promise.resolve()).then(() => {
      platform.clearTimeout(killTimer)
      this.#rollBack(err, child?.pid)
    })
  }

  /** The child is gone: record the failure, then serve on, or say that nothing serves. */
  #rollBack (err: HandoverError, childPid: number | undefined): void {
    const { platform, reporter, role, generation } = this.#ctx
    const { code, message, reason, exitCode, signal } = err
    const durationMs = platform.now() - this.#started
    this.#outcome.ended({ ok: false, at: platform.now(), durationMs, reason: message })
    role.recordHandover({ ok: false, generation: generation + 1, at: platform.now(), durationMs, startedMonoUs: this.#startedMonoUs, reason: message })
    const data = { pid: platform.pid, childPid, code, reason, exitCode, signal, durationMs }
    const closed = closedBehindOurBack(this.#serving)
    if (closed.length > 0) {
      reporter.event(CHANNELS.handoverRollback, 'error', `handover failed, and this generation no longer serves: ${message}`, { ...data, serving: false })
      reporter.log('error', 'the handover was rolled back, but this generation\'s servers were closed by someone else meanwhile (another listener of the signal): nothing serves, exiting with code 1',
        { code: 'ERR_GRACEFUL_SERVER_CLOSED', listeners: closed.map((a) => a.key ?? 'unknown') })
      // No PID file may name the failed child either, so a service manager sees the truth.
      if (childPid !== undefined) role.disownPidFile(childPid)
      this.#outcome.abandoned()
    } else {
      // The child may have written the PID file before it failed: this generation serves.
      role.reclaimPidFile()
      this.#outcome.rolledBack()
      // Ends the reload systemd saw begin; it cannot be told that it failed (see README).
      if (reason !== 'aborted') role.notifySystemd(['READY=1', `STATUS=handover failed, still serving: ${message}`])
      reporter.event(CHANNELS.handoverRollback, 'error', `handover failed, still serving: ${message}`, data)
    }
    this.#reject(err)
  }
}
