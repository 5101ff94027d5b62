import fs from 'node:fs'
import { writeFileAtomic } from './atomic-write.ts'
import { GracefulError } from './errors.ts'

export const PID_FILE_MODE = 0o644

/** Writes the PID file atomically and safely (see atomic-write.ts), mode 0644. */
export function writePidFile (file: string, pid: number): void {
  try {
    writeFileAtomic(file, `${pid}\n`, PID_FILE_MODE)
  } catch (err) {
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
