/**
 * The supervisor's sockets: parsed from `--listen`, adopted from systemd when it passed them,
 * or asked for by a worker whose `listen()` names an address the supervisor does not hold
 * yet; the supervisor binds each once, without listening, and keeps it. It never accepts a
 * connection: the first worker's listen() turns the socket into a listening one, and it stays
 * listening for as long as the supervisor holds it, so connections queue in the kernel even
 * while no worker runs. Every worker started later gets all of them at fds 3, 4, ...
 */
import dns from 'node:dns'
import fs from 'node:fs'
import net from 'node:net'
import { GracefulError } from '../errors.ts'
import { listenerKey, type ListenRequest } from '../listeners/address.ts'
import { formatKey } from '../listeners/key.ts'
import { takeOverUnixPath } from '../listeners/unix-path.ts'
import { bindTcpUnlistened, bindUnixUnlistened, handleForFd, type BoundSocket } from '../listeners/fd.ts'
import type { InheritedSocket } from '../listeners/inherit.ts'
import { ListenerRegistry } from '../listeners/registry.ts'
import type { SocketSpec } from '../handover/channel.ts'

/** Where a socket came from: `--listen`, systemd socket activation, or a worker's listen(). */
export type SocketSource = 'listen' | 'systemd' | 'worker'

export interface SupervisedSocket {
  key: string
  fd: number
  source: SocketSource
  /** `host:port` it is bound to when known: the port a `listen(0)` got. */
  address: string | undefined
  /** For a socket a worker asked for: which worker, for status and logs. */
  askedBy: string | undefined
  /** The libuv handle passed to a worker over IPC (made on demand for systemd's fds). */
  handle: () => object
  close: () => void
}

/** `--socket-mode` and `--socket-group`: applied to every unix socket the supervisor binds. */
export interface UnixSocketOptions {
  mode: number | undefined
  gid: number | undefined
}

/** `8080`, `:8080`, `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, `unix:/run/app.sock`, `/run/app.sock`. */
export function parseListenAddress (text: string): ListenRequest & { kind: 'tcp' | 'unix' } {
  const fail = (): never => {
    throw new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `--listen ${JSON.stringify(text)}: expected PORT, HOST:PORT, [IPv6]:PORT or unix:/path`)
  }
  if (text.startsWith('unix:')) return text.length > 5 ? { kind: 'unix', path: text.slice(5), backlog: undefined } : fail()
  if (text.startsWith('/')) return { kind: 'unix', path: text, backlog: undefined }
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(text)
  if (match === null) return fail()
  const port = Number(match[3])
  if (port > 65535) return fail()
  const host = match[1] ?? (match[2] === '' ? undefined : match[2])
  return { kind: 'tcp', host, port, backlog: undefined }
}

/** A host to bind: `localhost` is 127.0.0.1 (as for `--listen`), other names are looked up. */
async function bindableHost (host: string | undefined): Promise<string | undefined> {
  if (host === undefined || net.isIP(host) !== 0) return host
  if (host === 'localhost') return '127.0.0.1'
  try {
    return (await dns.promises.lookup(host)).address
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw Object.assign(new GracefulError('ERR_GRACEFUL_BIND', `cannot bind ${host}: the name does not resolve (${code ?? String(err)})`), { errno: code })
  }
}

/** The listener key a socket spec names, as a worker's registry names it. */
export function specKey (spec: SocketSpec): string {
  return listenerKey(spec.kind === 'tcp' ? { kind: 'tcp', host: spec.host, port: spec.port, backlog: undefined } : { kind: 'unix', path: spec.path, backlog: undefined }) as string
}

function fromFd (key: string, fd: number, source: SocketSource, address: string | undefined): SupervisedSocket {
  let handle: object | undefined
  return {
    key, fd, source, address, askedBy: undefined,
    handle: () => (handle ??= handleForFd(fd)),
    close: () => {
      if (handle !== undefined) (handle as { close: () => void }).close()
      else try { fs.closeSync(fd) } catch {}
    }
  }
}

function fromBound (key: string, bound: BoundSocket, source: SocketSource, askedBy?: string): SupervisedSocket {
  return { key, fd: bound.fd, source, address: bound.address, askedBy, handle: () => bound.handle, close: bound.close }
}

export class SocketTable {
  readonly #unix: UnixSocketOptions
  #sockets: SupervisedSocket[] = []
  // Binds run one at a time: two workers asking for one address at once get one socket.
  #queue: Promise<unknown> = Promise.resolve()

  constructor (unix: UnixSocketOptions = { mode: undefined, gid: undefined }) {
    this.#unix = unix
  }

  get all (): readonly SupervisedSocket[] {
    return this.#sockets
  }

  /** Binds `--listen` addresses and adopts systemd's sockets; before any worker exists. */
  async open (addresses: string[], systemd: InheritedSocket[]): Promise<void> {
    const requests = addresses.map(parseListenAddress)
    const registry = new ListenerRegistry(systemd)
    try {
      for (const request of requests) {
        const key = listenerKey(request) as string
        const adopted = registry.claim(request)
        if (adopted !== undefined) {
          this.#sockets.push(fromFd(key, adopted.fd, 'systemd', describe(adopted)))
        } else {
          this.#sockets.push(fromBound(key, await this.#bind(request.kind === 'tcp'
            ? { kind: 'tcp', host: request.host, port: request.port, ipv6Only: false }
            : { kind: 'unix', path: request.path, readableAll: false, writableAll: false }), 'listen'))
        }
      }
      // systemd sockets that no --listen names are passed on too: the app may claim them by address.
      for (const socket of registry.unclaimed) {
        const info = socket.info
        const key = info.kind === 'unknown' ? undefined : formatKey(info)
        if (key !== undefined) this.#sockets.push(fromFd(key, socket.fd, 'systemd', describe(socket)))
      }
    } catch (err) {
      this.closeAll()
      throw err
    }
  }

  /**
   * The index-th socket for the address a worker's listen() names: one the supervisor holds,
   * or one it binds now (`bound`) and keeps. Rejects with ERR_GRACEFUL_ADDRESS_IN_USE or ERR_GRACEFUL_BIND.
   */
  obtain (spec: SocketSpec, index: number, askedBy: string): Promise<{ socket: SupervisedSocket, bound: boolean }> {
    const key = specKey(spec)
    const step = this.#queue.then(async () => {
      const same = this.#sockets.filter((s) => s.key === key)
      const held = same[index]
      if (held !== undefined) return { socket: held, bound: false }
      if (index > same.length) {
        throw new GracefulError('ERR_GRACEFUL_CHANNEL', `a worker asked for socket ${index + 1} of ${key}; the supervisor holds ${same.length}`)
      }
      const socket = fromBound(key, await this.#bind(spec), 'worker', askedBy)
      this.#sockets.push(socket)
      return { socket, bound: true }
    })
    this.#queue = step.catch(() => {})
    return step
  }

  async #bind (spec: SocketSpec): Promise<BoundSocket> {
    if (spec.kind === 'tcp') return bindTcpUnlistened(await bindableHost(spec.host), spec.port, spec.ipv6Only)
    const { path } = spec
    if (!path.startsWith('\0')) await takeOverUnixPath(path)
    const bound = bindUnixUnlistened(path)
    if (!path.startsWith('\0')) {
      try {
        this.#applyUnixOptions(path, spec)
      } catch (err) {
        bound.close()
        throw new GracefulError('ERR_GRACEFUL_BIND', `cannot set the mode or group of ${path}: ${(err as Error).message}`, { cause: err })
      }
    }
    return bound
  }

  // The socket is not listening yet, so nobody can connect before its mode is set.
  #applyUnixOptions (path: string, spec: Extract<SocketSpec, { kind: 'unix' }>): void {
    const asked = (spec.readableAll ? 0o444 : 0) | (spec.writableAll ? 0o222 : 0)
    const mode = this.#unix.mode ?? (asked === 0 ? undefined : asked)
    if (mode !== undefined) fs.chmodSync(path, mode)
    if (this.#unix.gid !== undefined) fs.chownSync(path, -1, this.#unix.gid)
  }

  closeAll (): void {
    for (const s of this.#sockets.splice(0)) s.close()
  }
}

function describe (socket: InheritedSocket): string | undefined {
  const info = socket.info
  return info.kind === 'tcp' ? `${info.host.includes(':') ? `[${info.host}]` : info.host}:${info.port}` : undefined
}
