/**
 * The only file that reaches past Node's public API: the fd behind a listening server
 * (needed to pass it to the next generation) and, on Linux, what the kernel says about an
 * inherited fd (needed to refuse a socket we should not own).
 */
import fs from 'node:fs'
import type { Server } from 'node:net'
import { GracefulError } from '../errors.ts'
import { canonicalHost } from './address.ts'

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

function readProc (file: string): string[] {
  try {
    return fs.readFileSync(file, 'latin1').split('\n').slice(1)
  } catch {
    return []
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

function findTcp (inode: string): SocketInfo | undefined {
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    for (const line of readProc(file)) {
      const f = line.trim().split(/\s+/)
      if (f[9] !== inode) continue
      const [addr, portHex] = (f[1] ?? '').split(':')
      if (addr === undefined || portHex === undefined) continue
      return { kind: 'tcp', host: v6 ? hexToIpv6(addr) : hexToIpv4(addr), port: parseInt(portHex, 16), listening: f[3] === TCP_LISTEN }
    }
  }
  return undefined
}

function findUnix (inode: string): SocketInfo | undefined {
  for (const line of readProc('/proc/net/unix')) {
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
export function describeSocket (fd: number): SocketInfo {
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
  if (info === undefined) throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `inherited fd ${fd} is not a TCP or unix stream socket`)
  return info
}

/** Closes an fd we inherited but nobody claimed. */
export function closeFd (fd: number): void {
  try {
    fs.closeSync(fd)
  } catch {
    // Already closed: nothing to release.
  }
}
