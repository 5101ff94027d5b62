/**
 * Carries out one `server.listen(...)` call: on the inherited socket for that address if
 * there is one; under the supervisor, on the socket it binds when asked over the channel;
 * otherwise by binding anew. A unix socket is bound under a temporary name
 * and renamed into place, because libuv unlinks the path a process bound when it closes
 * it (nodejs/node#19729): the old generation would otherwise delete the path that the new
 * one serves.
 */
import fs from 'node:fs'
import type { Server } from 'node:net'
import { listenerKey, parseListenArgs, type ListenRequest } from './address.ts'
import { listenOnReceived, setPipeName } from './fd.ts'
import type { InheritedSocket } from './inherit.ts'
import { takeOverUnixPath } from './unix-path.ts'
import type { ListenerRegistry } from './registry.ts'
import type { SocketSpec } from '../handover/channel.ts'
import type { SupervisorChannel } from '../handover/worker-channel.ts'

export type ListenFn = (...args: unknown[]) => unknown

export interface ListenOutcome {
  /** The key under which the next generation receives this listener; undefined: not handed over. */
  key: string | undefined
  /** The public unix socket path, to be removed when the last generation stops. */
  unixPath: string | undefined
  inherited: InheritedSocket | undefined
  /** The socket was asked of the supervisor: 'listening' or 'error' follows. */
  asked: boolean
}

/**
 * Under the supervisor: where a worker gets the sockets it did not inherit. The supervisor
 * keeps a list per address and a worker asks for the n-th: the lowest n that none of this
 * worker's live servers holds. So two servers on port 0 get two sockets, every worker's
 * first server the same one, and a server that closed and listens again gets its own back.
 */
export class SocketSupplier {
  readonly #channel: SupervisorChannel
  readonly #holders = new Map<Server, { key: string, index: number, asking: boolean }>()

  constructor (channel: SupervisorChannel) {
    this.#channel = channel
  }

  /** Notes that `server` listens on the index-th socket for key (one it inherited). */
  hold (server: Server, key: string, index: number): void {
    this.#holders.set(server, { key, index, asking: false })
  }

  ask (server: Server, original: ListenFn, request: Extract<ListenRequest, { kind: 'tcp' | 'unix' }>, key: string,
    options: Record<string, unknown> | undefined, callback: ((...a: unknown[]) => void) | undefined): void {
    const spec: SocketSpec = request.kind === 'tcp'
      ? { kind: 'tcp', host: request.host === '' ? undefined : request.host, port: request.port, ipv6Only: options?.ipv6Only === true }
      : { kind: 'unix', path: request.path, readableAll: options?.readableAll === true, writableAll: options?.writableAll === true }
    const taken = new Set<number>()
    for (const [other, h] of this.#holders) if (other !== server && h.key === key && (h.asking || other.listening)) taken.add(h.index)
    let index = 0
    while (taken.has(index)) index++
    const holder = { key, index, asking: true }
    this.#holders.set(server, holder)
    this.#channel.askSocket(spec, index).then(({ handle }) => {
      holder.asking = false
      if (request.kind === 'unix') server.prependOnceListener('listening', () => setPipeName(server, request.path))
      try {
        listenOnReceived(server, original, handle, request.backlog, callback)
      } catch (err) {
        emitSoon(server, err as Error)
      }
    }, (err: Error) => {
      holder.asking = false
      // Shaped like Node's own listen errors, which apps and frameworks inspect.
      Object.assign(err, request.kind === 'tcp' ? { address: request.host, port: request.port } : { address: request.path })
      emitSoon(server, err)
    })
  }
}

function emitSoon (server: Server, err: Error): void {
  process.nextTick(() => server.emit('error', err))
}

function bindUnix (server: Server, original: ListenFn, request: Extract<ListenRequest, { kind: 'unix' }>,
  options: Record<string, unknown> | undefined, callback: ((...a: unknown[]) => void) | undefined, pid: number): void {
  const { path } = request
  const tmp = `${path}.gr-${pid}`
  takeOverUnixPath(path).then(() => {
    fs.rmSync(tmp, { force: true })
    // Prepended: the app's own 'listening' listeners (Fastify's among them) read address().
    server.prependOnceListener('listening', () => {
      try {
        fs.renameSync(tmp, path)
        setPipeName(server, path)
      } catch (err) {
        emitSoon(server, err as Error)
      }
    })
    original.call(server, { ...options, path: tmp, backlog: request.backlog }, ...(callback === undefined ? [] : [callback]))
  }, (err: Error) => { emitSoon(server, err) })
}

export function listenOn (server: Server, original: ListenFn, args: unknown[], registry: ListenerRegistry, pid: number, supplier?: SocketSupplier): ListenOutcome {
  const { request, options, callback } = parseListenArgs(args)
  const key = listenerKey(request)
  if (key === undefined) {
    original.apply(server, args)
    return { key: undefined, unixPath: undefined, inherited: undefined, asked: false }
  }
  const unixPath = request.kind === 'unix' ? request.path : undefined
  const inherited = registry.claim(request)
  if (inherited !== undefined && request.kind !== 'passthrough') {
    supplier?.hold(server, inherited.key ?? key, registry.indexOf(inherited))
    // Prepended: an inherited pipe has no name until set, and Fastify's 'listening' listener,
    // registered before listen(), reads address() (null would crash it).
    if (unixPath !== undefined) server.prependOnceListener('listening', () => setPipeName(server, unixPath))
    const signal = options?.signal
    original.call(server, { fd: inherited.fd, backlog: request.backlog, ...(signal === undefined ? {} : { signal }) },
      ...(callback === undefined ? [] : [callback]))
    return { key, unixPath, inherited, asked: false }
  }
  if (supplier !== undefined && request.kind !== 'passthrough') {
    supplier.ask(server, original, request, key, options, callback)
    return { key, unixPath, inherited: undefined, asked: true }
  }
  if (unixPath !== undefined && request.kind === 'unix' && !unixPath.startsWith('\0')) {
    bindUnix(server, original, request, options, callback, pid)
  } else {
    original.apply(server, args)
  }
  return { key, unixPath: unixPath?.startsWith('\0') === true ? undefined : unixPath, inherited: undefined, asked: false }
}
