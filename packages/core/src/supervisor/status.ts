/**
 * The supervisor's state as a JSON file beside its PID file, rewritten atomically on every
 * change, so `graceful-restart status` needs no socket or protocol to read it.
 */
import fs from 'node:fs'
import path from 'node:path'

export interface WorkerStatus {
  slot: number
  pid: number | undefined
  generation: number
  state: 'starting' | 'ready' | 'draining'
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

export interface HandoverStatus {
  ok: boolean
  generation: number
  at: number
  durationMs: number
  reason?: string
}

export interface SupervisorStatus {
  pid: number
  state: string
  startedAt: number
  generation: number
  command: string[]
  /** The sockets' keys (kept for readers of older status files; `sockets` says more). */
  listeners: string[]
  sockets?: SocketStatus[]
  workers: WorkerStatus[]
  lastHandover: HandoverStatus | undefined
  handovers: { ok: number, failed: number }
  crashLoop: { since: number, crashes: number } | undefined
}

export function writeStatus (file: string, status: SupervisorStatus): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    fs.writeFileSync(tmp, JSON.stringify(status, null, 2) + '\n')
    fs.renameSync(tmp, file)
  } catch {
    // Status is a convenience: a full disk must not stop the supervisor.
    try { fs.unlinkSync(tmp) } catch {}
  }
}

export function readStatus (file: string): SupervisorStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SupervisorStatus
  } catch {
    return undefined
  }
}

function ago (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  return `${(s / 3600).toFixed(1)}h`
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
  const h = status.lastHandover
  lines.push(h === undefined
    ? 'last        no handover yet'
    : `last        generation ${h.generation} ${h.ok ? 'ready' : 'FAILED'} in ${h.durationMs} ms, ${ago(now - h.at)} ago${h.reason === undefined ? '' : `: ${h.reason}`}`)
  if (status.crashLoop !== undefined) lines.push(`crash loop  ${status.crashLoop.crashes} worker crashes since ${ago(now - status.crashLoop.since)} ago`)
  for (const w of status.workers) {
    lines.push(`worker ${w.slot}    pid ${w.pid ?? '-'}  generation ${w.generation}  ${w.state}  up ${ago(now - w.startedAt)}  restarts ${w.restarts}`)
  }
  return lines.join('\n')
}
