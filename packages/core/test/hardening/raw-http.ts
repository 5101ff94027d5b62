// An HTTP/1.1 client written by hand over any connected stream (TCP or TLS), so a test
// decides when each byte leaves: headers in pieces, pipelined requests, a body in parts.
// Reads responses that carry a Content-Length.
import { once } from 'node:events'
import net from 'node:net'
import type { Duplex } from 'node:stream'

export interface RawResponse { status: number, headers: Record<string, string>, body: string, at: number }

export interface RawClient {
  send: (text: string) => void
  /** The next complete response, in order; rejects if the connection closes first. */
  next: () => Promise<RawResponse>
  /** When the connection closed, and the error it closed with (undefined: a clean end). */
  closed: Promise<{ at: number, error: string | undefined }>
  destroy: () => void
}

export function rawHttp (socket: Duplex, name = 'connection'): RawClient {
  let buf = Buffer.alloc(0)
  const ready: RawResponse[] = []
  const waiting: Array<(r: RawResponse) => void> = []
  let error: string | undefined
  const closed = new Promise<{ at: number, error: string | undefined }>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
    socket.on('close', () => resolve({ at: Date.now(), error }))
  })
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const length = Number(headers['content-length'] ?? 0)
      if (buf.length < end + 4 + length) return
      const response = { status: Number(lines[0]?.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString('utf8'), at: Date.now() }
      buf = buf.subarray(end + 4 + length)
      const waiter = waiting.shift()
      if (waiter !== undefined) waiter(response)
      else ready.push(response)
    }
  })
  return {
    send: (text) => { socket.write(text) },
    next: async () => await new Promise<RawResponse>((resolve, reject) => {
      const r = ready.shift()
      if (r !== undefined) {
        resolve(r)
        return
      }
      waiting.push(resolve)
      void closed.then((c) => { reject(new Error(`${name}: closed before a response (${c.error ?? 'FIN'})`)) })
    }),
    closed,
    destroy: () => socket.destroy()
  }
}

/** A raw client on a new TCP connection to 127.0.0.1:`port`, once connected; `socket.localPort` tells the server's side which connection it is. */
export async function connectRaw (port: number, name?: string): Promise<RawClient & { socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  return { ...rawHttp(socket, name), socket }
}

export const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`
