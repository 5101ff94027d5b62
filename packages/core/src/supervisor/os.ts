/**
 * The supervisor's seam to the operating system: processes, signals and files (time is the
 * other half, clock.ts). The real one below talks to Node; unit tests pass a fake and drive
 * restarts, crash loops and stops without starting a process.
 */
import fs from 'node:fs'
import { removeStatusFile } from '../control-status.ts'
import { spawnGeneration, type GenerationEvents, type GenerationSpec, type NextGeneration } from '../handover/spawn.ts'
import { ownIdentity, type ProcessIdentity } from '../identity.ts'
import { removePidFile, writePidFile } from '../pidfile.ts'
import { watchOrphans } from './orphans.ts'
import { writeStatus, type SupervisorStatus } from './status.ts'

export interface SupervisorOs {
  readonly pid: number
  /** Starts a worker (handover/spawn.ts). */
  spawn: (spec: GenerationSpec, events: GenerationEvents) => NextGeneration
  /** Listens for a signal sent to this process; returns how to stop listening. */
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void
  /** Keeps this process alive until the returned function is called, whatever else runs. */
  keepAlive: () => () => void
  /** As PID 1: calls `found` once if orphans re-parented here are left as zombies. */
  watchOrphans: (found: (zombies: number) => void) => void
  /** Reads a text file (--env-file); throws the fs error. */
  readFile: (file: string) => string
  /** Resolves symlinks (a release's working directory); throws when the path is gone. */
  realpath: (p: string) => string
  identity: () => ProcessIdentity
  /** Throws ERR_GRACEFUL_PIDFILE. */
  writePidFile: (file: string, pid: number) => void
  removePidFile: (file: string, pid: number) => void
  /** Never throws: a full disk must not stop the supervisor (status.ts). */
  writeStatus: (file: string, status: SupervisorStatus) => void
  removeStatus: (file: string, pid: number) => void
}

export function nodeSupervisorOs (): SupervisorOs {
  return {
    get pid () { return process.pid },
    spawn: spawnGeneration,
    onSignal: (signal, handler) => {
      process.on(signal, handler)
      return () => { process.off(signal, handler) }
    },
    // Unlistened sockets and signal handlers do not keep Node's loop alive; with every worker
    // gone (a crash loop between restarts) the supervisor must still stay.
    keepAlive: () => {
      const timer = setInterval(() => {}, 2 ** 30)
      return () => { clearInterval(timer) }
    },
    watchOrphans,
    readFile: (file) => fs.readFileSync(file, 'utf8'),
    realpath: (p) => fs.realpathSync(p),
    identity: ownIdentity,
    writePidFile,
    removePidFile,
    writeStatus,
    removeStatus: removeStatusFile
  }
}
