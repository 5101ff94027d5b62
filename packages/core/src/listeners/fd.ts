/**
 * What the package needs of sockets that Node's public API does not give: the fd behind a
 * listening server (to pass it to the next generation), what the kernel says about an
 * inherited fd on Linux (to refuse a socket we should not own), a connection's response in
 * flight, its newest request and the TCP socket beneath a TLS one (for the drain), binding
 * without listening (for the supervisor), and listening on a socket the supervisor passed
 * over IPC. Kept in one file so that a Node release that moves them breaks here. (Beyond
 * sockets: the IPC channel's 'internalMessage', handover/channel.ts, and
 * process.moduleLoadList, handover/settle-tls.ts.)
 */
import fs from 'node:fs'
import { constants as osConstants } from 'node:os'
import { getSystemErrorName } from 'node:util'
import type { IncomingMessage, ServerResponse } from 'node:http'
import net, { type Server, type Socket } from 'node:net'
import { GracefulError } from '../errors.ts'
import { canonicalHost } from './address.ts'
import { hostPort } from './key.ts'

export type SocketInfo =
  | { kind: 'tcp', host: string, port: number, listening: boolean }
  | { kind: 'unix', path: string, listening: boolean }
  | { kind: 'unknown' }

interface HandleOwner { _handle?: { fd?: unknown } | null, _pipeName?: string }

/** The OS fd of a listening server, or undefined when the platform hides it (Windows). */
export function listeningFd (server: Server): number | undefined {
  const fd = (server as unknown as HandleOwner)._handle?.fd
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined
}

/**
 * The response an HTTP/1 connection is answering right now, if any. Node keeps it on the
 * socket while it runs and clears it when it finished; reading it at drain time spares a
 * listener on every request of the process's life.
 */
export function inFlightResponse (socket: Socket): ServerResponse | undefined {
  const res = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage
  return res !== null && res !== undefined && !res.writableFinished ? res : undefined
}

/**
 * Whether `res` answers the newest request read on its connection. A client that pipelines
 * has sent the next request before this response ended: Node keeps the newest request on
 * the connection's parser until it has been answered. Where that is unknown, it is.
 */
export function isNewestRequest (socket: Socket, res: ServerResponse): boolean {
  const incoming = (socket as unknown as { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming
  const req = (res as { req?: IncomingMessage }).req
  return incoming === null || incoming === undefined || req === undefined || incoming === req
}

/**
 * The TCP socket beneath a server-side TLS socket, or undefined for a plain one. Its byte
 * count also moves while a TLS record is still incomplete, which the TLS socket's cannot.
 */
export function transportOf (socket: Socket): Socket | undefined {
  const parent = (socket as unknown as { _parent?: unknown })._parent
  return parent instanceof net.Socket && parent !== socket ? parent : undefined
}

/** Whether this platform can pass listening sockets to a child process at all. */
export function canPassSockets (): boolean {
  return process.platform !== 'win32'
}

/**
 * After a unix socket was bound under a temporary name and renamed into place,
 * `server.address()` should still report the public path.
 */
export function setPipeName (server: Server, path: string): void {
  (server as unknown as HandleOwner)._pipeName = path
}

function inodeOf (fd: number): string | undefined {
  try {
    const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))
    return match?.[1]
  } catch {
    return undefined
  }
}

function hexToIpv4 (hex: string): string {
  // The kernel prints the address as a host-order 32-bit word (little-endian here).
  const bytes = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16))
  return bytes.join('.')
}

function hexToIpv6 (hex: string): string {
  const words: string[] = []
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8)
    const bytes = [6, 4, 2, 0].map((i) => word.slice(i, i + 2)).join('')
    words.push(bytes.slice(0, 4), bytes.slice(4, 8))
  }
  const full = words.join(':')
  const mapped = /^0000:0000:0000:0000:0000:ffff:([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(full)
  if (mapped?.[1] !== undefined && mapped[2] !== undefined) {
    const v4 = mapped[1] + mapped[2]
    return `::ffff:${[0, 2, 4, 6].map((i) => parseInt(v4.slice(i, i + 2), 16)).join('.')}`
  }
  return canonicalHost(full)
}

const TCP_LISTEN = '0A'
const UNIX_ACCEPTCON = 0x10000

/** The lines of a /proc table after its header, read in chunks so a caller can stop early. */
function * procLines (file: string): Generator<string> {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch {
    return
  }
  try {
    const buffer = Buffer.alloc(64 * 1024)
    let rest = ''
    let header = true
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null)
      if (n === 0) break
      const lines = (rest + buffer.toString('latin1', 0, n)).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (header) { header = false; continue }
        yield line
      }
    }
    if (rest !== '' && !header) yield rest
  } finally {
    fs.closeSync(fd)
  }
}

function findTcp (inode: string): SocketInfo | undefined {
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    for (const line of procLines(file)) {
      const f = line.trim().split(/\s+/)
      // The kernel lists listening sockets first, then every connection (TIME_WAIT included:
      // tens of thousands on a busy host). Only listening sockets are of interest here.
      if (f[3] !== TCP_LISTEN) break
      if (f[9] !== inode) continue
      const [addr, portHex] = (f[1] ?? '').split(':')
      if (addr === undefined || portHex === undefined) continue
      return { kind: 'tcp', host: v6 ? hexToIpv6(addr) : hexToIpv4(addr), port: parseInt(portHex, 16), listening: true }
    }
  }
  return undefined
}

function findUnix (inode: string): SocketInfo | undefined {
  for (const line of procLines('/proc/net/unix')) {
    const f = line.trim().split(/\s+/)
    if (f[6] !== inode) continue
    const flags = parseInt(f[3] ?? '0', 16)
    return { kind: 'unix', path: f.slice(7).join(' '), listening: (flags & UNIX_ACCEPTCON) !== 0 }
  }
  return undefined
}

/**
 * What an inherited fd is. Throws ERR_GRACEFUL_INHERITED_FD when the fd is closed or is not
 * a stream socket; answers `{ kind: 'unknown' }` where the kernel does not say more (no /proc).
 */
export function describeSocket (fd: number, boundOnly = false): SocketInfo {
  let stat: fs.Stats
  try {
    stat = fs.fstatSync(fd)
  } catch (err) {
    throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `inherited fd ${fd} is not open`, { cause: err })
  }
  if (!stat.isSocket()) throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `inherited fd ${fd} is not a socket`)
  const inode = inodeOf(fd)
  if (inode === undefined) return { kind: 'unknown' }
  const info = findTcp(inode) ?? findUnix(inode)
  // A TCP socket that is bound but not listening is in no /proc table at all.
  if (info === undefined && boundOnly) return { kind: 'unknown' }
  if (info === undefined) throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `inherited fd ${fd} is not a listening socket (no TCP or unix stream socket listens with it)`)
  return info
}

/**
 * Whether an fd can be the readiness channel a parent passed: a pipe, or a unix stream
 * socket that is not listening. Never a file, a terminal, a TCP socket or a listener.
 */
export function isReadinessChannel (fd: number): boolean {
  let stat: fs.Stats
  try {
    stat = fs.fstatSync(fd)
  } catch {
    return false
  }
  if (stat.isFIFO()) return true
  if (!stat.isSocket()) return false
  const inode = inodeOf(fd)
  if (inode === undefined) return true // no /proc: nothing more to check
  const info = findUnix(inode)
  return info?.kind === 'unix' && !info.listening
}

/** Closes an fd we inherited but nobody claimed. */
export function closeFd (fd: number): void {
  try {
    fs.closeSync(fd)
  } catch {
    // Already closed: nothing to release.
  }
}

/** A socket bound to its address but not listening: the supervisor holds it, workers accept on it. */
export interface BoundSocket {
  fd: number
  /** The libuv handle, which the supervisor passes to a worker over the IPC channel. */
  handle: object
  /** The address the kernel gave, `host:port` (the port of a `listen(0)`); undefined for unix sockets. */
  address: string | undefined
  close: () => void
}

interface ServerHandle { fd: number, close: () => void, getsockname?: (out: { address?: string, port?: number }) => number }
type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number, flags?: number) => ServerHandle | number

/** libuv's UV_TCP_IPV6ONLY, as Node passes it for `listen({ ipv6Only: true })`. */
const TCP_IPV6ONLY = 1

function createServerHandle (): CreateServerHandle {
  // Node's cluster module binds this way (SCHED_NONE); there is no public equivalent.
  const fn = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle
  if (typeof fn !== 'function') {
    throw new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'this Node.js runtime has no net._createServerHandle: the supervisor cannot bind sockets for its workers')
  }
  return fn
}

/** The coded error for a failed bind: ERR_GRACEFUL_ADDRESS_IN_USE or ERR_GRACEFUL_BIND, with the errno name. */
export function bindError (errno: number, what: string): GracefulError {
  let name: string
  try {
    name = getSystemErrorName(errno)
  } catch {
    name = `errno ${errno}`
  }
  const err = new GracefulError(name === 'EADDRINUSE' ? 'ERR_GRACEFUL_ADDRESS_IN_USE' : 'ERR_GRACEFUL_BIND', `cannot bind ${what}: ${name}`)
  return Object.assign(err, { errno: name, syscall: 'bind', address: what })
}

function bound (handle: ServerHandle | number, what: string): BoundSocket {
  if (typeof handle === 'number') throw bindError(handle, what)
  if (handle.getsockname === undefined) return { fd: handle.fd, handle, address: undefined, close: () => { handle.close() } }
  // libuv defers a TCP bind's EADDRINUSE to listen() and reports success: the socket is
  // left unbound, and a worker's listen() would then serve on a random port. An unbound
  // socket has port 0; a bound one never has (the kernel picks one for a bind to port 0).
  const out: { address?: string, port?: number } = {}
  if (handle.getsockname(out) !== 0 || out.port === undefined || out.port === 0) {
    handle.close()
    throw bindError(-(osConstants.errno.EADDRINUSE), what)
  }
  const address = hostPort(out.address ?? '', out.port)
  return { fd: handle.fd, handle, address, close: () => { handle.close() } }
}

/** Binds a TCP address without listening; `host` undefined means every address (:: or 0.0.0.0). */
export function bindTcpUnlistened (host: string | undefined, port: number, ipv6Only = false): BoundSocket {
  const create = createServerHandle()
  const flags = ipv6Only ? TCP_IPV6ONLY : 0
  if (host === undefined) {
    const any6 = create('::', port, 6, undefined, flags)
    return typeof any6 === 'number' ? bound(create('0.0.0.0', port, 4), hostPort('0.0.0.0', port)) : bound(any6, hostPort('::', port))
  }
  const v6 = host.includes(':')
  return bound(create(host, port, v6 ? 6 : 4, undefined, v6 ? flags : 0), hostPort(host, port))
}

/** Binds a unix socket path without listening; libuv removes the path when this handle closes. */
export function bindUnixUnlistened (path: string): BoundSocket {
  return bound(createServerHandle()(path, -1, -1), path)
}

/** A libuv handle for a listening fd the supervisor was given (systemd), so it can be passed over IPC. */
export function handleForFd (fd: number): object {
  const handle = createServerHandle()(null, null, null, fd)
  if (typeof handle === 'number') throw bindError(handle, `fd ${fd}`)
  return handle
}

// Handles received for unix sockets: see listenOnReceived.
const keptPipeHandles = new Set<object>()

/**
 * Listens on a socket the supervisor passed over the IPC channel. A TCP handle is adopted as
 * it is (`server.listen(handle)`). Node takes a Pipe handle only by its fd, which opens a
 * second libuv handle on the same fd: the received one is kept, unused and never closed,
 * since closing it would close the fd the server listens on.
 */
export function listenOnReceived (server: Server, original: (...args: unknown[]) => unknown, handle: object,
  backlog: number | undefined, callback: ((...a: unknown[]) => void) | undefined): void {
  const rest = callback === undefined ? [] : [callback]
  if (handle.constructor.name === 'TCP') {
    original.call(server, handle, ...(backlog === undefined ? [] : [backlog]), ...rest)
    return
  }
  keptPipeHandles.add(handle)
  original.call(server, { fd: (handle as { fd: number }).fd, backlog }, ...rest)
}
