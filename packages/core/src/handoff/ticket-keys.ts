/**
 * TLS session resumption across generations. Node gives each TLS server random session
 * ticket keys, so a ticket issued by one generation cannot be read by the next: after a
 * handover every returning client pays a full handshake, all at once. The next generation
 * therefore takes over the current keys, over the handover channel (never through the
 * environment or a file). Rotating them stays the app's business (`setTicketKeys()` on its
 * own schedule); a server created with its own `ticketKeys` option keeps them.
 */
import type { Server } from 'node:net'
import tls from 'node:tls'
import type { TicketKeyEntry } from './protocol.ts'

/** The current keys of each TLS listener. */
export function ticketKeysOf (servers: ReadonlyArray<{ server: Server, key: string | undefined }>): TicketKeyEntry[] {
  const out: TicketKeyEntry[] = []
  for (const { server, key } of servers) {
    if (key === undefined || !(server instanceof tls.Server)) continue
    try {
      out.push({ key, keys: server.getTicketKeys().toString('hex') })
    } catch {
      // A server without a secure context yet has no keys to pass.
    }
  }
  return out
}

/**
 * Gives `server` the previous generation's keys, unless the app chose its own (the
 * `ticketKeys` option). Answers whether they were set.
 */
export function takeTicketKeys (server: Server, hex: string): boolean {
  if (!(server instanceof tls.Server)) return false
  if ((server as { ticketKeys?: unknown }).ticketKeys !== undefined) return false
  try {
    server.setTicketKeys(Buffer.from(hex, 'hex'))
    return true
  } catch {
    return false
  }
}
