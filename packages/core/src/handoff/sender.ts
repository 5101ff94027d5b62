/**
 * The old generation's side of the handoff: over the channel to the next generation it
 * answers that generation's hello with the TLS ticket keys, and, during the drain, offers
 * it idle keep-alive connections instead of closing them (the drain decides which and when,
 * drain.ts; the protocol is in protocol.ts).
 *
 * The race it must win: the client may send its next request while the connection is on
 * its way. Reads stop first; then the connection must still be idle (no byte read since its
 * last response ended, nothing in the parser); only then is it sent. What the client sends
 * from then on waits in the kernel's receive buffer, which travels with the socket. If a
 * byte was read after all, the request is served here and the connection offered again.
 */
import type { Socket } from 'node:net'
import type { HandoffOutcome, HandoffPort } from '../drain.ts'
import { handleOf, isTcpConnection, parserIdle, pauseReads, resumeReads } from './connection-io.ts'
import { systemClock, type Timer } from '../clock.ts'
import { decode, encode, type GenerationLink, type HandoffMessage, type HandoffTimers, type TicketKeyEntry } from './protocol.ts'

/** How long an offered connection waits for the next generation's claim before it stays here. */
export const OFFER_TIMEOUT_MS = 1_000

/**
 * Offers on their way at once. Node's IPC sends one handle at a time and waits for its
 * acknowledgement, so thousands of offers sent together would age in Node's queue and time
 * out before the next generation even saw them. The rest wait their turn, idle and read
 * as usual (a request that comes meanwhile is served here, and the connection offered after).
 */
export const MAX_OFFERS_IN_FLIGHT = 64

export interface SenderOptions {
  /** The keys of this generation's TLS listeners, read when the next generation says hello. */
  ticketKeys: () => TicketKeyEntry[]
  /** Runs just before a connection is sent: its reads stopped, it was found idle. */
  onSend?: (socket: Socket, key: string) => void
  timeoutMs?: number
  /** Default MAX_OFFERS_IN_FLIGHT. */
  maxInFlight?: number
  timers?: HandoffTimers
}

interface Offer {
  socket: Socket
  /** `socket.bytesRead` when the offer was made: a commit needs it unchanged. */
  readMark: number
  timer: Timer
  resolve: (outcome: HandoffOutcome) => void
}

export class HandoffSender {
  readonly #link: GenerationLink
  readonly #options: SenderOptions
  readonly #timers: HandoffTimers
  readonly #offers = new Map<number, Offer>()
  #nextId = 1
  #greeted = false
  #closed = false
  /** Offers holding a slot (MAX_OFFERS_IN_FLIGHT), and those waiting for one, in order. */
  #inFlight = 0
  readonly #waiting: Array<() => void> = []

  constructor (link: GenerationLink, options: SenderOptions) {
    this.#link = link
    this.#options = options
    this.#timers = options.timers ?? systemClock
    link.onMessage((raw) => {
      const message = decode(raw)
      if (message !== undefined) this.#onMessage(message)
    })
    link.onDisconnect(() => {
      this.#closed = true
      for (const id of [...this.#offers.keys()]) this.#takeBack(id, 'refused')
    })
  }

  /** Whether connections can be offered: the next generation said hello and the channel is open. */
  get open (): boolean {
    return this.#greeted && !this.#closed
  }

  /** What the drain of listener `key` offers its idle connections through. */
  portFor (key: string): HandoffPort {
    const sender = this
    return {
      get open () { return sender.open },
      offer: (socket, stillIdle) => this.#offer(key, socket, stillIdle)
    }
  }

  /** Closes the channel (the drain is over); what is still offered stays here. */
  close (): void {
    this.#closed = true
    for (const id of [...this.#offers.keys()]) this.#takeBack(id, 'refused')
    this.#link.disconnect()
  }

  async #offer (key: string, socket: Socket, stillIdle: () => boolean): Promise<HandoffOutcome> {
    await this.#slot()
    try {
      return await this.#tryOffer(key, socket, stillIdle)
    } catch {
      // Node's internals are not what connection-io.ts expects: this connection stays, read again.
      try { resumeReads(socket) } catch {}
      return 'refused'
    } finally {
      this.#releaseSlot()
    }
  }

  async #slot (): Promise<void> {
    if (this.#inFlight < (this.#options.maxInFlight ?? MAX_OFFERS_IN_FLIGHT)) {
      this.#inFlight++
      return
    }
    await new Promise<void>((resolve) => { this.#waiting.push(resolve) })
  }

  /** The slot goes to the next offer waiting, if any. */
  #releaseSlot (): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#inFlight--
  }

  async #tryOffer (key: string, socket: Socket, stillIdle: () => boolean): Promise<HandoffOutcome> {
    const handle = handleOf(socket)
    if (!this.open || handle === undefined || !isTcpConnection(socket)) return 'refused'
    // Part of the last response is still to be written: not yet.
    if (socket.writableLength > 0) return 'busy'
    // Not reading means held back for a response to drain: busy too.
    if (!pauseReads(socket)) return 'busy'
    if (!stillIdle() || !parserIdle(socket)) {
      resumeReads(socket)
      return 'busy'
    }
    const id = this.#nextId++
    return await new Promise<HandoffOutcome>((resolve) => {
      const timer = this.#timers.setTimeout(() => this.#takeBack(id, 'refused'), this.#options.timeoutMs ?? OFFER_TIMEOUT_MS)
      this.#offers.set(id, { socket, readMark: socket.bytesRead, timer, resolve })
      // Its keep-alive timer must not close it while it is on its way.
      socket.setTimeout(0)
      try {
        this.#options.onSend?.(socket, key)
      } catch {
        // A subscriber's failure does not stop the handoff.
      }
      this.#link.send(encode({ type: 'offer', id, key }), handle).catch(() => this.#takeBack(id, 'refused'))
    })
  }

  #onMessage (message: HandoffMessage): void {
    switch (message.type) {
      case 'hello':
        this.#greeted = true
        this.#link.send(encode({ type: 'welcome', ticketKeys: this.#options.ticketKeys() })).catch(() => {})
        return
      case 'claim':
        this.#onClaim(message.id)
        return
      case 'decline':
        this.#takeBack(message.id, 'refused')
    }
  }

  #onClaim (id: number): void {
    const offer = this.#offers.get(id)
    const abort = (): void => { this.#link.send(encode({ type: 'abort', id })).catch(() => {}) }
    if (offer === undefined) {
      // Timed out meanwhile: the connection stayed here, and the other copy must go.
      abort()
      return
    }
    this.#offers.delete(id)
    this.#timers.clearTimeout(offer.timer)
    const { socket } = offer
    if (socket.destroyed) {
      abort()
      offer.resolve('refused')
      return
    }
    if (socket.bytesRead !== offer.readMark) {
      // Something read from it after all: it is this generation's to serve.
      abort()
      resumeReads(socket)
      offer.resolve('busy')
      return
    }
    this.#link.send(encode({ type: 'commit', id })).then(
      () => offer.resolve('handed-off'),
      () => {
        // The commit never left: the next generation drops its copy when the channel closes.
        resumeReads(socket)
        offer.resolve('refused')
      })
  }

  #takeBack (id: number, outcome: HandoffOutcome): void {
    const offer = this.#offers.get(id)
    if (offer === undefined) return
    this.#offers.delete(id)
    this.#timers.clearTimeout(offer.timer)
    if (!offer.socket.destroyed) resumeReads(offer.socket)
    offer.resolve(outcome)
  }
}
