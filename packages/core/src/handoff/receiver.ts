/**
 * The new generation's side of the handoff: it says hello to the previous generation at
 * start-up, takes the TLS ticket keys it answers with, and serves the idle keep-alive
 * connections it offers during its drain as its own (protocol.ts). A connection is read
 * only once the previous generation committed it; one this generation cannot serve (no
 * listening server for its listener, or draining) is declined and stays there.
 */
import type { Server as HttpServer } from 'node:http'
import type { Server, Socket } from 'node:net'
import { adoptConnection, closeHandle } from './connection-io.ts'
import { systemClock, type Timer } from '../clock.ts'
import { decode, encode, type GenerationLink, type HandoffMessage, type HandoffTimers } from './protocol.ts'
import { takeTicketKeys } from './ticket-keys.ts'

/** How long readiness waits for the previous generation's answer to hello. */
export const WELCOME_TIMEOUT_MS = 2_000

/**
 * How long a generation that stops serving waits for the offers it claimed to be committed
 * or aborted before it drains. Twice the previous generation's offer timeout (1 s): past it
 * that generation has taken every offer back.
 */
export const CLAIMS_SETTLE_TIMEOUT_MS = 2_000

export interface ReceiverOptions {
  /** The attached HTTP server of listener `key` that takes connections now; undefined to decline. */
  serverFor: (key: string) => HttpServer | undefined
  /** The attached servers and their listener keys (undefined until listening). */
  servers: () => ReadonlyArray<{ server: Server, key: string | undefined }>
  /** A connection of the previous generation is now served here. */
  onAdopted?: (socket: Socket, key: string) => void
  /** The previous generation's ticket keys were set on these listeners. */
  onTicketKeys?: (keys: string[]) => void
  timers?: HandoffTimers
}

interface Claimed { handle: object, server: HttpServer, key: string }

export class HandoffReceiver {
  readonly #link: GenerationLink
  readonly #options: ReceiverOptions
  readonly #claimed = new Map<number, Claimed>()
  readonly #ticketKeys = new Map<string, string>()
  readonly #keyed = new WeakSet<Server>()
  readonly #welcomed: Promise<void>
  #welcome: () => void = () => {}
  /** Waiting for #claimed to empty (settled()). */
  #onSettled: Array<() => void> = []

  constructor (link: GenerationLink, options: ReceiverOptions) {
    this.#link = link
    this.#options = options
    this.#welcomed = new Promise<void>((resolve) => { this.#welcome = resolve })
    link.onMessage((raw, handle) => {
      const message = decode(raw)
      // Node's own messages pass here too (NODE_HANDLE, with the socket it then delivers
      // with our message): only ours are acted on.
      if (message !== undefined) this.#onMessage(message, handle)
    })
    link.onDisconnect(() => {
      // The previous generation is gone: what it had not committed was never ours.
      this.#dropClaims()
      this.#welcome()
    })
    link.send(encode({ type: 'hello' })).catch(() => this.#welcome())
  }

  /**
   * Resolves once the previous generation answered (its ticket keys are set), or after
   * WELCOME_TIMEOUT_MS: this generation reports ready only then, so that it never issues
   * tickets the previous one could not read while both accept.
   */
  async welcomed (): Promise<void> {
    const timers = this.#options.timers ?? systemClock
    let timer: Timer | undefined
    await Promise.race([this.#welcomed, new Promise<void>((resolve) => { timer = timers.setTimeout(resolve, WELCOME_TIMEOUT_MS) })])
    timers.clearTimeout(timer)
  }

  /**
   * Resolves once no claimed offer waits for its commit or abort, or after
   * CLAIMS_SETTLE_TIMEOUT_MS (what is still claimed then is dropped). Call it once this
   * generation no longer claims (it is draining) and before its drain: a connection the
   * previous generation commits must be here to be drained, not lost with this process.
   */
  async settled (): Promise<void> {
    if (this.#claimed.size === 0) return
    const timers = this.#options.timers ?? systemClock
    let timer: Timer | undefined
    await Promise.race([
      new Promise<void>((resolve) => { this.#onSettled.push(resolve) }),
      new Promise<void>((resolve) => { timer = timers.setTimeout(resolve, CLAIMS_SETTLE_TIMEOUT_MS) })
    ])
    timers.clearTimeout(timer)
    this.#dropClaims()
  }

  /** Sets the received ticket keys on the TLS servers listening by now (call on each 'listening'). */
  applyTicketKeys (): void {
    if (this.#ticketKeys.size === 0) return
    const applied: string[] = []
    for (const { server, key } of this.#options.servers()) {
      if (key === undefined || this.#keyed.has(server)) continue
      const keys = this.#ticketKeys.get(key)
      if (keys === undefined) continue
      this.#keyed.add(server)
      if (takeTicketKeys(server, keys)) applied.push(key)
    }
    if (applied.length > 0) this.#options.onTicketKeys?.(applied)
  }

  #onMessage (message: HandoffMessage, handle: unknown): void {
    switch (message.type) {
      case 'welcome':
        for (const { key, keys } of message.ticketKeys) this.#ticketKeys.set(key, keys)
        this.applyTicketKeys()
        this.#welcome()
        return
      case 'offer':
        this.#onOffer(message.id, message.key, handle)
        return
      case 'commit':
        this.#onCommit(message.id)
        this.#settle()
        return
      case 'abort': {
        const claimed = this.#claimed.get(message.id)
        this.#claimed.delete(message.id)
        if (claimed !== undefined) closeHandle(claimed.handle)
        this.#settle()
      }
    }
  }

  #onCommit (id: number): void {
    const claimed = this.#claimed.get(id)
    if (claimed === undefined) return
    this.#claimed.delete(id)
    let socket: Socket
    try {
      socket = adoptConnection(claimed.server, claimed.handle)
    } catch {
      // Node's internals are not what connection-io.ts expects: the connection closes
      // (the previous generation let go of it), this generation keeps serving.
      closeHandle(claimed.handle)
      return
    }
    this.#options.onAdopted?.(socket, claimed.key)
  }

  #dropClaims (): void {
    for (const { handle } of this.#claimed.values()) closeHandle(handle)
    this.#claimed.clear()
    this.#settle()
  }

  #settle (): void {
    if (this.#claimed.size > 0) return
    for (const resolve of this.#onSettled.splice(0)) resolve()
  }

  #onOffer (id: number, key: string, handle: unknown): void {
    const decline = (reason: string): void => {
      if (isHandle(handle)) closeHandle(handle)
      this.#link.send(encode({ type: 'decline', id, reason })).catch(() => {})
    }
    if (!isHandle(handle)) {
      decline('no socket arrived with the offer')
      return
    }
    const server = this.#options.serverFor(key)
    if (server === undefined) {
      decline(`no server here takes connections for ${key}`)
      return
    }
    this.#claimed.set(id, { handle, server, key })
    this.#link.send(encode({ type: 'claim', id })).catch(() => {
      this.#claimed.delete(id)
      closeHandle(handle)
      this.#settle()
    })
  }
}

function isHandle (value: unknown): value is object {
  return typeof value === 'object' && value !== null
}
