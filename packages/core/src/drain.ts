/**
 * Drains one server in the order the README gives (its drain paragraph, under "How a
 * handover works"), each connection's fate decided by two pure functions over facts read
 * at drain time (phaseOf, closesNow); HTTP/2 sessions through goaway.ts. What only the code
 * needs to know: Node parses in native code, so no 'data' event says a byte came, and
 * idleness is measured in bytes instead. `socket.bytesRead` is noted when each response ends (the
 * `http.server.response.finish` channel: a map lookup and a byte count read per response,
 * two for TLS) and compared at drain time.
 *
 * With a handoff port (the `handoffIdleConnections` option, handoff/sender.ts), an idle
 * HTTP/1 connection is not closed but offered to the next generation, at the drain's start
 * and each time it becomes idle again; responses keep their keep-alive meanwhile. Only a
 * connection the port refuses takes the path above.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2Session } from 'node:http2'
import net, { type Server, type Socket } from 'node:net'
import tls from 'node:tls'
import { systemClock, type Clock, type Timer } from './clock.ts'
import { goAway } from './goaway.ts'
import { inFlightResponse, isNewestRequest, transportOf } from './listeners/fd.ts'

interface ConnectionState {
  /** Responses the drain follows: each closes its connection when done. */
  responses: Set<ServerResponse>
  /** When the connection last became idle during the drain (its last followed response ended). */
  idleSince: number
  upgraded: boolean
  /** `socket.bytesRead` when the last response ended (0 until then). */
  readMark: number
  /** TLS: the TCP socket beneath, whose count also moves while a TLS record is incomplete. */
  transport: Socket | undefined
  transportMark: number
  /** The response told to close the connection, and the keep-alive it had before. */
  closing: { res: ServerResponse, keepAlive: boolean } | undefined
  /** Its handoff: offered and not answered yet, refused (drained here as before), or passed on. */
  handoff: 'pending' | 'refused' | 'passed' | undefined
}

/** What a drain needs to know of an HTTP/1 connection to decide its fate. */
export interface ConnectionFacts {
  upgraded: boolean
  /** A response runs on it, or waits behind one (pipelining). */
  responding: boolean
  /** A byte arrived since its last response ended: part of a request is on the connection. */
  requestArriving: boolean
  /** When it last became idle; the drain's start counts for anything earlier. */
  idleSince: number
}

export type ConnectionPhase = 'upgraded' | 'active' | 'idle'

export function phaseOf (c: ConnectionFacts): ConnectionPhase {
  if (c.upgraded) return 'upgraded'
  return c.responding || c.requestArriving ? 'active' : 'idle'
}

/**
 * Whether the drain closes the connection now: only an idle one, once it has been idle for
 * `idleGrace` since the drain started. Active connections wait for `drainTimeout`.
 */
export function closesNow (c: ConnectionFacts, now: number, drainStarted: number, idleGrace: number): boolean {
  return phaseOf(c) === 'idle' && now - Math.max(c.idleSince, drainStarted) >= idleGrace
}

const RESPONSE_FINISH = 'http.server.response.finish'
const kSessionSocket = Symbol('graceful-restart:http2-session-socket')

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
  /** Connections passed to the next generation (handoff). */
  handedOff: number
  /** Connections the handoff could not pass (refused, timed out, channel lost): drained here as before. */
  fellBack: number
  /** Connections that ended here during the drain, the destroyed ones included (HTTP/2 sessions count once). */
  closed: number
}

export type HandoffOutcome = 'handed-off' | 'busy' | 'refused'

/** Where an idle connection can go instead of being closed: the next generation (handoff/sender.ts). */
export interface HandoffPort {
  /** False once no offer can succeed any more (the channel closed): connections are drained as before. */
  readonly open: boolean
  /**
   * Offers an idle connection; `stillIdle` is asked again once its reads stopped. 'handed-off': the next generation serves it and the socket here was destroyed;
   * 'busy': a request came first, it is served here and may be offered again once idle;
   * 'refused': it stays here for good.
   */
  offer: (socket: Socket, stillIdle: () => boolean) => Promise<HandoffOutcome>
}

export interface DrainOptions {
  idleGrace: number
  drainTimeout: number
  onUpgradedSocket?: ((socket: Socket, server: Server) => void) | undefined
  /** Aborting it ends the drain at once, as the deadline would (`maxDraining`). */
  signal?: AbortSignal | undefined
  /** Offers idle connections to the next generation instead of closing them. */
  handoff?: HandoffPort | undefined
}

/** The time a drain reads: when connections became idle, the reaper and the deadline. */
export type DrainClock = Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>

const REAP_INTERVAL = 50

export class ConnectionTracker {
  readonly server: Server
  readonly #clock: DrainClock
  readonly #connections = new Map<Socket, ConnectionState>()
  readonly #sessions = new Set<Http2Session>()
  /** TLS servers only: every accepted TCP connection, from accept to close, handshake included. */
  readonly #tcp = new Set<Socket>()
  #draining = false
  #served = 0
  #sessionGrace = 0
  #onChange: (() => void) | undefined
  #handoff: HandoffPort | undefined
  #handedOff = 0
  #fellBack = 0
  /** Connections that ended during the drain; a TLS server counts them by their TCP socket, handshakes included. */
  #closed = 0
  readonly #secure: boolean

  static readonly #byServer = new WeakMap<Server, ConnectionTracker>()
  static #listening = false
  static readonly #onResponseFinish = (message: unknown): void => {
    const { server, socket, request } = message as { server: Server, socket: Socket, request: IncomingMessage }
    const tracker = ConnectionTracker.#byServer.get(server)
    if (tracker !== undefined) tracker.#responseEnded(socket, request)
  }

  constructor (server: Server, clock: DrainClock = systemClock) {
    this.server = server
    this.#clock = clock
    this.#secure = server instanceof tls.Server
    ConnectionTracker.#byServer.set(server, this)
    if (!ConnectionTracker.#listening) {
      // One subscriber for the process, installed by the first attach (never at import).
      diagnosticsChannel.subscribe(RESPONSE_FINISH, ConnectionTracker.#onResponseFinish)
      ConnectionTracker.#listening = true
    }
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

  #trackSession (session: Http2Session): void {
    this.#sessions.add(session)
    // Marks its socket (through Node's socket proxy, which passes this on) before the
    // 'connection' listener below sees it: over cleartext HTTP/2 nothing else tells.
    ;(session.socket as unknown as Record<symbol, boolean>)[kSessionSocket] = true
    session.once('close', () => {
      this.#sessions.delete(session)
      if (this.#draining && !this.#secure) this.#closed++
      this.#onChange?.()
    })
    if (this.#draining) goAway(session, this.#sessionGrace)
  }

  #trackTcp (raw: Socket): void {
    this.#tcp.add(raw)
    raw.once('close', () => {
      this.#tcp.delete(raw)
      if (this.#draining) this.#closed++
      this.#onChange?.()
    })
  }

  #track (socket: Socket): void {
    // An HTTP/2 connection is drained through its session (GOAWAY), never as an idle socket.
    if ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2') return
    if ((socket as unknown as Record<symbol, boolean>)[kSessionSocket] === true) return
    const transport = transportOf(socket)
    this.#connections.set(socket, {
      responses: new Set(),
      idleSince: this.#clock.now(),
      upgraded: false,
      // No response has ended yet: any byte read is part of a request. Beneath a TLS socket,
      // the bytes so far are the handshake.
      readMark: 0,
      transport,
      transportMark: transport?.bytesRead ?? 0,
      closing: undefined,
      handoff: undefined
    })
    socket.once('close', () => {
      const state = this.#connections.get(socket)
      this.#connections.delete(socket)
      if (this.#draining && !this.#secure && state?.handoff !== 'passed') this.#closed++
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

  /** Every response's end, drain or not (hot path): notes the byte counts of its connection. */
  #responseEnded (socket: Socket, request: IncomingMessage): void {
    const state = this.#connections.get(socket)
    if (state === undefined) return
    // Answered before its body was read: the rest of the body still arrives (Node reads it
    // and drops it); those bytes are no new request.
    if (request.complete) markRead(state, socket)
    else request.once('end', () => markRead(state, socket))
  }

  #facts (socket: Socket, state: ConnectionState): ConnectionFacts {
    return {
      upgraded: state.upgraded,
      responding: state.responses.size > 0 || inFlightResponse(socket) !== undefined,
      requestArriving: socket.bytesRead > state.readMark || (state.transport !== undefined && state.transport.bytesRead > state.transportMark),
      idleSince: state.idleSince
    }
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    if (req.httpVersionMajor === 2) {
      res.once('close', () => { this.#served++ })
      return
    }
    this.#follow(req.socket, this.#state(req.socket), res)
  }

  /**
   * Watches a response that runs during the drain: it closes its connection when done, unless
   * the connection may still go to the next generation, which is offered it once idle.
   */
  #follow (socket: Socket, state: ConnectionState, res: ServerResponse): void {
    if (state.responses.has(res)) return
    state.responses.add(res)
    if (!this.#mayStillGo(state)) announceClose(socket, state, res)
    res.once('close', () => {
      state.responses.delete(res)
      state.idleSince = this.#clock.now()
      this.#served++
      // A pipelined response that waited behind this one runs now.
      const next = inFlightResponse(socket)
      if (next !== undefined) this.#follow(socket, state, next)
      // Still before the next read from the kernel: a request the client sends on receiving
      // this response is not read here once the offer stopped reads.
      else this.#offer(socket, state)
      this.#onChange?.()
    })
  }

  /**
   * Not offered yet, or its offer waits its turn (handoff/sender.ts: reads not stopped, so a
   * request on it is served here with its keep-alive and the connection offered after).
   */
  #mayStillGo (state: ConnectionState): boolean {
    return this.#handoff?.open === true && !state.upgraded && (state.handoff === undefined || state.handoff === 'pending')
  }

  #mayHandOff (state: ConnectionState): boolean {
    return this.#handoff !== undefined && this.#handoff.open && state.handoff === undefined && !state.upgraded
  }

  /** Offers the connection to the next generation if it may go there and is idle. */
  #offer (socket: Socket, state: ConnectionState): void {
    const port = this.#handoff
    if (port === undefined || !this.#mayHandOff(state) || socket.destroyed || phaseOf(this.#facts(socket, state)) !== 'idle') return
    state.handoff = 'pending'
    // A failure inside the port (Node's internals changed under it, say) is a refusal.
    void port.offer(socket, () => phaseOf(this.#facts(socket, state)) === 'idle').catch((): HandoffOutcome => 'refused').then((outcome) => {
      if (outcome === 'handed-off') {
        // The next generation holds its own copy of the socket: closing ours leaves the
        // connection open there.
        state.handoff = 'passed'
        this.#handedOff++
        socket.destroy()
        return
      }
      if (outcome === 'busy') {
        // A request came first: it is served here, and the connection offered again after.
        state.handoff = undefined
      } else {
        state.handoff = 'refused'
        state.idleSince = this.#clock.now()
        this.#fellBack++
      }
      this.#onChange?.()
    })
  }

  /**
   * One pass of the reaper: offers what may go to the next generation, closes the idle
   * connections whose grace (counted from `graceFrom`) is over.
   */
  #reap (now: number, graceFrom: number, idleGrace: number): void {
    for (const [socket, state] of this.#connections) {
      if (state.handoff === 'pending' || state.handoff === 'passed') continue
      if (this.#mayHandOff(state)) this.#offer(socket, state)
      else if (closesNow(this.#facts(socket, state), now, graceFrom, idleGrace)) socket.destroy()
    }
  }

  #result (started: number, destroyed: number, timedOut: boolean): DrainResult {
    return {
      durationMs: this.#clock.now() - started,
      served: this.#served,
      destroyed,
      timedOut,
      handedOff: this.#handedOff,
      fellBack: this.#fellBack,
      // The ones destroyed just now have not reported their close yet.
      closed: this.#closed + destroyed
    }
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
      const phase = phaseOf(this.#facts(socket, state))
      if (phase === 'upgraded') upgraded++
      else if (phase === 'active') active++
      else idle++
    }
    return { connections: this.#connections.size + this.#sessions.size, active: active + this.#sessions.size, idle, upgraded }
  }

  get #empty (): boolean {
    return this.#connections.size === 0 && this.#sessions.size === 0 && this.#tcp.size === 0
  }

  /** Destroys what is left; returns how many connections that was. */
  #destroyAll (): number {
    const left = [...this.#connections.keys()]
    const sessions = [...this.#sessions]
    const tcp = [...this.#tcp]
    for (const socket of left) socket.destroy()
    for (const session of sessions) session.destroy()
    // Handshakes that never finished; for a TLS server each TCP connection counts once.
    for (const raw of tcp) raw.destroy()
    return tcp.length > 0 ? tcp.length : left.length + sessions.length
  }

  /** Stops accepting; in-flight requests finish; resolves once every connection closed. */
  async drain (options: DrainOptions): Promise<DrainResult> {
    const clock = this.#clock
    const started = clock.now()
    this.#draining = true
    this.#handoff = options.handoff
    this.#upgradedHook = options.onUpgradedSocket
    // A PING round trip is the grace of a stream already on its way, as idleGrace is for HTTP/1.
    this.#sessionGrace = options.idleGrace
    stopAccepting(this.server)

    this.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res))
    for (const [socket, state] of this.#connections) {
      const res = inFlightResponse(socket)
      if (res !== undefined) this.#follow(socket, state, res)
      if (state.upgraded) this.#handUpgraded(socket)
    }
    for (const session of this.#sessions) goAway(session, this.#sessionGrace)

    return await new Promise<DrainResult>((resolve) => {
      let reaper: Timer | undefined
      let deadline: Timer | undefined
      let finished = false
      const endNow = (): void => { destroyAll(false) }
      const finish = (destroyed: number, timedOut: boolean): void => {
        finished = true
        clock.clearTimeout(reaper)
        clock.clearTimeout(deadline)
        options.signal?.removeEventListener('abort', endNow)
        this.#onChange = undefined
        resolve(this.#result(started, destroyed, timedOut))
      }
      const interval = Math.min(REAP_INTERVAL, Math.max(options.idleGrace, 1))
      // Idle connections kept for the handoff get a whole idleGrace once it is no longer possible.
      let graceFrom = started
      let handoffOpen = this.#handoff?.open === true
      const reap = (): void => {
        const t = clock.now()
        if (handoffOpen && this.#handoff?.open !== true) {
          handoffOpen = false
          graceFrom = t
        }
        this.#reap(t, graceFrom, options.idleGrace)
        if (!finished) reaper = clock.setTimeout(reap, interval)
      }
      this.#onChange = () => {
        if (this.#empty) finish(0, false)
      }
      if (this.#empty) {
        finish(0, false)
        return
      }
      reap()
      const destroyAll = (timedOut: boolean): void => { finish(this.#destroyAll(), timedOut) }
      deadline = clock.setTimeout(() => destroyAll(true), options.drainTimeout)
      if (options.signal?.aborted === true) endNow()
      else options.signal?.addEventListener('abort', endNow, { once: true })
    })
  }
}

function markRead (state: ConnectionState, socket: Socket): void {
  state.readMark = socket.bytesRead
  if (state.transport !== undefined) state.transportMark = state.transport.bytesRead
}

/**
 * Marks `res` to close its connection. Only the newest request on a connection does: a
 * response ahead of a pipelined one keeps the connection open for it, and gives the mark
 * back if the newer request arrived before its headers went out.
 */
function announceClose (socket: Socket, state: ConnectionState, res: ServerResponse): void {
  if (res.headersSent || !isNewestRequest(socket, res)) return
  const previous = state.closing
  if (previous !== undefined && previous.res !== res && !previous.res.headersSent) previous.res.shouldKeepAlive = previous.keepAlive
  state.closing = { res, keepAlive: res.shouldKeepAlive }
  res.shouldKeepAlive = false
}

/** Closes only the listening socket; connections are the drain's business. */
export function stopAccepting (server: Server): void {
  if (!server.listening) return
  net.Server.prototype.close.call(server, () => {})
}
