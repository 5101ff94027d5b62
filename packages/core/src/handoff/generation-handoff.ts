/**
 * What one generation does for the handoff (issue 16), on both of its sides: as the new
 * generation, it answers the previous one (receiver.ts: takes the TLS ticket keys before it
 * reports ready, serves the connections it is passed); as the old one, it opens the channel
 * to the next generation when there is something to take over, and offers its idle
 * connections over it during the drain that follows (sender.ts). The lifecycle only calls
 * in at its steps: listening, ready, child started, took over, drain.
 */
import type { Server as HttpServer } from 'node:http'
import tls from 'node:tls'
import type { Attachment } from '../attachments.ts'
import { CHANNELS, type Reporter } from '../diagnostics.ts'
import type { HandoffPort } from '../drain.ts'
import type { Platform } from '../platform.ts'
import { servesPlainHttp } from './connection-io.ts'
import type { GenerationLink } from './protocol.ts'
import { HandoffReceiver } from './receiver.ts'
import { HandoffSender } from './sender.ts'
import { ticketKeysOf } from './ticket-keys.ts'

export interface GenerationHandoffContext {
  platform: Platform
  reporter: Reporter
  /** The `handoffIdleConnections` option. */
  handoffIdleConnections: boolean
  /** The previous generation opened the handover channel (its version), or undefined. */
  fromPrevious: number | undefined
  attachments: () => readonly Attachment[]
  /** Whether this generation takes connections now: ready, or handing over (not draining). */
  serving: () => boolean
}

export class GenerationHandoff {
  readonly #ctx: GenerationHandoffContext
  readonly #receiver: HandoffReceiver | undefined
  /** The channel to the child a handover started; becomes #toNext once that child took over. */
  #pending: HandoffSender | undefined
  #toNext: HandoffSender | undefined

  constructor (ctx: GenerationHandoffContext) {
    this.#ctx = ctx
    this.#receiver = ctx.fromPrevious === undefined ? undefined : this.#openReceiver()
  }

  /** Sets the previous generation's TLS ticket keys on the servers listening by now. */
  listening (): void {
    this.#receiver?.applyTicketKeys()
  }

  /** Resolves once the previous generation answered (or did not in time): readiness waits for it. */
  async welcomed (): Promise<void> {
    await this.#receiver?.welcomed()
  }

  /**
   * This generation stopped serving: resolves once the connections it claimed from the
   * previous generation are here or dropped (bounded), so that its drain includes them.
   */
  async claimsSettled (): Promise<void> {
    await this.#receiver?.settled()
  }

  /** Whether the next generation gets the handover channel: connections to hand off, or TLS ticket keys. */
  wantsChannel (): boolean {
    return this.#ctx.attachments().some((a) => a.key !== undefined &&
      (a.server instanceof tls.Server || (this.#ctx.handoffIdleConnections && servesPlainHttp(a.server))))
  }

  /** The next generation was started with the channel: open before it says hello (it waits for the answer before it reports ready). */
  opened (channel: GenerationLink): void {
    const { platform, reporter } = this.#ctx
    const pid = platform.pid
    this.#pending = new HandoffSender(channel, {
      ticketKeys: () => ticketKeysOf(this.#ctx.attachments()),
      timers: platform,
      onSend: (socket, key) => reporter.event(CHANNELS.handoffSend, 'debug', 'passing an idle connection to the next generation',
        { pid, key, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort })
    })
  }

  /** The child of the last handover took over: the drain offers it connections. */
  tookOver (): void {
    this.#toNext = this.#pending
    this.#pending = undefined
  }

  /** What the drain of `a` offers idle connections through, when they may go to the next generation. */
  portFor (a: Attachment): HandoffPort | undefined {
    if (this.#toNext === undefined || !this.#ctx.handoffIdleConnections || a.key === undefined || !servesPlainHttp(a.server)) return undefined
    return this.#toNext.portFor(a.key)
  }

  /** The drain is over: the channel to the next generation closes (what is still offered stays here). */
  drained (): void {
    this.#toNext?.close()
  }

  #openReceiver (): HandoffReceiver | undefined {
    const { platform, reporter } = this.#ctx
    const link = platform.openParentLink()
    if (link === undefined) return undefined
    const pid = platform.pid
    return new HandoffReceiver(link, {
      serverFor: (key) => this.#serverFor(key),
      servers: () => this.#ctx.attachments(),
      timers: platform,
      onAdopted: (socket, key) => reporter.event(CHANNELS.handoffAdopted, 'debug', 'serving a connection of the previous generation',
        { pid, key, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort }),
      onTicketKeys: (keys) => reporter.log('debug', 'TLS session ticket keys taken over from the previous generation', { pid, listeners: keys })
    })
  }

  #serverFor (key: string): HttpServer | undefined {
    if (!this.#ctx.serving()) return undefined
    const a = this.#ctx.attachments().find((a) => a.key === key && a.server.listening)
    return a !== undefined && servesPlainHttp(a.server) ? a.server : undefined
  }
}
