/**
 * The seam between the state machine and the operating system. The real one below talks
 * to Node; unit tests pass fakes and drive every path without starting a process.
 */
import { currentHost, detectContext, type KnownContext, type ProcessContext } from './context.ts'
import { captureEnvOrigin, readEnviron, type EnvOrigin } from './handover/env.ts'
import { captureLaunch, type Launch } from './handover/launch.ts'
import { reportReady } from './handover/readiness.ts'
import { spawnGeneration, type GenerationEvents, type GenerationSpec, type NextGeneration } from './handover/spawn.ts'
import { readInheritance, type Inheritance } from './listeners/inherit.ts'
import { closeFd, canPassSockets, listeningFd } from './listeners/fd.ts'
import { readPidFile, removePidFile, writePidFile } from './pidfile.ts'
import { systemClock, type Clock } from './clock.ts'
import { removeStatusFile, statusFileOf, writeStatusFile, type GenerationStatus } from './control-status.ts'
import { ownIdentity, processStartTime } from './identity.ts'
import type { Server } from 'node:net'
import fs from 'node:fs'
import { notifySystemd } from './systemd-notify.ts'
import { ReleaseWatcher, type ReleaseWatch, type ReleaseWatchOptions } from './release/watch.ts'
import { openSupervisorChannel, type SupervisorChannel } from './handover/worker-channel.ts'
import { openParentLink } from './handoff/parent-link.ts'
import type { GenerationLink } from './handoff/protocol.ts'

/** The OS as the lifecycle sees it; time (timers, wall clock, CLOCK_MONOTONIC) is its `Clock`. */
export interface Platform extends Clock {
  readonly pid: number
  readonly env: NodeJS.ProcessEnv
  canPassSockets: () => boolean
  readInheritance: () => Inheritance
  /** Where this process runs (read after the inheritance, which says who our parent is). */
  detectContext: (known: KnownContext) => ProcessContext
  captureLaunch: () => Launch
  /** Where each variable came from (handover/env.ts), given what the parent set from its files and the `envFile` option. */
  captureEnv: (fromParentFiles: readonly string[], envFiles: readonly string[]) => EnvOrigin
  /** Reads a text file; throws the fs error. */
  readFile: (file: string) => string
  /** The kernel's start time of pid (identity.ts); undefined if it is gone or unknown. */
  processStartTime: (pid: number) => string | undefined
  listeningFd: (server: Server) => number | undefined
  closeFd: (fd: number) => void
  spawnGeneration: (spec: GenerationSpec, events: GenerationEvents) => NextGeneration
  reportReady: (fd: number, pid: number, onClosed?: () => void) => boolean
  kill: (pid: number, signal: NodeJS.Signals) => void
  /** Under the supervisor: the channel it offered (`version`), or undefined without one. */
  openChannel: (version: number | undefined) => SupervisorChannel | undefined
  /** The handover channel the previous generation opened (handoff/parent-link.ts), or undefined. */
  openParentLink: () => GenerationLink | undefined
  /** Resolves once systemd took the message (in order); undefined when not under systemd. */
  notifySystemd: (args: string[]) => Promise<void> | undefined
  writePidFile: (file: string, pid: number) => void
  removePidFile: (file: string, pid: number) => void
  readPidFile: (file: string) => number | undefined
  /** Writes the status beside the PID file (control-status.ts), adding pid and identity. Throws. */
  writeStatus: (pidFile: string, status: Omit<GenerationStatus, 'kind' | 'pid' | 'identity'>) => void
  removeStatus: (pidFile: string, pid: number) => void
  unlink: (path: string) => void
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void
  /** Every listener the process has for `signal`, this library's own included. */
  signalListeners: (signal: NodeJS.Signals) => readonly Function[]
  exit: (code: number) => void
  /** Watches a release on disk (the `watch` option); reads its fingerprint at once. */
  watchRelease: (options: ReleaseWatchOptions) => ReleaseWatch
}

function readText (file: string): string {
  return fs.readFileSync(file, 'utf8')
}

export function nodePlatform (): Platform {
  return {
    ...systemClock,
    get pid () { return process.pid },
    env: process.env,
    canPassSockets,
    readInheritance: () => readInheritance({ env: process.env, pid: process.pid, ppid: process.ppid }),
    detectContext: (known) => detectContext(currentHost(), known),
    captureLaunch: () => captureLaunch(),
    captureEnv: (fromParentFiles, envFiles) => captureEnvOrigin({
      env: process.env, execArgv: process.execArgv, cwd: process.cwd(), environ: readEnviron(readText), fromParentFiles, envFiles, read: readText
    }),
    readFile: readText,
    processStartTime: (pid) => processStartTime(pid),
    listeningFd,
    closeFd,
    spawnGeneration,
    reportReady,
    kill: (pid, signal) => { try { process.kill(pid, signal) } catch {} },
    openChannel: (version) => openSupervisorChannel(version),
    openParentLink: () => openParentLink(),
    notifySystemd: (args) => notifySystemd(process.env, args),
    writePidFile,
    removePidFile,
    readPidFile,
    writeStatus: (pidFile, status) => {
      writeStatusFile(statusFileOf(pidFile), { kind: 'generation', pid: process.pid, identity: ownIdentity(), ...status })
    },
    removeStatus: (pidFile, pid) => { try { removeStatusFile(statusFileOf(pidFile), pid) } catch {} },
    unlink: (path) => { try { fs.unlinkSync(path) } catch {} },
    onSignal: (signal, handler) => {
      process.on(signal, handler)
      return () => { process.off(signal, handler) }
    },
    signalListeners: (signal) => process.listeners(signal),
    exit: (code) => { process.exit(code) },
    watchRelease: (options) => new ReleaseWatcher(options)
  }
}
