/**
 * The supervisor's state as a JSON file beside its PID file, rewritten atomically on every
 * change, so `graceful-restart status` needs no socket or protocol to read it. The fields
 * every status file has (identity, last handover) are in ../control-status.ts.
 */
import type { RollStatus } from './roll.ts'
import {
  ago, formatHandover, readStatusFile, writeStatusFile, type HandoverRecord, type StatusBase
} from '../control-status.ts'
import { formatReleaseStatus, type ReleaseStatus } from '../release/source.ts'

export interface WorkerStatus {
  slot: number
  pid: number | undefined
  generation: number
  /** 'restarting': it exited on its own and waits for its restart (backoff). */
  state: 'starting' | 'ready' | 'draining' | 'restarting'
  startedAt: number
  restarts: number
}

/** A socket the supervisor holds, and where it came from. */
export interface SocketStatus {
  key: string
  source: 'listen' | 'systemd' | 'worker'
  /** `host:port` it is bound to, when known: the port a `listen(0)` got. */
  address: string | undefined
  /** For `source: 'worker'`: the worker whose listen() made the supervisor bind it. */
  askedBy: string | undefined
}

export type HandoverStatus = HandoverRecord

export interface SupervisorStatus extends StatusBase {
  kind: 'supervisor'
  state: string
  startedAt: number
  generation: number
  command: string[]
  /** The sockets' keys (kept for readers of older status files; `sockets` says more). */
  listeners: string[]
  sockets?: SocketStatus[]
  workers: WorkerStatus[]
  /** The last reload's roll; absent until the first reload. */
  roll?: RollStatus | undefined
  handovers: { ok: number, failed: number }
  crashLoop: { since: number, crashes: number } | undefined
  /** `--watch` / `--fetch`: the running release, the last check, what was refused and why. */
  release?: ReleaseStatus | undefined
}

export function writeStatus (file: string, status: SupervisorStatus): void {
  try {
    writeStatusFile(file, status)
  } catch {
    // A full disk must not stop the supervisor. `reload`, `stop` and `status` then cannot
    // verify its PID and refuse to signal it, which is the safe side.
  }
}

export function readStatus (file: string): SupervisorStatus | undefined {
  return readStatusFile<SupervisorStatus>(file)
}

const SOURCES: Record<SocketStatus['source'], string> = { listen: 'from --listen', systemd: 'from systemd', worker: 'asked for by a worker' }

function socketLines (status: SupervisorStatus): string[] {
  const sockets = status.sockets ?? status.listeners.map((key) => ({ key, source: undefined, address: undefined, askedBy: undefined }))
  if (sockets.length === 0) return ['listeners   (none yet: bound when a worker listens)']
  return sockets.map((s) => {
    const bound = s.address === undefined || s.key.endsWith(`:${s.address}`) ? '' : ` on ${s.address}`
    const from = s.source === undefined ? '' : `  ${s.source === 'worker' && s.askedBy !== undefined ? `asked for by ${s.askedBy}` : SOURCES[s.source]}`
    return `listener    ${s.key}${bound}${from}`
  })
}

export function formatStatus (status: SupervisorStatus, alive: boolean, now = Date.now()): string {
  const lines = [
    `supervisor  pid ${status.pid} (${alive ? status.state : 'not running'}), up ${ago(now - status.startedAt)}`,
    `command     ${status.command.join(' ')}`,
    ...socketLines(status),
    `generation  ${status.generation}   handovers ok ${status.handovers.ok}, failed ${status.handovers.failed}`
  ]
  lines.push(formatHandover(status.lastHandover, now))
  if (status.release !== undefined) lines.push(...formatReleaseStatus(status.release, now))
  if (status.roll !== undefined) lines.push(formatRoll(status.roll, now))
  if (status.crashLoop !== undefined) lines.push(`crash loop  ${status.crashLoop.crashes} worker crashes since ${ago(now - status.crashLoop.since)} ago`)
  for (const w of status.workers) {
    lines.push(`worker ${w.slot}    pid ${w.pid ?? '-'}  generation ${w.generation}  ${w.state}  up ${ago(now - w.startedAt)}  restarts ${w.restarts}`)
  }
  return lines.join('\n')
}

/** `roll        2/4 on g5 (2 on g4), 1 at a time: STOPPED after 2345 ms: <why>` */
function formatRoll (roll: RollStatus, now: number): string {
  const others = roll.serving.filter((g) => g.generation !== roll.generation).map((g) => `${g.workers} on g${g.generation}`)
  const head = `roll        ${roll.replaced}/${roll.workers} on g${roll.generation}${others.length > 0 ? ` (${others.join(', ')})` : ''}, ${roll.surge} at a time`
  if (roll.state === 'rolling') return `${head}: rolling for ${ago(now - roll.startedAt)}`
  if (roll.state === 'done') return `${head}: done in ${roll.durationMs ?? '?'} ms`
  return `${head}: STOPPED after ${roll.durationMs ?? '?'} ms: ${roll.reason ?? 'unknown'}`
}
