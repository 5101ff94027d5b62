/**
 * The supervisor's sockets: parsed from `--listen`, adopted from systemd when it passed them,
 * otherwise bound here without listening. The supervisor never accepts a connection: the
 * first worker's listen() turns the socket into a listening one, and it stays listening for
 * as long as the supervisor holds it, so connections queue in the kernel even while no
 * worker runs.
 */
import fs from 'node:fs'
import { GracefulError } from '../errors.ts'
import { listenerKey, type ListenRequest } from '../listeners/address.ts'
import { probeUnix } from '../listeners/bind.ts'
import { bindTcpUnlistened, bindUnixUnlistened } from '../listeners/fd.ts'
import type { InheritedSocket } from '../listeners/inherit.ts'
import { ListenerRegistry } from '../listeners/registry.ts'

export interface SupervisedSocket {
  key: string
  fd: number
  /** Where it came from, for status and logs. */
  source: 'bound' | 'systemd'
  close: () => void
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

export async function openSockets (addresses: string[], systemd: InheritedSocket[]): Promise<SupervisedSocket[]> {
  const requests = addresses.map(parseListenAddress)
  const registry = new ListenerRegistry(systemd)
  const opened: SupervisedSocket[] = []
  try {
    for (const request of requests) {
      const key = listenerKey(request) as string
      const adopted = registry.claim(request)
      if (adopted !== undefined) {
        opened.push({ key, fd: adopted.fd, source: 'systemd', close: () => { try { fs.closeSync(adopted.fd) } catch {} } })
        continue
      }
      if (request.kind === 'unix') {
        const state = await probeUnix(request.path)
        if (state === 'in-use') throw new GracefulError('ERR_GRACEFUL_ADDRESS_IN_USE', `unix socket ${request.path} is served by another process`)
        if (state === 'stale') fs.rmSync(request.path, { force: true })
        opened.push({ key, source: 'bound', ...bindUnixUnlistened(request.path) })
      } else {
        const host = request.host === 'localhost' ? '127.0.0.1' : request.host
        opened.push({ key, source: 'bound', ...bindTcpUnlistened(host, request.port) })
      }
    }
    // systemd sockets that no --listen names are passed on too: the app may claim them by address.
    for (const socket of registry.unclaimed) {
      const info = socket.info
      const key = info.kind === 'tcp' ? `tcp:${info.host}:${info.port}` : info.kind === 'unix' ? `unix:${info.path}` : undefined
      if (key !== undefined) opened.push({ key, fd: socket.fd, source: 'systemd', close: () => { try { fs.closeSync(socket.fd) } catch {} } })
    }
  } catch (err) {
    for (const s of opened) s.close()
    throw err
  }
  return opened
}
