/**
 * Who this process is, decided once from what its parent passed (the inheritance):
 * - standalone: a generation that re-executes itself. While it is the live one it owns the
 *   public names: the PID file and the status beside it, the unix socket paths it bound,
 *   and what systemd is told (READY=1 with its PID, RELOADING=1, STOPPING=1).
 * - supervised: a worker of `graceful-restart run`. The supervisor owns all of those and
 *   replaces its workers itself: a worker asks it over the channel for the sockets it did
 *   not inherit and for reloads, and reports ready on a pipe that stays open as a lifeline.
 * Every "who does this?" of the lifecycle is answered here, not by the lifecycle itself.
 */
import type { HandoverRecord } from './control-status.ts'
import type { Reporter } from './diagnostics.ts'
import { GracefulError } from './errors.ts'
import { SocketSupplier } from './listeners/bind.ts'
import type { Inheritance } from './listeners/inherit.ts'
import type { Platform } from './platform.ts'
import type { SupervisorChannel } from './handover/worker-channel.ts'

/** What the status beside the PID file says besides the last handover (control-status.ts). */
export interface StatusFacts {
  generation: number
  startedAt: number
  reloadSignal: NodeJS.Signals | null
  context: string
}

export interface ReadyHooks {
  /** A previous generation took the report: it drains from now on. */
  parentTookReport: () => void
  /** The supervisor is gone (its end of the lifeline closed): this worker must not outlive it. */
  supervisorGone: () => void
}

export interface Role {
  readonly supervisorPid: number | undefined
  /** Under the supervisor: where `listen()` gets the sockets it did not inherit. */
  readonly supplier: SocketSupplier | undefined
  /** Whether this generation is or was the live one, and so owns the public names. */
  readonly live: boolean
  /** Resolves once systemd took the message; undefined when there is nobody to tell. */
  notifySystemd: (args: string[]) => Promise<void> | undefined
  /**
   * On ready, before the report: the PID file names this process. Throws when it cannot, if
   * it names the parent (taking over would leave it naming a process about to exit).
   */
  claimPidFile: () => void
  /** Reports ready to whoever waits for it (a parent, the supervisor, nobody). */
  reportReady: (hooks: ReadyHooks) => void
  /** Records a handover's outcome in the status beside the PID file. */
  recordHandover: (record: HandoverRecord) => void
  /** After a rollback: the failed child may have written the PID file; it names this process again. */
  reclaimPidFile: () => void
  /** Removes the PID file if it names `pid` (a child that failed while nothing serves). */
  disownPidFile: (pid: number) => void
  /** The last generation leaves: its public names go with it (never a generation that was not live). */
  release: (unixPaths: readonly string[]) => void
  /** A worker asks the supervisor to reload every worker; undefined when standalone. */
  askReload: ((trigger: string) => Promise<never>) | undefined
}

export function roleOf (inheritance: Inheritance, platform: Platform, reporter: Reporter, pidFile: string | undefined, status: () => StatusFacts): Role {
  return inheritance.supervisorPid === undefined
    ? new Standalone(inheritance, platform, reporter, pidFile, status)
    : new Supervised(inheritance, inheritance.supervisorPid, platform, reporter)
}

class Standalone implements Role {
  readonly supervisorPid = undefined
  readonly supplier = undefined
  readonly askReload = undefined
  #live = false
  #record: HandoverRecord | undefined
  readonly #inheritance: Inheritance
  readonly #platform: Platform
  readonly #reporter: Reporter
  readonly #pidFile: string | undefined
  readonly #status: () => StatusFacts

  constructor (inheritance: Inheritance, platform: Platform, reporter: Reporter, pidFile: string | undefined, status: () => StatusFacts) {
    this.#inheritance = inheritance
    this.#platform = platform
    this.#reporter = reporter
    this.#pidFile = pidFile
    this.#status = status
  }

  get live (): boolean { return this.#live }

  notifySystemd (args: string[]): Promise<void> | undefined {
    return this.#platform.notifySystemd(args)
  }

  claimPidFile (): void {
    if (this.#pidFile === undefined) return
    // The first generation vouches for the PID file before writing it; a next generation
    // once its parent took the report (reportReady): until then the handover may still fail.
    if (this.#inheritance.readyFd === undefined) this.#writeStatus()
    try {
      this.#platform.writePidFile(this.#pidFile, this.#platform.pid)
    } catch (err) {
      // Taking over would leave the file naming a parent that is about to exit: refuse,
      // the parent rolls back. (A file that never named anyone does not block handovers.)
      const { parentPid } = this.#inheritance
      if (parentPid !== undefined && this.#platform.readPidFile(this.#pidFile) === parentPid) throw err
      // The server works without it; say so loudly instead of refusing to serve.
      this.#reporter.log('error', (err as Error).message, { code: (err as GracefulError).code })
    }
  }

  reportReady (hooks: ReadyHooks): void {
    const { readyFd, handoverStartedUs } = this.#inheritance
    if (readyFd === undefined) {
      this.#live = true
    } else {
      // The public names (PID file, unix socket paths) become ours only once the parent
      // took the report: a parent that timed out and stops us still serves them.
      this.#platform.reportReady(readyFd, this.#platform.pid, () => {
        this.#live = true
        hooks.parentTookReport()
        if (handoverStartedUs !== undefined) {
          const durationMs = Math.round((this.#platform.monotonicUs() - handoverStartedUs) / 1000)
          this.#record = { ok: true, generation: this.#inheritance.generation, at: this.#platform.now(), durationMs, startedMonoUs: handoverStartedUs }
        }
        this.#writeStatus()
      })
    }
    this.notifySystemd(['--ready', `--pid=${this.#platform.pid}`])
  }

  recordHandover (record: HandoverRecord): void {
    this.#record = record
    this.#writeStatus()
  }

  reclaimPidFile (): void {
    if (this.#pidFile === undefined || this.#platform.readPidFile(this.#pidFile) === this.#platform.pid) return
    try {
      this.#platform.writePidFile(this.#pidFile, this.#platform.pid)
    } catch (err) {
      this.#reporter.log('error', (err as Error).message, { code: (err as GracefulError).code })
    }
  }

  disownPidFile (pid: number): void {
    if (this.#pidFile !== undefined) this.#platform.removePidFile(this.#pidFile, pid)
  }

  release (unixPaths: readonly string[]): void {
    // A generation that never became the live one owns none of them (its parent still serves them).
    if (!this.#live) return
    const { pid } = this.#platform
    if (this.#pidFile !== undefined) {
      this.#platform.removePidFile(this.#pidFile, pid)
      this.#platform.removeStatus(this.#pidFile, pid)
    }
    for (const path of unixPaths) this.#platform.unlink(path)
  }

  /** The status beside the PID file: who owns the PID file, and the last handover. */
  #writeStatus (): void {
    if (this.#pidFile === undefined) return
    try {
      this.#platform.writeStatus(this.#pidFile, { ...this.#status(), lastHandover: this.#record })
    } catch (err) {
      // Serving matters more. `graceful-restart reload|stop|status` then refuse to signal
      // this PID (nothing vouches for it), which is the safe side.
      this.#reporter.log('error', `cannot write the status beside the PID file: ${(err as Error).message}`, { code: 'ERR_GRACEFUL_PIDFILE' })
    }
  }
}

class Supervised implements Role {
  readonly supervisorPid: number
  readonly supplier: SocketSupplier | undefined
  #live = false
  readonly #inheritance: Inheritance
  readonly #platform: Platform
  readonly #reporter: Reporter
  readonly #channel: SupervisorChannel | undefined

  constructor (inheritance: Inheritance, supervisorPid: number, platform: Platform, reporter: Reporter) {
    this.#inheritance = inheritance
    this.supervisorPid = supervisorPid
    this.#platform = platform
    this.#reporter = reporter
    this.#channel = platform.openChannel(inheritance.channel)
    this.supplier = this.#channel === undefined ? undefined : new SocketSupplier(this.#channel)
  }

  get live (): boolean { return this.#live }

  // The supervisor speaks to systemd for the service, and writes the PID file, its status
  // and the unix socket paths (it bound them).
  notifySystemd (): undefined { return undefined }
  claimPidFile (): void {}
  recordHandover (): void {}
  reclaimPidFile (): void {}
  disownPidFile (): void {}
  release (): void {}

  reportReady (hooks: ReadyHooks): void {
    const { readyFd } = this.#inheritance
    this.#live = true
    if (readyFd !== undefined) this.#platform.reportReady(readyFd, this.#platform.pid, hooks.supervisorGone)
  }

  // A worker never re-executes itself: the supervisor replaces all workers together. It is
  // asked over the channel: a worker running as another user may not signal it.
  readonly askReload = (trigger: string): Promise<never> => {
    this.#reporter.log('info', 'handover requested from a supervised worker: asking the supervisor', { trigger, supervisorPid: this.supervisorPid })
    if (this.#channel?.askReload(trigger) !== true) this.#platform.kill(this.supervisorPid, 'SIGUSR2')
    return Promise.reject(new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'a supervised worker does not hand over by itself; the supervisor was asked to reload'))
  }
}
