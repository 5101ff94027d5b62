import type { Writable } from 'node:stream'
import type { InheritedSocket } from '../listeners/inherit.ts'
import type { ReleaseSource } from '../release/source.ts'
import type { Credentials } from './credentials.ts'
import type { SupervisorClock } from './clock.ts'
import type { SupervisorOs } from './os.ts'
import type { ReleaseSpec } from './release.ts'
import type { UnixSocketOptions } from './sockets.ts'

/** What `graceful-restart run` was given (cli/run-command.ts), and the seam unit tests replace. */
export interface SupervisorOptions extends ReleaseSpec {
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
  envFiles: string[]
  /** At most this many old generations drain at once (see drain-cap.ts). */
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
  /** Default: Node's (os.ts). */
  os?: SupervisorOs
  /** Default: Node's timers and clocks (os.ts). */
  clock?: SupervisorClock
}
