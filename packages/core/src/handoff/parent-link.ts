/**
 * A generation's end of the channel its parent (the previous generation) opened for the
 * handover: Node's IPC channel, set up by Node at start-up since the parent spawned us with
 * one. The app never sees our messages (handoff/protocol.ts), but Node makes the channel
 * visible as `process.send`; once it closed (the parent exited), `process.send` is removed
 * again, so that an app checking `if (process.send)` behaves as in the first generation.
 *
 * While the channel is open, our 'disconnect' listener keeps it referenced (Node refs the
 * channel for such a listener): at most for the parent's drain, which closes it at its end.
 */
import type { GenerationLink } from './protocol.ts'

type Send = (message: unknown, handle: undefined, options: undefined, callback: (err: Error | null) => void) => boolean

/** The parts of `process` the link uses; tests pass a fake. */
export interface ProcessEnd {
  send?: Send | ((...args: never[]) => unknown) | undefined
  readonly connected?: boolean
  on: (event: 'internalMessage', fn: (...args: never[]) => void) => unknown
  once: (event: 'disconnect', fn: () => void) => unknown
  disconnect?: () => void
}

export function openParentLink (end: ProcessEnd = process as unknown as ProcessEnd): GenerationLink | undefined {
  const ownSend = end.send
  if (typeof ownSend !== 'function' || end.connected === false) return undefined
  const send = ownSend.bind(end) as Send
  const onClosed: Array<() => void> = []
  let closed = false
  end.once('disconnect', () => {
    closed = true
    if (end.send === ownSend) delete (end as { send?: unknown }).send
    for (const fn of onClosed.splice(0)) fn()
  })
  return {
    send: (message) => new Promise<void>((resolve, reject) => {
      if (end.connected === false) {
        reject(new Error('the channel is closed'))
        return
      }
      try {
        // false only means the message was queued behind others: it is still sent.
        send(message, undefined, undefined, (err) => { if (err === null) resolve(); else reject(err) })
      } catch (err) {
        reject(err as Error)
      }
    }),
    onMessage: (fn) => { end.on('internalMessage', fn as (...args: never[]) => void) },
    onDisconnect: (fn) => {
      if (closed) queueMicrotask(fn)
      else onClosed.push(fn)
    },
    disconnect: () => {
      try {
        if (end.connected !== false) end.disconnect?.()
      } catch {
        // Already closed.
      }
    }
  }
}
