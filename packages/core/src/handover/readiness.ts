import fs from 'node:fs'
import net from 'node:net'
import { encodeReady } from './protocol.ts'

/**
 * Tells the previous generation that this one is ready, then closes the pipe so that no
 * descriptor of the handover outlives it. Answers false when the parent is already gone.
 */
export function reportReady (fd: number, pid: number, onReleased?: () => void): boolean {
  try {
    fs.writeSync(fd, encodeReady(pid))
  } catch {
    try { fs.closeSync(fd) } catch {}
    onReleased?.() // the parent is gone: nobody else serves
    return false
  }
  if (onReleased === undefined) {
    try { fs.closeSync(fd) } catch {}
    return true
  }
  // The parent closes its end once it took the report (release()), or dies: from then on
  // this generation is the one that serves. A parent that timed out never closes it.
  const channel = new net.Socket({ fd, readable: true, writable: false })
  channel.on('error', () => {})
  channel.once('close', onReleased)
  channel.resume()
  channel.unref()
  return true
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
