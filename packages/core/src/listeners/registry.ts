/**
 * Which inherited socket serves which `listen()` call. Each socket is claimed at most once;
 * those nobody claimed by the time the generation is ready are closed.
 */
import { tcpMatches, type ListenRequest, listenerKey } from './address.ts'
import type { InheritedSocket } from './inherit.ts'

function addressMatches (socket: InheritedSocket, request: ListenRequest): boolean {
  const { info } = socket
  if (request.kind === 'tcp') return info.kind === 'tcp' && request.port !== 0 && tcpMatches(request, info.host, info.port)
  if (request.kind === 'unix') return info.kind === 'unix' && info.path === request.path
  return false
}

export class ListenerRegistry {
  readonly #unclaimed: InheritedSocket[]
  readonly #all: InheritedSocket[]

  constructor (inherited: InheritedSocket[]) {
    this.#unclaimed = [...inherited]
    this.#all = [...inherited]
  }

  /** Its position among the inherited sockets with the same key (the supervisor's index for it). */
  indexOf (socket: InheritedSocket): number {
    return this.#all.filter((s) => s.key === socket.key).indexOf(socket)
  }

  /** The inherited socket for this request, removed from the pool; undefined to bind anew. */
  claim (request: ListenRequest): InheritedSocket | undefined {
    const key = listenerKey(request)
    if (key === undefined) return undefined
    // The name the previous generation asked for first; then the address the kernel
    // reports, which is how systemd's sockets are found, and how a release that now
    // writes `127.0.0.1` where the last one wrote `localhost` still gets its socket.
    let index = this.#unclaimed.findIndex((socket) => socket.key === key)
    if (index < 0) index = this.#unclaimed.findIndex((socket) => addressMatches(socket, request))
    if (index < 0) return undefined
    return this.#unclaimed.splice(index, 1)[0]
  }

  get unclaimed (): readonly InheritedSocket[] {
    return this.#unclaimed
  }

  /** Closes what nobody claimed, so a listener the new code dropped stops accepting. */
  closeUnclaimed (close: (fd: number) => void): InheritedSocket[] {
    const closed = this.#unclaimed.splice(0)
    for (const socket of closed) close(socket.fd)
    return closed
  }
}
