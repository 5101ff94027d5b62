import fs from 'node:fs'
import path from 'node:path'
import { GracefulError } from './errors.ts'

/**
 * Writes the PID file atomically (temporary file in the same directory, then rename), so a
 * reader such as systemd's PIDFile= never sees it empty or half written.
 */
export function writePidFile (file: string, pid: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`)
  try {
    fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o644 })
    fs.renameSync(tmp, file)
  } catch (err) {
    try { fs.unlinkSync(tmp) } catch {}
    throw new GracefulError('ERR_GRACEFUL_PIDFILE', `cannot write PID file ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/** The pid the file names, or undefined when it is missing or unreadable. */
export function readPidFile (file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim()
    return /^\d+$/.test(text) ? Number(text) : undefined
  } catch {
    return undefined
  }
}

/** Removes the PID file if it still names `pid` (a newer generation may own it by now). */
export function removePidFile (file: string, pid: number): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(pid)) fs.unlinkSync(file)
  } catch {
    // Missing or unreadable: nothing of ours to remove.
  }
}
