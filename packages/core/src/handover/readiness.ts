import fs from 'node:fs'
import net from 'node:net'
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

/**
 * Under the supervisor the readiness pipe stays open after the ready message: its other end
 * lives in the supervisor, so EOF means the supervisor is gone (even SIGKILLed) and this
 * worker must not outlive it.
 */
export function reportReadyAndWatch (fd: number, pid: number, onGone: () => void): boolean {
  try {
    fs.writeSync(fd, encodeReady(pid))
  } catch {
    onGone()
    return false
  }
  const lifeline = new net.Socket({ fd, readable: true, writable: false })
  lifeline.on('error', () => {})
  lifeline.once('close', onGone)
  lifeline.resume()
  lifeline.unref()
  return true
}
