/**
 * The servers this generation serves. `attach()` makes a server's `listen()` claim the
 * inherited socket for its address, ask the supervisor for it, or bind anew
 * (listeners/bind.ts), and tracks its connections for the drain (drain.ts).
 */
import net, { type Server } from 'node:net'
import type { Clock } from './clock.ts'
import { CHANNELS, type Reporter } from './diagnostics.ts'
import { ConnectionTracker, type DrainClock, type DrainCounts, type DrainOptions, type DrainResult, type HandoffPort } from './drain.ts'
import { GracefulError } from './errors.ts'
import { setKeepAliveTimeout } from './keep-alive.ts'
import { listenOn, type ListenFn, type SocketSupplier } from './listeners/bind.ts'
import type { ListenerRegistry } from './listeners/registry.ts'

export interface Attachment {
  server: Server
  tracker: ConnectionTracker
  /** listen() was called and has not completed yet. */
  pending: boolean
  key: string | undefined
  unixPath: string | undefined
}

export interface AttachmentContext {
  clock: DrainClock & Pick<Clock, 'setImmediate'>
  registry: ListenerRegistry
  pid: number
  supplier: SocketSupplier | undefined
  reporter: Reporter
  keepAliveTimeout: number | undefined
  /** Every server asked to listen does (checked once the servers that listen in the same tick all did). */
  onAllListening: () => void
  /** One of them listens now. */
  onListening?: () => void
}

export class Attachments {
  readonly #list: Attachment[] = []
  readonly #ctx: AttachmentContext
  #checkScheduled = false

  constructor (ctx: AttachmentContext) {
    this.#ctx = ctx
  }

  get all (): readonly Attachment[] {
    return this.#list
  }

  /** Call it before `listen()`; an attached server is returned as it is. */
  attach<S extends Server> (server: S): S {
    if (!(server instanceof net.Server)) {
      throw new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `attach() takes a net.Server (http, https, http2 or net), got ${server === null ? 'null' : typeof server}`)
    }
    if (this.#list.some((a) => a.server === server)) return server
    if (server.listening) {
      throw new GracefulError('ERR_GRACEFUL_INVALID_OPTION', 'attach() the server before it listens: a listening server cannot take over an inherited socket')
    }
    if (this.#ctx.keepAliveTimeout !== undefined) setKeepAliveTimeout(server, this.#ctx.keepAliveTimeout)
    const attachment: Attachment = { server, tracker: new ConnectionTracker(server, this.#ctx.clock), pending: false, key: undefined, unixPath: undefined }
    this.#list.push(attachment)
    const original = server.listen as unknown as ListenFn
    const attachments = this
    const listen = function (this: Server, ...args: unknown[]): Server {
      attachments.#listen(attachment, original, args)
      return server
    }
    Object.defineProperty(server, 'listen', { value: listen, writable: true, configurable: true })
    return server
  }

  /** `server.listen(...args)` on the server, attached first. */
  listen<S extends Server> (server: S, args: unknown[]): S {
    ;(this.attach(server).listen as unknown as ListenFn)(...args)
    return server
  }

  #listen (attachment: Attachment, original: ListenFn, args: unknown[]): void {
    const { server } = attachment
    const { registry, pid, supplier, reporter } = this.#ctx
    attachment.pending = true
    const done = (): void => {
      attachment.pending = false
      this.#ctx.onListening?.()
      this.#scheduleCheck()
    }
    server.once('listening', done)
    try {
      const outcome = listenOn(server, original, args, registry, pid, supplier)
      attachment.key = outcome.key
      attachment.unixPath = outcome.unixPath
      if (outcome.inherited !== undefined) {
        reporter.event(CHANNELS.listenerInherited, 'debug', 'listener inherited', { key: outcome.key, fd: outcome.inherited.fd, source: outcome.inherited.source })
      } else if (outcome.asked) {
        reporter.log('debug', 'listener asked of the supervisor', { key: outcome.key })
      } else if (outcome.key !== undefined) {
        reporter.event(CHANNELS.listenerBound, 'debug', 'listener bound', { key: outcome.key })
      }
    } catch (err) {
      server.off('listening', done)
      attachment.pending = false
      throw err
    }
  }

  #scheduleCheck (): void {
    if (this.#checkScheduled) return
    this.#checkScheduled = true
    // Servers that listen in the same tick are all counted before readiness is decided.
    this.#ctx.clock.setImmediate(() => {
      this.#checkScheduled = false
      const active = this.#list.filter((a) => a.pending || a.server.listening)
      if (active.length > 0 && !active.some((a) => a.pending)) this.#ctx.onAllListening()
    })
  }

  /** Closes the inherited sockets no listen() claimed, so a listener the new code dropped stops accepting. */
  closeUnclaimed (close: (fd: number) => void): void {
    for (const socket of this.#ctx.registry.closeUnclaimed(close)) {
      this.#ctx.reporter.log('info', 'closed an inherited listener that no listen() claimed', { fd: socket.fd, key: socket.key ?? socket.name })
    }
  }

  keys (): string[] {
    return this.#list.map((a) => a.key).filter((k) => k !== undefined)
  }

  unixPaths (): string[] {
    return this.#list.map((a) => a.unixPath).filter((p) => p !== undefined)
  }

  /** Connection counts of every attached server. */
  counts (): DrainCounts {
    const total: DrainCounts = { connections: 0, active: 0, idle: 0, upgraded: 0 }
    for (const { tracker } of this.#list) {
      const c = tracker.counts()
      total.connections += c.connections
      total.active += c.active
      total.idle += c.idle
      total.upgraded += c.upgraded
    }
    return total
  }

  /** Drains every attached server; the result sums theirs. `handoff`: where a server's idle connections may go instead. */
  async drain (options: DrainOptions, handoff: (a: Attachment) => HandoffPort | undefined = () => undefined): Promise<DrainResult> {
    const results = await Promise.all(this.#list.map((a) => a.tracker.drain({ ...options, handoff: handoff(a) })))
    const sum = (field: 'served' | 'destroyed' | 'handedOff' | 'fellBack' | 'closed'): number => results.reduce((n, r) => n + r[field], 0)
    return {
      durationMs: Math.max(0, ...results.map((r) => r.durationMs)),
      served: sum('served'),
      destroyed: sum('destroyed'),
      timedOut: results.some((r) => r.timedOut),
      handedOff: sum('handedOff'),
      fellBack: sum('fellBack'),
      closed: sum('closed')
    }
  }
}
