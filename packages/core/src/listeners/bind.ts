/**
 * Carries out one `server.listen(...)` call: on the inherited socket for that address if
 * there is one, otherwise by binding anew. A unix socket is bound under a temporary name
 * and renamed into place, because libuv unlinks the path a process bound when it closes
 * it (nodejs/node#19729): the old generation would otherwise delete the path that the new
 * one serves.
 */
import fs from 'node:fs'
import net, { type Server } from 'node:net'
import { GracefulError } from '../errors.ts'
import { listenerKey, parseListenArgs, type ListenRequest } from './address.ts'
import { setPipeName } from './fd.ts'
import type { InheritedSocket } from './inherit.ts'
import type { ListenerRegistry } from './registry.ts'

export type ListenFn = (...args: unknown[]) => unknown

export interface ListenOutcome {
  /** The key under which the next generation receives this listener; undefined: not handed over. */
  key: string | undefined
  /** The public unix socket path, to be removed when the last generation stops. */
  unixPath: string | undefined
  inherited: InheritedSocket | undefined
}

function emitSoon (server: Server, err: Error): void {
  process.nextTick(() => server.emit('error', err))
}

export function probeUnix (path: string): Promise<'in-use' | 'stale' | 'absent'> {
  return new Promise((resolve) => {
    if (!fs.existsSync(path)) {
      resolve('absent')
      return
    }
    const socket = net.connect(path)
    socket.once('connect', () => { socket.destroy(); resolve('in-use') })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'absent' : 'in-use')
    })
  })
}

function bindUnix (server: Server, original: ListenFn, request: Extract<ListenRequest, { kind: 'unix' }>,
  options: Record<string, unknown> | undefined, callback: ((...a: unknown[]) => void) | undefined, pid: number): void {
  const { path } = request
  const tmp = `${path}.gr-${pid}`
  void probeUnix(path).then((state) => {
    if (state === 'in-use') {
      const err = new GracefulError('ERR_GRACEFUL_ADDRESS_IN_USE', `unix socket ${path} is served by another process`)
      Object.assign(err, { syscall: 'listen', address: path, errno: 'EADDRINUSE' })
      emitSoon(server, err)
      return
    }
    // A path nobody answers on is a leftover of a crashed process: safe to replace.
    if (state === 'stale') fs.rmSync(path, { force: true })
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
  })
}

export function listenOn (server: Server, original: ListenFn, args: unknown[], registry: ListenerRegistry, pid: number): ListenOutcome {
  const { request, options, callback } = parseListenArgs(args)
  const key = listenerKey(request)
  if (key === undefined) {
    original.apply(server, args)
    return { key: undefined, unixPath: undefined, inherited: undefined }
  }
  const unixPath = request.kind === 'unix' ? request.path : undefined
  const inherited = registry.claim(request)
  if (inherited !== undefined && request.kind !== 'passthrough') {
    // Prepended: an inherited pipe has no name until set, and Fastify's 'listening' listener,
    // registered before listen(), reads address() (null would crash it).
    if (unixPath !== undefined) server.prependOnceListener('listening', () => setPipeName(server, unixPath))
    const signal = options?.signal
    original.call(server, { fd: inherited.fd, backlog: request.backlog, ...(signal === undefined ? {} : { signal }) },
      ...(callback === undefined ? [] : [callback]))
    return { key, unixPath, inherited }
  }
  if (unixPath !== undefined && request.kind === 'unix' && !unixPath.startsWith('\0')) {
    bindUnix(server, original, request, options, callback, pid)
  } else {
    original.apply(server, args)
  }
  return { key, unixPath: unixPath?.startsWith('\0') === true ? undefined : unixPath, inherited: undefined }
}
