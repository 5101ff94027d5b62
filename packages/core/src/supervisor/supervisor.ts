/**
 * `graceful-restart run`: a resident process with a stable PID that owns the listening
 * sockets and runs the app as N workers. A reload replaces them as a roll (roll.ts): new
 * workers start beside the old ones (all N at once, or `surge` at a time), and each old
 * worker drains only once its replacement is ready, so never fewer than N are ready; if a
 * new worker fails, the roll stops and the workers serving keep serving. Workers that die
 * on their own are restarted with backoff, as their own generation's release (release.ts);
 * a crash loop is reported in the status, not hidden.
 */
import fs from 'node:fs'
import type { Writable } from 'node:stream'
import { monotonicUs } from '../clock.ts'
import { removeStatusFile } from '../control-status.ts'
import { GracefulError } from '../errors.ts'
import { envDiff, withEnvFiles } from '../handover/env.ts'
import { spawnGeneration, type NextGeneration } from '../handover/spawn.ts'
import { ownIdentity } from '../identity.ts'
import type { InheritedSocket } from '../listeners/inherit.ts'
import { removePidFile, writePidFile } from '../pidfile.ts'
import type { ReleaseHost, ReleaseSource } from '../release/source.ts'
import { startAs, userEnv, type Credentials } from './credentials.ts'
import { CHANNEL_VERSION, decodeWorkerMessage, encode, type SupervisorMessage } from '../handover/channel.ts'
import { labelLines } from './output.ts'
import { pinLaunch, type Release } from './release.ts'
import { resolveWorkers, Roll, type RollHost } from './roll.ts'
import { SocketTable, specKey, type UnixSocketOptions } from './sockets.ts'
import { writeStatus, type HandoverStatus, type SocketStatus, type SupervisorStatus, type WorkerStatus } from './status.ts'

export interface SupervisorOptions {
  command: string[]
  listen: string[]
  workers: number
  /**
   * Workers a reload starts at a time (1 to `workers`): at most `workers + surge` processes
   * exist, draining ones included. Undefined: all at once, earlier generations still
   * draining not counted (they are bounded by `maxDraining`).
   */
  surge?: number | undefined
  pidFile: string | undefined
  statusFile: string | undefined
  upgradeTimeout: number
  drainTimeout: number
  reloadSignals: NodeJS.Signals[]
  /** Logical working directory (see handover/launch.ts): a symlinked release is re-read at each start. */
  cwd: string
  env: NodeJS.ProcessEnv
  /** Read again for each generation; their values fill in what `env` does not set. */
  envFiles: string[]
  /** At most this many old generations drain at once (see `maxDraining` of the core). */
  maxDraining: number
  systemd: InheritedSocket[]
  /** `--watch`, `--fetch`: started once the first workers run, stopped with the supervisor. */
  sources?: ReleaseSource[]
  /** `--user`/`--group`: run workers as this user (the supervisor keeps its own identity). */
  user?: Credentials | undefined
  /** Where setpriv is, to give workers their supplementary groups; undefined: spawn's uid/gid only. */
  setpriv?: string | undefined
  /** `--socket-mode`/`--socket-group` for the unix sockets the supervisor binds. */
  unixSockets?: UnixSocketOptions
  stdout: Writable
  stderr: Writable
  exit: (code: number) => void
}

interface Worker {
  slot: number
  generation: number
  proc: NextGeneration
  pid: number | undefined
  release: Release
  state: WorkerStatus['state']
  /** Set once it exited: a slot's worker may be dead while its restart waits. */
  gone: boolean
  startedAt: number
  restarts: number
  ready: Promise<void>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  killTimer?: NodeJS.Timeout
  /** performance.now() when its drain began. */
  drainingSince?: number
}

const CRASH_WINDOW = 60_000
const CRASH_LOOP = 5
const MAX_BACKOFF = 10_000
const KILL_MARGIN = 5_000
/** SIGQUIT stops gracefully too, as nginx and Teleport do (some images set STOPSIGNAL SIGQUIT). */
const STOP_SIGNALS = { SIGTERM: 15, SIGINT: 2, SIGQUIT: 3 } as const
/** Ends a worker's drain at once (see END_DRAIN_SIGNAL in lifecycle.ts). */
const END_DRAIN_SIGNAL = 'SIGWINCH'
const END_DRAIN_WAIT_MS = 5_000
/** How long a generation over --max-draining may keep draining by itself (see #makeRoom). */
const CAP_GRACE_MS = 2_000

export class Supervisor {
  readonly #o: SupervisorOptions
  readonly #sockets: SocketTable
  readonly #serving = new Map<number, Worker>()
  readonly #incoming = new Set<Worker>()
  readonly #draining = new Set<Worker>()
  #state: 'starting' | 'running' | 'reloading' | 'stopping' = 'starting'
  #generation = 0
  #servingGeneration = 0
  #reload: Promise<void> | undefined
  #stop: Promise<void> | undefined
  #signals = 0
  #forced = false
  #crashes: number[] = []
  #crashLoop: SupervisorStatus['crashLoop']
  #lastHandover: HandoverStatus | undefined
  #roll: Roll<Worker> | undefined
  readonly #handovers = { ok: 0, failed: 0 }
  readonly #startedAt = Date.now()
  readonly #handlers: Array<[NodeJS.Signals, () => void]> = []
  // Unlistened sockets and signal handlers do not keep Node's loop alive; with every worker
  // gone (a crash loop between restarts) the supervisor must still stay.
  #keepAlive: NodeJS.Timeout | undefined

  constructor (options: SupervisorOptions) {
    this.#o = { ...options, ...resolveWorkers(options.workers, options.surge) }
    this.#sockets = new SocketTable(options.unixSockets)
  }

  #log (msg: string): void {
    this.#o.stderr.write(`graceful-restart[${process.pid}]: ${msg}\n`)
  }

  /** The release a new generation runs: the environment files read again, the working directory resolved. */
  #releaseFor (generation: number, previous: NodeJS.ProcessEnv | undefined): Release {
    const env = withEnvFiles(this.#o.env, this.#o.envFiles, this.#o.cwd, (file) => fs.readFileSync(file, 'utf8'))
    if (previous !== undefined) {
      const diff = envDiff(previous, env)
      const parts = Object.entries(diff).filter(([, names]) => names.length > 0).map(([kind, names]) => `${kind} ${names.join(', ')}`)
      this.#log(`generation ${generation} environment: ${parts.length === 0 ? 'unchanged' : parts.join('; ')}`)
    }
    const launch = pinLaunch(this.#launch())
    return { generation, env, launch }
  }

  async start (): Promise<void> {
    const release = this.#releaseFor(1, undefined)
    await this.#sockets.open(this.#o.listen, this.#o.systemd)
    this.#keepAlive = setInterval(() => {}, 2 ** 30)
    if (process.pid === 1) this.#watchOrphans()
    for (const signal of this.#o.reloadSignals) this.#on(signal, () => { this.reload(signal).catch(() => {}) })
    for (const signal of Object.keys(STOP_SIGNALS) as Array<keyof typeof STOP_SIGNALS>) this.#on(signal, () => this.#onStopSignal(signal))
    // The status (with this process's identity) first: a PID file is only ever trusted
    // together with a status that vouches for it.
    this.#writeStatus(true)
    if (this.#o.pidFile !== undefined) writePidFile(this.#o.pidFile, process.pid)
    this.#generation = this.#servingGeneration = 1
    const user = this.#o.user
    this.#log(`supervising \`${this.#o.command.join(' ')}\` with ${this.#o.workers} worker(s) on ${this.#sockets.all.map((s) => s.key).join(', ') || 'no sockets yet (workers ask for theirs)'}` +
      (user === undefined ? '' : ` as ${user.user} (uid ${user.uid}, gid ${user.gid}, groups ${user.groups.join(',')})`))
    if (user !== undefined) {
      const { lost } = startAs(user, release.launch, this.#o.setpriv)
      if (lost.length > 0) this.#log(`setpriv not found: workers run as uid ${user.uid} gid ${user.gid} without their supplementary groups ${lost.join(',')} (install util-linux's setpriv to keep them)`)
    }
    for (let slot = 0; slot < this.#o.workers; slot++) this.#serving.set(slot, this.#spawn(slot, release, 0))
    this.#state = 'running'
    for (const source of this.#o.sources ?? []) source.start(this.#releaseHost())
    this.#writeStatus()
  }

  #releaseHost (): ReleaseHost {
    return {
      reload: async (trigger) => {
        // A reload already running may have started before the release changed.
        await this.#reload?.catch(() => {})
        // reload() does nothing while stopping; a source must not take that for a success.
        if (this.#state === 'stopping') throw new GracefulError('ERR_GRACEFUL_SHUTTING_DOWN', 'the supervisor is stopping')
        await this.reload(trigger)
      },
      changed: () => this.#writeStatus(),
      log: (msg) => this.#log(msg)
    }
  }

  // As PID 1, processes orphaned inside the container are re-parented here. Node reaps
  // only the children it started (no waitpid(-1)), so say so once instead of letting
  // zombies pile up unnoticed.
  #watchOrphans (): void {
    let warned = false
    const timer = setInterval(() => {
      if (warned) return
      const zombies = listZombieChildren()
      if (zombies > 0) {
        warned = true
        this.#log(`${zombies} orphaned zombie process(es) re-parented to this PID 1 cannot be reaped from JavaScript: run the container with --init (tini)`)
      }
    }, 10_000)
    timer.unref()
  }

  #on (signal: NodeJS.Signals, handler: () => void): void {
    process.on(signal, handler)
    this.#handlers.push([signal, handler])
  }

  #spawn (slot: number, release: Release, restarts: number): Worker {
    const { generation, env } = release
    let resolveReady: () => void = () => {}
    let rejectReady: (err: Error) => void = () => {}
    const ready = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
    ready.catch(() => {}) // observed by whoever waits for it; a crash is handled in #onExit
    const worker = {
      slot, generation, release, state: 'starting', gone: false, startedAt: Date.now(), restarts, ready
    } as Worker
    const user = this.#o.user
    const as = user === undefined ? undefined : startAs(user, release.launch, this.#o.setpriv)
    worker.proc = spawnGeneration({
      launch: as?.launch ?? release.launch,
      env: user === undefined ? env : userEnv(env, user),
      listeners: this.#sockets.all.map((s) => ({ fd: s.fd, key: s.key })),
      parentPid: process.pid,
      generation,
      worker: slot,
      output: 'pipe',
      ids: as?.ids
    }, {
      onReady: () => {
        worker.state = 'ready'
        resolveReady()
        this.#writeStatus()
      },
      onExit: (code, signal) => rejectReady(new GracefulError('ERR_GRACEFUL_CHILD_EXITED', `worker ${slot} of generation ${generation} exited before it was ready (${signal ?? `code ${String(code)}`})`)),
      onError: (err) => rejectReady(new GracefulError('ERR_GRACEFUL_SPAWN', `cannot start \`${this.#o.command.join(' ')}\`: ${err.message}`))
    })
    worker.pid = worker.proc.pid
    const label = `[g${generation} w${slot} ${worker.proc.pid ?? '-'}]`
    labelLines(worker.proc.stdout, this.#o.stdout, label)
    labelLines(worker.proc.stderr, this.#o.stderr, label)
    worker.proc.channel?.onMessage((message, handle) => this.#onMessage(worker, message, handle))
    worker.exited = worker.proc.exited
    void worker.exited.then(({ code, signal }) => this.#onExit(worker, code, signal))
    return worker
  }

  #launch (): { execPath: string, args: string[], cwd: string } {
    return { execPath: this.#o.command[0] as string, args: this.#o.command.slice(1), cwd: this.#o.cwd }
  }

  /** A worker's request on its channel (handover/channel.ts): a socket to bind or hand over, or a reload. */
  #onMessage (worker: Worker, raw: unknown, stray: unknown): void {
    const message = decodeWorkerMessage(raw)
    if (message === undefined) return
    // A socket the worker itself sent along with a message is not one we asked for.
    if (stray !== undefined && stray !== null) (stray as { close?: () => void }).close?.()
    const who = `worker ${worker.slot} of generation ${worker.generation} (pid ${worker.proc.pid ?? '-'})`
    const reply = (answer: SupervisorMessage, v: number, handle?: object): void => {
      worker.proc.channel?.send(encode(answer, v), handle).catch(() => {
        // The worker is gone; its exit is handled on its own.
      })
    }
    if (message.type === 'unsupported') {
      if (message.id !== undefined) {
        reply({ type: 'refused', id: message.id, key: '-', code: 'ERR_GRACEFUL_PROTOCOL', errno: undefined, message: `the supervisor speaks channel version ${CHANNEL_VERSION}, the worker ${message.v}: restart the supervisor to upgrade it` }, CHANNEL_VERSION)
      }
      return
    }
    if (message.type === 'reload') {
      this.reload(`${who}: ${message.trigger}`).catch(() => {})
      return
    }
    const key = specKey(message.socket)
    const v = (raw as { v: number }).v
    void (async () => {
      try {
        if (this.#state === 'stopping') throw new GracefulError('ERR_GRACEFUL_SHUTTING_DOWN', 'it is stopping')
        const { socket, bound } = await this.#sockets.obtain(message.socket, message.index, who)
        const handle = socket.handle()
        if (bound) {
          this.#log(`${who} listens on ${key}: bound ${socket.address ?? key}, kept for every later worker`)
          this.#writeStatus()
        }
        reply({ type: 'socket', id: message.id, key }, v, handle)
      } catch (caught) {
        const err = caught as { code?: unknown, errno?: unknown, message?: string }
        const code = typeof err.code === 'string' && err.code.startsWith('ERR_GRACEFUL_') ? err.code as GracefulError['code'] : 'ERR_GRACEFUL_BIND'
        const errno = typeof err.errno === 'string' ? err.errno : typeof err.code === 'string' && code !== err.code ? err.code : undefined
        const reason = err.message ?? String(caught)
        const text = `the supervisor ${reason.startsWith('cannot bind ') ? reason : `cannot bind ${key}: ${reason}`}`
        this.#log(`${who} listens on ${key}: ${text}`)
        reply({ type: 'refused', id: message.id, key, code, errno, message: text }, v)
      }
    })()
  }

  #terminate (worker: Worker): void {
    if (worker.killTimer !== undefined) return
    worker.proc.kill('SIGTERM')
    worker.killTimer = setTimeout(() => {
      this.#forced = true
      this.#log(`worker ${worker.slot} (pid ${worker.proc.pid ?? '-'}) still running ${this.#o.drainTimeout + KILL_MARGIN} ms after SIGTERM: SIGKILL`)
      worker.proc.kill('SIGKILL')
    }, this.#o.drainTimeout + KILL_MARGIN)
  }

  #onExit (worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(worker.killTimer)
    worker.gone = true
    const how = signal ?? `code ${String(code)}`
    if (this.#draining.delete(worker)) {
      this.#log(`worker ${worker.slot} of generation ${worker.generation} (pid ${worker.proc.pid ?? '-'}) drained and exited (${how})`)
    } else if (this.#serving.get(worker.slot) === worker && this.#state !== 'stopping') {
      worker.state = 'restarting'
      this.#onCrash(worker, how)
    }
    this.#writeStatus()
  }

  #onCrash (worker: Worker, how: string): void {
    const now = Date.now()
    this.#crashes = [...this.#crashes.filter((t) => now - t < CRASH_WINDOW), now]
    const recent = this.#crashes.length
    const delay = Math.min(MAX_BACKOFF, 100 * 2 ** (recent - 1))
    if (recent >= CRASH_LOOP && this.#crashLoop === undefined) {
      this.#crashLoop = { since: this.#crashes[0] ?? now, crashes: recent }
      this.#log(`CRASH LOOP: ${recent} worker crashes within ${CRASH_WINDOW / 1000} s; restarting with up to ${MAX_BACKOFF / 1000} s backoff`)
    } else if (this.#crashLoop !== undefined) {
      this.#crashLoop.crashes++
    }
    this.#log(`worker ${worker.slot} (pid ${worker.proc.pid ?? '-'}) exited unexpectedly (${how}); restarting in ${delay} ms`)
    const timer = setTimeout(() => {
      if (this.#state === 'stopping' || this.#serving.get(worker.slot) !== worker) return
      const next = this.#spawn(worker.slot, worker.release, worker.restarts + 1)
      this.#serving.set(worker.slot, next)
      void next.ready.then(() => {
        if (this.#crashLoop !== undefined && Date.now() - (this.#crashes.at(-1) ?? 0) > CRASH_WINDOW) this.#crashLoop = undefined
      }, () => {})
      this.#writeStatus()
    }, delay)
    void timer
  }

  /** Replaces every worker by one of a new generation (roll.ts); rejects when the roll stopped. */
  reload (trigger = 'api'): Promise<void> {
    if (this.#reload !== undefined) {
      this.#log(`${trigger}: a reload is already running; not starting another`)
      return this.#reload
    }
    if (this.#state !== 'running') {
      this.#log(`${trigger} ignored while ${this.#state}`)
      return Promise.resolve()
    }
    this.#reload = this.#doReload(trigger).finally(() => { this.#reload = undefined })
    return this.#reload
  }

  async #doReload (trigger: string): Promise<void> {
    this.#state = 'reloading'
    const generation = ++this.#generation
    const started = Date.now()
    const startedMonoUs = monotonicUs()
    const { surge, workers } = this.#o
    this.#log(`${trigger}: starting generation ${generation}${surge === undefined ? '' : ` (${workers} workers, ${surge} at a time)`}`)
    const failed = (reason: string): void => {
      this.#handovers.failed++
      this.#lastHandover = { ok: false, generation, at: Date.now(), durationMs: Date.now() - started, startedMonoUs, reason }
      if (this.#state === 'reloading') this.#state = 'running'
      this.#writeStatus()
    }
    let release: Release
    try {
      const newest = [...this.#serving.values()].sort((a, b) => b.generation - a.generation)[0]
      release = this.#releaseFor(generation, newest?.release.env)
    } catch (err) {
      const reason = `cannot read --env-file: ${(err as Error).message}`
      this.#log(`reload failed, the old workers keep serving: ${reason}`)
      failed(reason)
      throw new GracefulError('ERR_GRACEFUL_SPAWN', reason)
    }
    await this.#makeRoom()
    const roll = this.#roll = new Roll(this.#rollHost(release), generation, trigger)
    this.#writeStatus()
    const result = await roll.run()
    if (!result.ok) {
      const { replaced, serving } = roll.status()
      const where = replaced === 0
        ? undefined
        : `roll stopped at ${replaced}/${workers}; serving: ${serving.map((g) => `${g.workers} on generation ${g.generation}`).join(', ')}`
      this.#log(`reload failed, ${where ?? 'the old workers keep serving'}: ${result.error.message}`)
      failed(where === undefined ? result.error.message : `${result.error.message} (${where})`)
      throw result.error
    }
    this.#servingGeneration = generation
    this.#handovers.ok++
    this.#lastHandover = { ok: true, generation, at: Date.now(), durationMs: Date.now() - started, startedMonoUs }
    this.#log(`generation ${generation} ready in ${this.#lastHandover.durationMs} ms; the workers it replaced drain`)
    if (this.#state === 'reloading') this.#state = 'running'
    this.#writeStatus()
  }

  /** The roll's view of the workers: which serve, which drain, how one starts and takes over. */
  #rollHost (release: Release): RollHost<Worker> {
    return {
      workers: this.#o.workers,
      surge: this.#o.surge,
      upgradeTimeout: this.#o.upgradeTimeout,
      serving: () => [...this.#serving.values()],
      draining: () => [...this.#draining],
      start: (slot) => {
        const w = this.#spawn(slot, release, 0)
        this.#incoming.add(w)
        this.#writeStatus()
        return w
      },
      takeOver: (w) => {
        this.#incoming.delete(w)
        const old = this.#serving.get(w.slot)
        this.#serving.set(w.slot, w)
        if (old !== undefined && !old.gone) {
          old.state = 'draining'
          old.drainingSince = performance.now()
          this.#draining.add(old)
          this.#terminate(old)
        }
        // It exited between its ready report and now; in its slot it is a crash like any other.
        if (w.gone) {
          w.state = 'restarting'
          this.#onCrash(w, 'exit before it took over')
        }
        this.#writeStatus()
      },
      discard: async (ws) => {
        for (const w of ws) this.#terminate(w)
        await Promise.all(ws.map((w) => w.exited))
        for (const w of ws) this.#incoming.delete(w)
        this.#writeStatus()
      },
      stopping: () => this.#state === 'stopping',
      log: (message) => this.#log(message)
    }
  }

  /**
   * Makes room so that, once the new generation took over, at most `maxDraining` drain. The
   * oldest over the cap first gets to finish by itself: its workers are ended at once only
   * when they still drain CAP_GRACE_MS after their drain began (the core's default idleGrace
   * plus a second: what holds them then is a long-lived connection, not ordinary requests).
   * Waits until they exited, at most END_DRAIN_WAIT_MS after they were told.
   */
  async #makeRoom (): Promise<void> {
    const generations = [...new Set([...this.#draining].map((w) => w.generation))].sort((a, b) => a - b)
    const excess = generations.length + 1 - this.#o.maxDraining
    if (excess <= 0) return
    const over = generations.slice(0, excess)
    const workers = [...this.#draining].filter((w) => over.includes(w.generation))
    this.#log(`--max-draining ${this.#o.maxDraining}: generation ${over.join(', ')} first finishes draining (ended at once if still draining ${CAP_GRACE_MS} ms after it began)`)
    const since = Math.min(...workers.map((w) => w.drainingSince ?? 0))
    const gone = Promise.all(workers.map((w) => w.exited))
    let timer: NodeJS.Timeout | undefined
    const graceOver = await Promise.race([
      gone.then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), Math.max(0, since + CAP_GRACE_MS - performance.now())) })
    ])
    clearTimeout(timer)
    if (!graceOver) return
    this.#log(`--max-draining ${this.#o.maxDraining}: ending the drain of generation ${over.join(', ')} at once`)
    for (const w of workers) if (this.#draining.has(w)) w.proc.kill(END_DRAIN_SIGNAL)
    await Promise.race([gone, new Promise((resolve) => { timer = setTimeout(resolve, END_DRAIN_WAIT_MS) })])
    clearTimeout(timer)
  }

  #onStopSignal (signal: keyof typeof STOP_SIGNALS): void {
    this.#signals++
    if (this.#signals > 1) {
      this.#log(`${signal} again: killing every worker now`)
      for (const w of this.#all()) w.proc.kill('SIGKILL')
      this.#o.exit(128 + STOP_SIGNALS[signal])
      return
    }
    this.stop(signal).catch(() => {})
  }

  #all (): Worker[] {
    return [...this.#serving.values(), ...this.#incoming, ...this.#draining]
  }

  /** Drains every worker, releases the sockets and exits (0 if nothing had to be killed). */
  stop (reason = 'api'): Promise<void> {
    this.#stop ??= (async () => {
      this.#state = 'stopping'
      for (const source of this.#o.sources ?? []) source.stop()
      this.#log(`${reason}: draining ${this.#all().length} worker(s)`)
      this.#writeStatus()
      const all = this.#all()
      for (const w of all) this.#terminate(w)
      await Promise.all(all.map((w) => w.exited))
      this.#sockets.closeAll()
      clearInterval(this.#keepAlive)
      for (const [signal, handler] of this.#handlers) process.off(signal, handler)
      if (this.#o.pidFile !== undefined) removePidFile(this.#o.pidFile, process.pid)
      if (this.#o.statusFile !== undefined) removeStatusFile(this.#o.statusFile, process.pid)
      this.#log(`stopped${this.#forced ? ' (some workers had to be killed)' : ''}`)
      this.#o.exit(this.#forced ? 1 : 0)
    })()
    return this.#stop
  }

  status (): SupervisorStatus {
    const worker = (w: Worker): WorkerStatus => ({ slot: w.slot, pid: w.proc.pid, generation: w.generation, state: w.state, startedAt: w.startedAt, restarts: w.restarts })
    return {
      kind: 'supervisor',
      pid: process.pid,
      identity: ownIdentity(),
      reloadSignal: this.#o.reloadSignals[0] ?? null,
      state: this.#state,
      startedAt: this.#startedAt,
      generation: this.#servingGeneration,
      command: this.#o.command,
      listeners: this.#sockets.all.map((s) => s.key),
      sockets: this.#sockets.all.map((s): SocketStatus => ({ key: s.key, source: s.source, address: s.address, askedBy: s.askedBy })),
      workers: [...this.#serving.values()].map(worker).concat([...this.#incoming, ...this.#draining].map(worker)),
      lastHandover: this.#lastHandover,
      roll: this.#roll?.status(),
      handovers: { ...this.#handovers },
      crashLoop: this.#crashLoop,
      release: this.#o.sources === undefined || this.#o.sources.length === 0 ? undefined : Object.assign({}, ...this.#o.sources.map((s) => s.status()))
    }
  }

  #writeStatus (evenWhileStarting = false): void {
    if (this.#o.statusFile !== undefined && (evenWhileStarting || this.#state !== 'starting')) writeStatus(this.#o.statusFile, this.status())
  }
}

function listZombieChildren (): number {
  let count = 0
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] === 'Z' && fields[1] === String(process.pid)) count++
    } catch {}
  }
  return count
}
