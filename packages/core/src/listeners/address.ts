import { formatKey } from './key.ts'

/**
 * What a `server.listen(...)` call asks for, in every form Node accepts, reduced to the
 * address that identifies a listening socket across generations.
 */
export type ListenRequest =
  | { kind: 'tcp', host: string | undefined, port: number, backlog: number | undefined }
  | { kind: 'unix', path: string, backlog: number | undefined }
  // An explicit fd or handle: the app manages it itself, so it is passed through untouched.
  | { kind: 'passthrough' }

export interface ParsedListen {
  request: ListenRequest
  /** The options object when the call used one (readableAll, ipv6Only, signal...). */
  options: Record<string, unknown> | undefined
  callback: ((...args: unknown[]) => void) | undefined
}

function toPort (value: unknown): number | undefined {
  if (value === undefined || value === null) return 0
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 65535 ? value : undefined
  if (typeof value === 'string' && /^\d{1,5}$/.test(value)) return toPort(Number(value))
  return undefined
}

function backlogAt (args: unknown[], index: number): number | undefined {
  const value = args[index]
  return typeof value === 'number' ? value : undefined
}

export function parseListenArgs (args: unknown[]): ParsedListen {
  const last = args[args.length - 1]
  const callback = typeof last === 'function' ? last as ParsedListen['callback'] : undefined
  const rest = callback === undefined ? args : args.slice(0, -1)
  const first = rest[0]
  const passthrough: ParsedListen = { request: { kind: 'passthrough' }, options: undefined, callback }

  if (typeof first === 'object' && first !== null) {
    const options = first as Record<string, unknown>
    if (options.fd !== undefined || options.handle !== undefined || options._handle !== undefined) return passthrough
    const backlog = typeof options.backlog === 'number' ? options.backlog : undefined
    if (typeof options.path === 'string') {
      return { request: { kind: 'unix', path: options.path, backlog }, options, callback }
    }
    const port = toPort(options.port)
    if (port === undefined) return passthrough // Node itself throws ERR_SOCKET_BAD_PORT
    const host = typeof options.host === 'string' ? options.host : undefined
    return { request: { kind: 'tcp', host, port, backlog }, options, callback }
  }
  if (typeof first === 'string' && toPort(first) === undefined) {
    return { request: { kind: 'unix', path: first, backlog: backlogAt(rest, 1) }, options: undefined, callback }
  }
  const port = toPort(first)
  if (port === undefined) return passthrough
  const host = typeof rest[1] === 'string' ? rest[1] : undefined
  const backlog = backlogAt(rest, host === undefined ? 1 : 2)
  return { request: { kind: 'tcp', host, port, backlog }, options: undefined, callback }
}

/**
 * The name a listener carries from one generation to the next. It records what the app
 * asked for, not what the kernel gave: a `listen(0)` keeps its port because the next
 * generation asks for port 0 again and is handed the same socket.
 */
export function listenerKey (request: ListenRequest): string | undefined {
  return request.kind === 'passthrough' ? undefined : formatKey(request)
}

/** Canonical text form of an IP address, so `::1`, `0:0::1` and `[::1]` compare equal. */
export function canonicalHost (host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (!bare.includes(':')) return bare
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1)
  } catch {
    return bare
  }
}

const ANY_HOSTS = new Set(['0.0.0.0', '::'])
const LOCALHOST = new Set(['127.0.0.1', '::1'])

/** Whether a socket bound to `actualHost:actualPort` is what a `listen()` request asks for. */
export function tcpMatches (request: { host: string | undefined, port: number }, actualHost: string, actualPort: number): boolean {
  if (request.port !== 0 && request.port !== actualPort) return false
  const actual = canonicalHost(actualHost)
  if (request.host === undefined || request.host === '') return ANY_HOSTS.has(actual)
  if (request.host === 'localhost') return LOCALHOST.has(actual)
  return canonicalHost(request.host) === actual
}
