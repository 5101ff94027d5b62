/**
 * The connection handoff's reach past Node's public API (listeners/fd.ts is the other
 * place): stopping and restarting a connection's reads at the libuv handle, telling whether
 * the HTTP parser holds part of a request, and making a socket passed by another process
 * one of a server's own connections.
 *
 * Node's HTTP server parses in native code straight from the handle (the parser "consumes"
 * the stream), so no 'data' event says a byte came, and `socket.pause()` does not stop the
 * reads. `handle.readStop()` does: what the client sends from then on stays in the kernel's
 * receive buffer, which belongs to the socket and so travels with it to another process.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import http, { type IncomingMessage, type Server as HttpServer } from 'node:http'
import net, { type Server, type Socket } from 'node:net'

interface StreamHandle {
  readStop: () => number
  readStart: () => number
  reading?: boolean
  close: (callback?: () => void) => void
}

interface SocketInternals {
  _handle?: StreamHandle | null
  /** Set by the HTTP server while it holds back reads for a response to drain (pipelining). */
  _paused?: boolean
  parser?: { incoming?: IncomingMessage | null } | null
  server?: Server
  _server?: Server
}

interface ServerInternals {
  _connections: number
  keepAliveTimeout?: number
  /** Node 24.6+ (1000 ms before, fixed). */
  keepAliveTimeoutBuffer?: number
  headersTimeout?: number
  requestTimeout?: number
  timeout?: number
  allowHalfOpen?: boolean
  pauseOnConnect?: boolean
  highWaterMark?: number
}

const internals = (socket: Socket): SocketInternals => socket as unknown as SocketInternals

/** A plain HTTP/1 server (not HTTPS, not HTTP/2): the only kind whose connections are handed off. */
export function servesPlainHttp (server: Server): server is HttpServer {
  return server instanceof http.Server
}

/** The libuv handle of a connection: what is passed to the next generation. */
export function handleOf (socket: Socket): object | undefined {
  return internals(socket)._handle ?? undefined
}

/** A TCP connection (not a unix socket one, and not a TLS socket, whose handle is a TLS wrap). */
export function isTcpConnection (socket: Socket): boolean {
  return handleOf(socket)?.constructor.name === 'TCP'
}

/** Stops reading from the kernel. Answers whether it was reading (false: nothing to restart later). */
export function pauseReads (socket: Socket): boolean {
  const handle = internals(socket)._handle
  if (handle === null || handle === undefined || socket.destroyed) return false
  const was = handle.reading !== false
  handle.reading = false
  handle.readStop()
  return was
}

/** Reads again, after pauseReads() answered true. */
export function resumeReads (socket: Socket): void {
  const handle = internals(socket)._handle
  if (handle === null || handle === undefined || socket.destroyed) return
  handle.reading = true
  handle.readStart()
}

/**
 * Whether the HTTP parser of this connection holds nothing of a request: its last request
 * was read whole (Node keeps it on the parser until the app, or Node itself, consumed its
 * end, a tick after the response), not held back (a held parser may keep bytes it has read
 * but not parsed yet), and nothing of the last response left to write. Bytes of a next
 * request are the caller's to rule out (the drain's byte count).
 */
export function parserIdle (socket: Socket): boolean {
  const s = internals(socket)
  if (s._paused === true || s.parser === null || s.parser === undefined) return false
  const incoming = s.parser.incoming
  return (incoming === null || incoming === undefined || incoming.complete) && socket.writableLength === 0
}

/** Sockets adopted from the previous generation that have not started a request yet. */
const awaitingRequest = new Set<Socket>()
const REQUEST_START = 'http.server.request.start'

function onRequestStart (message: unknown): void {
  const { socket, server } = message as { socket: Socket, server: ServerInternals }
  if (!awaitingRequest.delete(socket)) return
  // What Node does when a keep-alive connection's next request starts.
  socket.setTimeout(server.timeout ?? 0)
  if (awaitingRequest.size === 0) diagnosticsChannel.unsubscribe(REQUEST_START, onRequestStart)
}

/**
 * How long an adopted connection may stay idle before it is closed: a whole keep-alive
 * timeout, counted anew (closing earlier than the client expects is what races its next
 * request). Node counts a connection's parser as waiting for headers from the moment it
 * is set up, so a connection still idle at `headersTimeout` would be answered 408: it is
 * closed a second before that instead, silently, as an idle keep-alive connection is.
 */
export function adoptedIdleTimeout (server: Pick<ServerInternals, 'keepAliveTimeout' | 'keepAliveTimeoutBuffer' | 'headersTimeout' | 'requestTimeout'>): number {
  const keepAlive = server.keepAliveTimeout ?? 0
  const buffer = server.keepAliveTimeoutBuffer ?? 1000
  let ms = keepAlive > 0 ? keepAlive + buffer : Infinity
  for (const limit of [server.headersTimeout ?? 0, server.requestTimeout ?? 0]) {
    if (limit > 0) ms = Math.min(ms, limit - 1000)
  }
  return ms === Infinity ? 0 : Math.max(1, Math.round(ms))
}

/**
 * Makes a connection handle passed by the previous generation one of `server`'s own
 * connections, as if it had just been accepted. Its reads start now: whatever the client
 * sent meanwhile is waiting in the kernel.
 */
export function adoptConnection (server: HttpServer, handle: object): Socket {
  const s = server as unknown as ServerInternals
  const socket = new net.Socket({
    handle,
    allowHalfOpen: s.allowHalfOpen ?? false,
    pauseOnCreate: s.pauseOnConnect ?? false,
    readable: true,
    writable: true,
    ...(s.highWaterMark === undefined ? {} : { readableHighWaterMark: s.highWaterMark, writableHighWaterMark: s.highWaterMark })
  } as net.SocketConstructorOpts)
  // As net.Server does for an accepted connection: close() and getConnections() count it.
  s._connections++
  internals(socket).server = server
  internals(socket)._server = server
  server.emit('connection', socket)
  const timeout = adoptedIdleTimeout(s)
  if (timeout > 0 && !socket.destroyed) {
    socket.setTimeout(timeout)
    if (awaitingRequest.size === 0) diagnosticsChannel.subscribe(REQUEST_START, onRequestStart)
    awaitingRequest.add(socket)
    socket.once('close', () => {
      if (awaitingRequest.delete(socket) && awaitingRequest.size === 0) diagnosticsChannel.unsubscribe(REQUEST_START, onRequestStart)
    })
  }
  return socket
}

/** Closes a passed handle that is not adopted: the connection lives on in the other process's copy. */
export function closeHandle (handle: object): void {
  try {
    (handle as StreamHandle).close()
  } catch {
    // Already closed.
  }
}
