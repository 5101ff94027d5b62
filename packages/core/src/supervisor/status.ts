/**
 * The supervisor's state as a JSON file beside its PID file, rewritten atomically on every
 * change, so `graceful-restart status` needs no socket or protocol to read it.
 */
import fs from 'node:fs'
import { writeFileAtomic } from '../atomic-write.ts'

export interface WorkerStatus {
  slot: number
  pid: number | undefined
  generation: number
  state: 'starting' | 'ready' | 'draining'
  startedAt: number
  restarts: number
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
  listeners: string[]
  workers: WorkerStatus[]
  lastHandover: HandoverStatus | undefined
  handovers: { ok: number, failed: number }
  crashLoop: { since: number, crashes: number } | undefined
}

export function writeStatus (file: string, status: SupervisorStatus): void {
  try {
    writeFileAtomic(file, JSON.stringify(status, null, 2) + '\n', 0o644)
  } catch {
    // Status is a convenience: a full disk must not stop the supervisor.
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

export function formatStatus (status: SupervisorStatus, alive: boolean, now = Date.now()): string {
  const lines = [
    `supervisor  pid ${status.pid} (${alive ? status.state : 'not running'}), up ${ago(now - status.startedAt)}`,
    `command     ${status.command.join(' ')}`,
    `listeners   ${status.listeners.join(', ') || '(none)'}`,
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
