/**
 * The status file beside a PID file (by default FILE.json). It says who wrote the PID file
 * (its identity, so `graceful-restart reload|stop|status` never signal a stranger that got
 * the PID later) and how the last handover ended (so `reload --wait` can report it).
 * Written by the supervisor (supervisor/status.ts adds its workers) and, in re-exec mode, by
 * the generation that owns the PID file: on ready, once its parent took the report, and on
 * a rollback. Always before the PID file names a new process, or right after, never long
 * apart: readers wait until both name the same PID.
 */
import fs from 'node:fs'
import { writeFileAtomic } from './atomic-write.ts'
import type { ProcessIdentity } from './identity.ts'

export interface HandoverRecord {
  ok: boolean
  /** The generation that was started (on failure: the one that did not take over). */
  generation: number
  /** Wall clock when it ended. */
  at: number
  durationMs: number
  /**
   * CLOCK_MONOTONIC µs when it began, i.e. when the signal was handled (see clock.ts).
   * `reload --wait` counts a result as its own only if it began after its signal.
   */
  startedMonoUs: number
  reason?: string
}

export interface StatusBase {
  kind: 'supervisor' | 'generation'
  pid: number
  identity: ProcessIdentity
  /** The signal that starts a handover in this process; null when none is routed. */
  reloadSignal: NodeJS.Signals | null
  lastHandover: HandoverRecord | undefined
}

/** Re-exec mode: the live generation's status. */
export interface GenerationStatus extends StatusBase {
  kind: 'generation'
  generation: number
  startedAt: number
  /** Where the process runs (`graceful.context.kind`); absent from releases before it existed. */
  context?: string
}

export const STATUS_FILE_MODE = 0o644

/** Where the status of a PID file lives unless told otherwise. */
export function statusFileOf (pidFile: string): string {
  return `${pidFile}.json`
}

/** Throws the OS error; callers decide whether a status is worth failing for. */
export function writeStatusFile (file: string, status: StatusBase): void {
  writeFileAtomic(file, JSON.stringify(status, null, 2) + '\n', STATUS_FILE_MODE)
}

export function readStatusFile<T extends StatusBase = StatusBase> (file: string): T | undefined {
  try {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<T>
    return typeof value === 'object' && value !== null && typeof value.pid === 'number' ? value as T : undefined
  } catch {
    return undefined
  }
}

/** Removes the status file if it still describes `pid` (a newer process may own it by now). */
export function removeStatusFile (file: string, pid: number): void {
  if (readStatusFile(file)?.pid === pid) fs.rmSync(file, { force: true })
}

export function ago (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  return `${(s / 3600).toFixed(1)}h`
}

export function formatHandover (h: HandoverRecord | undefined, now: number): string {
  return h === undefined
    ? 'last        no handover yet'
    : `last        generation ${h.generation} ${h.ok ? 'ready' : 'FAILED'} in ${h.durationMs} ms, ${ago(now - h.at)} ago${h.reason === undefined ? '' : `: ${h.reason}`}`
}

export function formatGenerationStatus (status: GenerationStatus, now = Date.now()): string {
  return [
    `app         pid ${status.pid}, generation ${status.generation} (re-exec mode), up ${ago(now - status.startedAt)}`,
    ...(status.context === undefined ? [] : [`context     ${status.context}`]),
    formatHandover(status.lastHandover, now)
  ].join('\n')
}
