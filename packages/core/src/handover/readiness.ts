import fs from 'node:fs'
import net from 'node:net'
import { encodeReady } from './protocol.ts'

/**
 * Tells the parent (previous generation or supervisor) that this generation is ready.
 * Without `onClosed` the pipe is closed at once. With it, the pipe stays open and
 * `onClosed` runs when the other end goes away: a previous generation closes it once it
 * took the report (from then on this one serves), a supervisor only when it is gone, even
 * SIGKILLed (then this worker must not outlive it). A parent that timed out and stops us
 * never closes it. Answers false, after `onClosed`, when the parent is already gone.
 */
export function reportReady (fd: number, pid: number, onClosed?: () => void): boolean {
  try {
    fs.writeSync(fd, encodeReady(pid))
  } catch {
    try { fs.closeSync(fd) } catch {}
    onClosed?.()
    return false
  }
  if (onClosed === undefined) {
    try { fs.closeSync(fd) } catch {}
    return true
  }
  const channel = new net.Socket({ fd, readable: true, writable: false })
  channel.on('error', () => {})
  channel.once('close', onClosed)
  channel.resume()
  channel.unref()
  return true
}
