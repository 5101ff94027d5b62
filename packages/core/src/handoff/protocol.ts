/**
 * What two generations say to each other over the channel the older one opens to the newer
 * one for the handover (Node's IPC channel, which carries sockets beside JSON messages).
 * The newer generation learns of it from GRACEFUL_RESTART_HANDOFF (the channel version).
 *
 * Every message carries `cmd: 'NODE_GRACEFUL_RESTART_HANDOFF'`: Node delivers a `cmd`
 * starting with `NODE_` as 'internalMessage', never to the app's `process.on('message')`.
 *
 * New -> old, once at start-up:
 *   { type: 'hello' }                 proves the new generation speaks this protocol; no
 *                                     connection is offered to one that never said it
 * Old -> new:
 *   { type: 'welcome', ticketKeys }   the TLS session ticket keys of each TLS listener:
 *                                     `[{ key, keys }]`, keys as 96 hex digits (48 bytes)
 *   { type: 'offer', id, key }         with a connection's socket: an idle keep-alive
 *                                     connection of the listener `key`
 * New -> old:  { type: 'claim', id } | { type: 'decline', id, reason }
 * Old -> new:  { type: 'commit', id } | { type: 'abort', id }
 *
 * The old generation alone decides who serves a connection: it stops reading before the
 * offer and answers a claim with `commit` only while the offer still stands (it had not
 * timed out and read nothing since); the new generation reads from the socket only after
 * `commit`. So a connection is never read by both, and one that cannot be passed in time
 * stays where it was.
 */
import type { Clock } from '../clock.ts'

export const HANDOFF_VERSION = 1
export const HANDOFF_CMD = 'NODE_GRACEFUL_RESTART_HANDOFF'

export interface TicketKeyEntry { key: string, keys: string }

export type HandoffMessage =
  | { type: 'hello' }
  | { type: 'welcome', ticketKeys: TicketKeyEntry[] }
  | { type: 'offer', id: number, key: string }
  | { type: 'claim', id: number }
  | { type: 'decline', id: number, reason: string }
  | { type: 'commit', id: number }
  | { type: 'abort', id: number }

/** One end of the channel between two generations (the parent's child, or the child's process). */
export interface GenerationLink {
  /** Resolves once written to the channel; rejects when it is closed. `handle`: a connection's libuv handle. */
  send: (message: object, handle?: object) => Promise<void>
  /** Every message of the library's (Node's internal messages); the app's own are not delivered here. */
  onMessage: (fn: (message: unknown, handle: unknown) => void) => void
  /** Runs once the channel closed (the other end exited or disconnected). */
  onDisconnect: (fn: () => void) => void
  disconnect: () => void
}

/** The timers the handoff waits with: the platform's clock (clock.ts), so unit tests drive them by hand. */
export type HandoffTimers = Pick<Clock, 'setTimeout' | 'clearTimeout'>

const MAX_TEXT = 4096
const TICKET_KEYS = /^[0-9a-f]{96}$/

export function encode (message: HandoffMessage): object {
  return { cmd: HANDOFF_CMD, v: HANDOFF_VERSION, ...message }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0
const isKey = (value: unknown): value is string => typeof value === 'string' && /^(tcp|unix):/.test(value) && value.length <= MAX_TEXT

/** One of our messages, or undefined when the value is not ours or is malformed (ignored). */
export function decode (value: unknown): HandoffMessage | undefined {
  if (!isObject(value) || value.cmd !== HANDOFF_CMD || typeof value.v !== 'number' || value.v < 1) return undefined
  switch (value.type) {
    case 'hello':
      return { type: 'hello' }
    case 'welcome': {
      if (!Array.isArray(value.ticketKeys) || value.ticketKeys.length > 1024) return undefined
      const ticketKeys: TicketKeyEntry[] = []
      for (const entry of value.ticketKeys as unknown[]) {
        if (!isObject(entry) || !isKey(entry.key) || typeof entry.keys !== 'string' || !TICKET_KEYS.test(entry.keys)) return undefined
        ticketKeys.push({ key: entry.key, keys: entry.keys })
      }
      return { type: 'welcome', ticketKeys }
    }
    case 'offer':
      return isId(value.id) && isKey(value.key) ? { type: 'offer', id: value.id, key: value.key } : undefined
    case 'decline':
      if (!isId(value.id)) return undefined
      return { type: 'decline', id: value.id, reason: typeof value.reason === 'string' ? value.reason.slice(0, MAX_TEXT) : 'declined' }
    case 'claim':
    case 'commit':
    case 'abort':
      return isId(value.id) ? { type: value.type, id: value.id } : undefined
    default:
      return undefined
  }
}
