/**
 * What the supervisor runs beside its workers to upgrade them by itself: `--watch` (a
 * release changed on disk) and `--fetch` (a release published over HTTP). A source only
 * asks the supervisor to reload and learns the outcome; it never reaches into it.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import { ago } from '../control-status.ts'
import type { ChannelName } from '../diagnostics.ts'

export interface ReleaseHost {
  /**
   * Starts a reload that begins after this call (one already running is waited for first:
   * it may have started before the release changed) and resolves once the new workers
   * serve; rejects when they failed and the old ones kept serving.
   */
  reload: (trigger: string) => Promise<void>
  /** The source's status changed: write the status file. */
  changed: () => void
  log: (msg: string) => void
}

export interface ReleaseSource {
  start: (host: ReleaseHost) => void
  stop: () => void
  status: () => ReleaseStatus
}

export type RefusalReason = 'manifest' | 'download' | 'checksum' | 'signature' | 'unpack' | 'prepare' | 'not-ready'

export interface ReleaseStatus {
  /** The release the workers run: `current`'s target under --fetch. */
  running?: string | undefined
  watch?: { paths: string[], lastChange?: { at: number, paths: string[], ok: boolean, reason?: string } | undefined }
  fetch?: {
    url: string
    releases: string
    lastCheck?: { at: number, result: string, version?: string, error?: string } | undefined
    /** The last version downloaded, whatever came of it (refused ones too). */
    lastFetched?: { version: string, at: number } | undefined
    refused?: { version: string, reason: RefusalReason, message: string, at: number } | undefined
  }
}

/** Publishes to a diagnostics channel (in the supervisor's process) and logs the line. */
export function emit (host: ReleaseHost | undefined, channel: ChannelName, msg: string, data: Record<string, unknown>): void {
  const ch = diagnosticsChannel.channel(channel)
  if (ch.hasSubscribers) ch.publish(data)
  host?.log(msg)
}

export function formatReleaseStatus (status: ReleaseStatus, now: number): string[] {
  const lines: string[] = []
  if (status.running !== undefined) lines.push(`release     ${status.running}`)
  const w = status.watch
  if (w !== undefined) {
    const last = w.lastChange
    lines.push(`watching    ${w.paths.join(', ')}${last === undefined ? '' : `; changed ${ago(now - last.at)} ago, ${last.ok ? 'reloaded' : `reload FAILED: ${last.reason ?? ''}`}`}`)
  }
  const f = status.fetch
  if (f !== undefined) {
    const check = f.lastCheck
    lines.push(`fetching    ${f.url} into ${f.releases}`)
    lines.push(`last check  ${check === undefined ? 'not yet' : `${ago(now - check.at)} ago: ${check.result}${check.version === undefined ? '' : ` ${check.version}`}${check.error === undefined ? '' : ` (${check.error})`}`}`)
    if (f.lastFetched !== undefined) lines.push(`fetched     ${f.lastFetched.version} ${ago(now - f.lastFetched.at)} ago`)
    if (f.refused !== undefined) lines.push(`refused     ${f.refused.version} (${f.refused.reason}) ${ago(now - f.refused.at)} ago: ${f.refused.message}`)
  }
  return lines
}
