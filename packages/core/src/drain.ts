/**
 * Drains one server without losing a request. The order is what measured zero failures:
 * stop accepting first (the next generation holds the same socket, so nothing queued in
 * the kernel is lost); answer everything from now on with `Connection: close`; give idle
 * keep-alive connections a short grace for a request already on its way; at the deadline
 * destroy what is left. `http.Server.close()` is avoided on purpose: since Node 19 it also
 * closes idle connections at once, racing clients that are just sending on them.
 * HTTP/2 sessions get GOAWAY (`session.close()`): their open streams finish, new ones go
 * to a new connection, which the next generation accepts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2Session } from 'node:http2'
import net, { type Server, type Socket } from 'node:net'
import tls from 'node:tls'
import { inFlightResponse } from './listeners/fd.ts'

interface ConnectionState {
  responses: Set<ServerResponse>
  idleSince: number
  upgraded: boolean
}

export interface DrainCounts {
  /** HTTP/1 connections plus HTTP/2 sessions. */
  connections: number
  active: number
  idle: number
  upgraded: number
}

export interface DrainResult {
  durationMs: number
  /** Requests answered after the drain started. */
  served: number
  /** Connections still open at the deadline, destroyed. */
  destroyed: number
  timedOut: boolean
}

export interface DrainOptions {
  idleGrace: number
  drainTimeout: number
  onUpgradedSocket?: ((socket: Socket, server: Server) => void) | undefined
  /** Aborting it ends the drain at once, as the deadline would (`maxDraining`). */
  signal?: AbortSignal | undefined
  now?: () => number
}

const REAP_INTERVAL = 50

export class ConnectionTracker {
  readonly server: Server
  readonly #connections = new Map<Socket, ConnectionState>()
  readonly #sessions = new Set<Http2Session>()
  /** TLS servers only: every accepted TCP connection, from accept to close, handshake included. */
  readonly #tcp = new Set<Socket>()
  #draining = false
  #served = 0
  #onChange: (() => void) | undefined

  constructor (server: Server) {
    this.server = server
    // A TLS server's requests arrive on the TLS socket, not on the raw TCP one.
    const event = server instanceof tls.Server ? 'secureConnection' : 'connection'
    server.on(event, (socket: Socket) => this.#track(socket))
    // A TLS connection still in its handshake is a connection too: the drain must not end
    // (and the process exit) under it.
    if (server instanceof tls.Server) server.on('connection', (raw: Socket) => this.#trackTcp(raw))
    // Requests are not tracked one by one until the drain starts: that would cost every
    // request of the process's life. The drain finds the ones in flight on their sockets.
    server.on('session', (session: Http2Session) => this.#trackSession(session))
    // Only listen for upgrades once the app does: with no 'upgrade' listener Node destroys
    // the socket itself, and our listener alone would leave it hanging.
    const watchUpgrades = (name: string | symbol): void => {
      if (name !== 'upgrade') return
      server.off('newListener', watchUpgrades)
      server.prependListener('upgrade', (_req: IncomingMessage, socket: Socket) => this.#onUpgrade(socket))
    }
    if (server.listenerCount('upgrade') > 0) watchUpgrades('upgrade')
    else server.on('newListener', watchUpgrades)
  }

  get draining (): boolean {
    return this.#draining
  }

  #trackSession (session: Http2Session): void {
    this.#sessions.add(session)
    session.once('close', () => {
      this.#sessions.delete(session)
      this.#onChange?.()
    })
    if (this.#draining) session.close()
  }

  #trackTcp (raw: Socket): void {
    this.#tcp.add(raw)
    raw.once('close', () => {
      this.#tcp.delete(raw)
      this.#onChange?.()
    })
  }

  #track (socket: Socket): void {
    // An HTTP/2 connection is drained through its session (GOAWAY), never as an idle socket.
    if ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2') return
    this.#connections.set(socket, { responses: new Set(), idleSince: Date.now(), upgraded: false })
    socket.once('close', () => {
      this.#connections.delete(socket)
      this.#onChange?.()
    })
  }

  #state (socket: Socket): ConnectionState {
    let state = this.#connections.get(socket)
    if (state === undefined) {
      this.#track(socket)
      state = this.#connections.get(socket) as ConnectionState
    }
    return state
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    if (req.httpVersionMajor === 2) {
      res.once('close', () => { this.#served++ })
      return
    }
    this.#follow(this.#state(req.socket), res)
  }

  /** Watches a response that runs during the drain: it closes its connection when done. */
  #follow (state: ConnectionState, res: ServerResponse): void {
    if (state.responses.has(res)) return
    state.responses.add(res)
    if (!res.headersSent) res.shouldKeepAlive = false
    res.once('close', () => {
      state.responses.delete(res)
      state.idleSince = Date.now()
      this.#served++
      this.#onChange?.()
    })
  }

  #onUpgrade (socket: Socket): void {
    this.#state(socket).upgraded = true
    if (this.#draining) this.#handUpgraded(socket)
  }

  #upgradedHook: ((socket: Socket, server: Server) => void) | undefined

  #handUpgraded (socket: Socket): void {
    try {
      this.#upgradedHook?.(socket, this.server)
    } catch {
      socket.destroy()
    }
  }

  counts (): DrainCounts {
    let active = 0
    let idle = 0
    let upgraded = 0
    for (const [socket, state] of this.#connections) {
      if (state.upgraded) upgraded++
      else if (state.responses.size > 0 || inFlightResponse(socket) !== undefined) active++
      else idle++
    }
    return { connections: this.#connections.size + this.#sessions.size, active: active + this.#sessions.size, idle, upgraded }
  }

  /** Stops accepting; in-flight requests finish; resolves once every connection closed. */
  async drain (options: DrainOptions): Promise<DrainResult> {
    const now = options.now ?? Date.now
    const started = now()
    this.#draining = true
    this.#upgradedHook = options.onUpgradedSocket
    stopAccepting(this.server)

    this.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res))
    for (const [socket, state] of this.#connections) {
      const res = inFlightResponse(socket)
      if (res !== undefined) this.#follow(state, res)
      if (state.upgraded) this.#handUpgraded(socket)
    }
    for (const session of this.#sessions) session.close()

    return await new Promise<DrainResult>((resolve) => {
      let reaper: NodeJS.Timeout | undefined
      let deadline: NodeJS.Timeout | undefined
      const endNow = (): void => { destroyAll(false) }
      const finish = (destroyed: number, timedOut: boolean): void => {
        clearInterval(reaper)
        clearTimeout(deadline)
        options.signal?.removeEventListener('abort', endNow)
        this.#onChange = undefined
        resolve({ durationMs: now() - started, served: this.#served, destroyed, timedOut })
      }
      const reap = (): void => {
        const t = now()
        for (const [socket, state] of this.#connections) {
          if (state.upgraded || state.responses.size > 0) continue
          if (t - Math.max(state.idleSince, started) >= options.idleGrace) socket.destroy()
        }
      }
      const empty = (): boolean => this.#connections.size === 0 && this.#sessions.size === 0 && this.#tcp.size === 0
      this.#onChange = () => {
        if (empty()) finish(0, false)
      }
      if (empty()) {
        finish(0, false)
        return
      }
      reaper = setInterval(reap, Math.min(REAP_INTERVAL, Math.max(options.idleGrace, 1)))
      reap()
      const destroyAll = (timedOut: boolean): void => {
        const left = [...this.#connections.keys()]
        const sessions = [...this.#sessions]
        const tcp = [...this.#tcp]
        for (const socket of left) socket.destroy()
        for (const session of sessions) session.destroy()
        // Handshakes that never finished; for a TLS server each TCP connection counts once.
        for (const raw of tcp) raw.destroy()
        finish(tcp.length > 0 ? tcp.length : left.length + sessions.length, timedOut)
      }
      deadline = setTimeout(() => destroyAll(true), options.drainTimeout)
      if (options.signal?.aborted === true) endNow()
      else options.signal?.addEventListener('abort', endNow, { once: true })
    })
  }
}

/** Closes only the listening socket; connections are the drain's business. */
export function stopAccepting (server: Server): void {
  if (!server.listening) return
  net.Server.prototype.close.call(server, () => {})
}
