import fs from 'node:fs'
import { encodeReady } from './protocol.ts'

/**
 * Tells the previous generation that this one is ready, then closes the pipe so that no
 * descriptor of the handover outlives it. Answers false when the parent is already gone.
 */
export function reportReady (fd: number, pid: number): boolean {
  try {
    fs.writeSync(fd, encodeReady(pid))
    return true
  } catch {
    return false
  } finally {
    try { fs.closeSync(fd) } catch {}
  }
}
