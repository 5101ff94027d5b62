/**
 * One worker process as the supervisor keeps it: which slot it fills, which generation and
 * release it runs, where it is in its life. It starts with every socket the supervisor
 * holds, as the `--user` when one is given, its output labelled into the supervisor's.
 */
import type { Writable } from 'node:stream'
import { GracefulError } from '../errors.ts'
import type { NextGeneration } from '../handover/spawn.ts'
import { startAs, userEnv, type Credentials } from './credentials.ts'
import type { SupervisorClock, Timer } from './clock.ts'
import type { SupervisorOs } from './os.ts'
import { labelLines } from './output.ts'
import type { Release } from './release.ts'
import type { RollWorker } from './roll.ts'
import type { WorkerStatus } from './status.ts'

export interface Worker extends RollWorker {
  readonly slot: number
  readonly generation: number
  readonly release: Release
  readonly proc: NextGeneration
  readonly pid: number | undefined
  readonly startedAt: number
  readonly restarts: number
  readonly ready: Promise<void>
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  state: WorkerStatus['state']
  /** Set once it exited: a slot's worker may be dead while its restart waits. */
  gone: boolean
  /** Why its process never started (spawn's error: ENOENT, EACCES, EMFILE...). */
  startError?: string | undefined
  /** SIGKILL due once it outlived its drain (see WorkerSet.terminate). */
  killTimer?: Timer | undefined
  /** When its drain began, in ms of the monotonic clock. */
  drainingSince?: number | undefined
}

/** What every worker of a supervisor starts with. */
export interface WorkerLaunch {
  os: SupervisorOs
  clock: SupervisorClock
  command: readonly string[]
  /** The sockets passed at fds 3, 4, ..., read at each start: workers may have asked for more. */
  listeners: () => Array<{ fd: number, key: string }>
  user: Credentials | undefined
  setpriv: string | undefined
  stdout: Writable
  stderr: Writable
  onReady: (worker: Worker) => void
  onExit: (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void
  /** A message on the worker's channel, with the handle sent along if any (worker-requests.ts). */
  onMessage: (worker: Worker, message: unknown, handle: unknown) => void
}

export function startWorker (launch: WorkerLaunch, slot: number, release: Release, restarts: number): Worker {
  const { generation, env } = release
  const startedAt = launch.clock.now()
  let resolveReady: () => void = () => {}
  let rejectReady: (err: Error) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
  ready.catch(() => {}) // observed by whoever waits for it; a crash is handled in onExit
  const as = launch.user === undefined ? undefined : startAs(launch.user, release.launch, launch.setpriv)
  const proc = launch.os.spawn({
    launch: as?.launch ?? release.launch,
    env: launch.user === undefined ? env : userEnv(env, launch.user),
    listeners: launch.listeners(),
    parentPid: launch.os.pid,
    generation,
    worker: slot,
    output: 'pipe',
    ids: as?.ids
  }, {
    onReady: () => {
      worker.state = 'ready'
      resolveReady()
      launch.onReady(worker)
    },
    onExit: (code, signal) => rejectReady(new GracefulError('ERR_GRACEFUL_CHILD_EXITED', `worker ${slot} of generation ${generation} exited before it was ready (${signal ?? `code ${String(code)}`})`)),
    onError: (err) => {
      worker.startError = err.message
      rejectReady(new GracefulError('ERR_GRACEFUL_SPAWN', `cannot start \`${launch.command.join(' ')}\`: ${err.message}`))
    }
  })
  const worker: Worker = {
    slot, generation, release, proc, pid: proc.pid, startedAt, restarts, ready, exited: proc.exited, state: 'starting', gone: false
  }
  const label = `[g${generation} w${slot} ${proc.pid ?? '-'}]`
  labelLines(proc.stdout, launch.stdout, label)
  labelLines(proc.stderr, launch.stderr, label)
  proc.channel?.onMessage((message, handle) => launch.onMessage(worker, message, handle))
  void worker.exited.then(({ code, signal }) => launch.onExit(worker, code, signal))
  return worker
}
