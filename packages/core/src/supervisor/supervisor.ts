/**
 * `graceful-restart run`: a resident process with a stable PID that owns the listening
 * sockets (sockets.ts) and runs the app as N workers (workers.ts). A reload replaces them
 * as a roll (roll.ts), so never fewer than N are ready and a failed one changes nothing;
 * a worker that dies on its own is restarted with backoff (crashes.ts), as its own
 * generation's release (release.ts). This class only moves between its states (starting,
 * running, reloading, stopping) and hands each event to the part that owns it; the
 * operating system and time reach it through its seam (os.ts, clock.ts).
 */
import { constants } from 'node:os'
import { GracefulError } from '../errors.ts'
import type { ReleaseHost } from '../release/source.ts'
import { nodeClock, type SupervisorClock } from './clock.ts'
import { startAs } from './credentials.ts'
import { CRASH_WINDOW_MS, Crashes, MAX_BACKOFF_MS } from './crashes.ts'
import { nodeSupervisorOs, type SupervisorOs } from './os.ts'
import type { SupervisorOptions } from './options.ts'
import { nextRelease, type Release } from './release.ts'
import { Reloads } from './reloads.ts'
import { resolveWorkers } from './roll.ts'
import { SocketTable } from './sockets.ts'
import type { SupervisorStatus } from './status.ts'
import { answerWorker, type RequestHost } from './worker-requests.ts'
import type { Worker } from './worker.ts'
import { WorkerSet } from './workers.ts'

export type { SupervisorOptions } from './options.ts'

/** SIGQUIT stops gracefully too, as nginx and Teleport do (some images set STOPSIGNAL SIGQUIT). */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const

export class Supervisor {
  readonly #o: SupervisorOptions
  readonly #os: SupervisorOs
  readonly #clock: SupervisorClock
  readonly #sockets: SocketTable
  readonly #workers: WorkerSet
  readonly #crashes = new Crashes()
  readonly #reloads: Reloads
  readonly #startedAt: number
  readonly #unlisten: Array<() => void> = []
  #state: 'starting' | 'running' | 'reloading' | 'stopping' = 'starting'
  #reload: Promise<void> | undefined
  #stop: Promise<void> | undefined
  #stopSignals = 0
  #endKeepAlive: (() => void) | undefined

  constructor (options: SupervisorOptions) {
    this.#o = { ...options, ...resolveWorkers(options.workers, options.surge) }
    this.#os = options.os ?? nodeSupervisorOs()
    this.#clock = options.clock ?? nodeClock
    this.#startedAt = this.#clock.now()
    this.#sockets = new SocketTable(options.unixSockets)
    this.#workers = new WorkerSet({
      os: this.#os,
      clock: this.#clock,
      command: options.command,
      listeners: () => this.#sockets.all.map((s) => ({ fd: s.fd, key: s.key })),
      user: options.user,
      setpriv: options.setpriv,
      stdout: options.stdout,
      stderr: options.stderr,
      onReady: () => this.#writeStatus(),
      onExit: (w, code, signal) => this.#onExit(w, signal ?? `code ${String(code)}`),
      onMessage: (w, message, handle) => answerWorker(this.#requestHost(), w, message, handle)
    }, options.drainTimeout, (msg) => this.#log(msg))
    this.#reloads = new Reloads({
      workers: this.#o.workers,
      surge: this.#o.surge,
      upgradeTimeout: options.upgradeTimeout,
      maxDraining: options.maxDraining,
      clock: this.#clock,
      pool: this.#workers,
      release: (generation, previous) => this.#release(generation, previous),
      crashed: (w, how) => this.#onCrash(w, how),
      ended: () => { if (this.#state === 'reloading') this.#state = 'running' },
      stopping: () => this.#state === 'stopping',
      changed: () => this.#writeStatus(),
      log: (msg) => this.#log(msg)
    })
  }

  #log (msg: string): void {
    this.#o.stderr.write(`graceful-restart[${this.#os.pid}]: ${msg}\n`)
  }

  #release (generation: number, previous: NodeJS.ProcessEnv | undefined): Release {
    return nextRelease(this.#o, generation, previous, this.#os, (msg) => this.#log(msg))
  }

  async start (): Promise<void> {
    const release = this.#release(1, undefined)
    await this.#sockets.open(this.#o.listen, this.#o.systemd)
    this.#endKeepAlive = this.#os.keepAlive()
    if (this.#os.pid === 1) {
      this.#os.watchOrphans((zombies) => this.#log(`${zombies} orphaned zombie process(es) re-parented to this PID 1 cannot be reaped from JavaScript: run the container with --init (tini)`))
    }
    for (const signal of this.#o.reloadSignals) this.#on(signal, () => { this.reload(signal).catch(() => {}) })
    for (const signal of STOP_SIGNALS) this.#on(signal, () => this.#onStopSignal(signal))
    // The status (with this process's identity) first: a PID file is only ever trusted
    // together with a status that vouches for it.
    this.#writeStatus(true)
    if (this.#o.pidFile !== undefined) this.#os.writePidFile(this.#o.pidFile, this.#os.pid)
    this.#reloads.first()
    this.#logStart(release)
    for (let slot = 0; slot < this.#o.workers; slot++) this.#workers.serve(slot, release, 0)
    this.#state = 'running'
    for (const source of this.#o.sources ?? []) source.start(this.#releaseHost())
    this.#writeStatus()
  }

  #logStart (release: Release): void {
    const user = this.#o.user
    this.#log(`supervising \`${this.#o.command.join(' ')}\` with ${this.#o.workers} worker(s) on ${this.#sockets.all.map((s) => s.key).join(', ') || 'no sockets yet (workers ask for theirs)'}` +
      (user === undefined ? '' : ` as ${user.user} (uid ${user.uid}, gid ${user.gid}, groups ${user.groups.join(',')})`))
    if (user === undefined) return
    const { lost } = startAs(user, release.launch, this.#o.setpriv)
    if (lost.length > 0) this.#log(`setpriv not found: workers run as uid ${user.uid} gid ${user.gid} without their supplementary groups ${lost.join(',')} (install util-linux's setpriv to keep them)`)
  }

  #on (signal: NodeJS.Signals, handler: () => void): void {
    this.#unlisten.push(this.#os.onSignal(signal, handler))
  }

  /** What `--watch` and `--fetch` may do: reload, and have their status written. */
  #releaseHost (): ReleaseHost {
    return {
      reload: async (trigger) => {
        // A reload already running may have started before the release changed.
        await this.#reload?.catch(() => {})
        await this.reload(trigger)
      },
      changed: () => this.#writeStatus(),
      log: (msg) => this.#log(msg)
    }
  }

  #requestHost (): RequestHost {
    return {
      sockets: this.#sockets,
      stopping: () => this.#state === 'stopping',
      reload: (trigger) => this.reload(trigger),
      changed: () => this.#writeStatus(),
      log: (msg) => this.#log(msg)
    }
  }

  #onExit (worker: Worker, how: string): void {
    const role = this.#workers.exited(worker)
    if (role === 'drained') {
      this.#log(`worker ${worker.slot} of generation ${worker.generation} (pid ${worker.proc.pid ?? '-'}) drained and exited (${how})`)
    } else if (role === 'crashed' && this.#state !== 'stopping') {
      this.#onCrash(worker, how)
    }
    this.#writeStatus()
  }

  /** A worker that still filled its slot died: it is restarted after a backoff, as its own release. */
  #onCrash (worker: Worker, how: string): void {
    worker.state = 'restarting'
    const { delayMs, loopBegan, recent } = this.#crashes.record(this.#clock.now())
    if (loopBegan) this.#log(`CRASH LOOP: ${recent} worker crashes within ${CRASH_WINDOW_MS / 1000} s; restarting with up to ${MAX_BACKOFF_MS / 1000} s backoff`)
    // A worker that never started has no exit status worth naming: say what spawn said.
    const what = worker.startError === undefined ? `(pid ${worker.proc.pid ?? '-'}) exited unexpectedly (${how})` : `could not be started (${worker.startError})`
    this.#log(`worker ${worker.slot} ${what}; restarting in ${delayMs} ms`)
    this.#clock.setTimeout(() => {
      if (this.#state === 'stopping' || this.#workers.servingIn(worker.slot) !== worker) return
      const next = this.#workers.serve(worker.slot, worker.release, worker.restarts + 1)
      void next.ready.then(() => this.#crashes.recovered(this.#clock.now()), () => {})
      this.#writeStatus()
    }, delayMs)
  }

  /**
   * Replaces every worker by one of a new generation (roll.ts); rejects when the roll stopped.
   * A reload asked for during one joins it; one that cannot run (starting, stopping) rejects
   * with a code, as a generation's handover() does, so no caller takes it for a success.
   */
  reload (trigger = 'api'): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'stopping') {
      const code = this.#state === 'starting' ? 'ERR_GRACEFUL_NOT_READY' : 'ERR_GRACEFUL_SHUTTING_DOWN'
      const err = new GracefulError(code, `the supervisor is ${this.#state}`)
      this.#log(`${trigger} ignored: ${err.message}`)
      return Promise.reject(err)
    }
    if (this.#reload !== undefined) {
      this.#log(`${trigger}: a reload is already running; not starting another`)
      return this.#reload
    }
    this.#state = 'reloading'
    this.#reload = this.#reloads.run(trigger).finally(() => { this.#reload = undefined })
    return this.#reload
  }

  /** The first stop signal drains; a second one kills every worker and exits at once, as 128 + the signal's number. */
  #onStopSignal (signal: typeof STOP_SIGNALS[number]): void {
    if (++this.#stopSignals > 1) {
      this.#log(`${signal} again: killing every worker now`)
      for (const w of this.#workers.all()) w.proc.kill('SIGKILL')
      this.#o.exit(128 + constants.signals[signal])
      return
    }
    this.stop(signal).catch(() => {})
  }

  /** Drains every worker, releases the sockets and exits (0 if nothing had to be killed). */
  stop (reason = 'api'): Promise<void> {
    this.#stop ??= this.#doStop(reason)
    return this.#stop
  }

  async #doStop (reason: string): Promise<void> {
    this.#state = 'stopping'
    for (const source of this.#o.sources ?? []) source.stop()
    const all = this.#workers.all()
    this.#log(`${reason}: draining ${all.length} worker(s)`)
    this.#writeStatus()
    for (const w of all) this.#workers.terminate(w)
    await Promise.all(all.map((w) => w.exited))
    this.#sockets.closeAll()
    this.#endKeepAlive?.()
    for (const unlisten of this.#unlisten) unlisten()
    if (this.#o.pidFile !== undefined) this.#os.removePidFile(this.#o.pidFile, this.#os.pid)
    if (this.#o.statusFile !== undefined) this.#os.removeStatus(this.#o.statusFile, this.#os.pid)
    const forced = this.#workers.forced
    this.#log(`stopped${forced ? ' (some workers had to be killed)' : ''}`)
    this.#o.exit(forced ? 1 : 0)
  }

  status (): SupervisorStatus {
    const sources = this.#o.sources ?? []
    return {
      kind: 'supervisor',
      pid: this.#os.pid,
      identity: this.#os.identity(),
      reloadSignal: this.#o.reloadSignals[0] ?? null,
      state: this.#state,
      startedAt: this.#startedAt,
      command: this.#o.command,
      listeners: this.#sockets.all.map((s) => s.key),
      sockets: this.#sockets.all.map((s) => ({ key: s.key, source: s.source, address: s.address, askedBy: s.askedBy })),
      workers: this.#workers.statuses(),
      ...this.#reloads.status(),
      crashLoop: this.#crashes.loop,
      release: sources.length === 0 ? undefined : Object.assign({}, ...sources.map((s) => s.status()))
    }
  }

  #writeStatus (evenWhileStarting = false): void {
    if (this.#o.statusFile !== undefined && (evenWhileStarting || this.#state !== 'starting')) this.#os.writeStatus(this.#o.statusFile, this.status())
  }
}
