/**
 * Signal routing in one table: each routed signal becomes an event for the lifecycle.
 * Nothing is installed until the app creates its orchestrator.
 */
import { constants as osConstants } from 'node:os'
import type { Reporter } from './diagnostics.ts'
import type { RoutableSignal, SignalAction } from './options.ts'

export interface SignalHandlers {
  handover: (signal: NodeJS.Signals) => void
  shutdown: (signal: NodeJS.Signals) => void
}

export type OnSignal = (signal: NodeJS.Signals, handler: () => void) => () => void

/**
 * Marks the handlers installed here, so that other listeners of the same signals can be
 * told apart (signal-conflicts.ts). Global: two copies of the package share one brand.
 */
export const kOwnHandler = Symbol.for('graceful-restart.signal-handler')

/** Whether `fn` is a handler this library installed. */
export function isOwnHandler (fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[kOwnHandler] === true
}

/** Installs the table; returns the function that removes every handler again. */
export function installSignals (table: ReadonlyMap<RoutableSignal, SignalAction>, handlers: SignalHandlers, onSignal: OnSignal): () => void {
  const removers: Array<() => void> = []
  for (const [signal, action] of table) {
    // SIGBREAK exists on Windows only; listening for it elsewhere throws.
    if (signal === 'SIGBREAK' && process.platform !== 'win32') continue
    const handler = action === 'ignore' ? () => {} : () => handlers[action](signal)
    Object.defineProperty(handler, kOwnHandler, { value: true })
    removers.push(onSignal(signal, handler))
  }
  return () => { for (const remove of removers.splice(0)) remove() }
}

/** What the signal glue asks of the lifecycle. */
export interface SignalTargets {
  reporter: Reporter
  pid: number
  /** Under a manager that restarts its child itself (nodemon, node --watch), its name; else undefined. */
  exitingManager: () => string | undefined
  draining: () => boolean
  handover: (signal: NodeJS.Signals) => void
  shutdown: (signal: NodeJS.Signals) => void
  exit: (code: number) => void
}

/**
 * Turns signals into the lifecycle's events (facebookgo/grace keeps this glue apart from
 * inheritance and draining): a restart signal hands over, or under a manager that restarts
 * its child itself drains and exits by that signal; a shutdown signal drains, and a second
 * one during a drain exits at once.
 */
export class SignalRouter implements SignalHandlers {
  readonly #t: SignalTargets
  #shutdownSignals = 0
  /** Set when a manager's restart signal started the drain: the process ends by it. */
  #exitSignal: NodeJS.Signals | undefined

  constructor (targets: SignalTargets) {
    this.#t = targets
  }

  get exitSignal (): NodeJS.Signals | undefined { return this.#exitSignal }

  handover = (signal: NodeJS.Signals): void => {
    const manager = this.#t.exitingManager()
    if (manager === undefined) {
      this.#t.handover(signal)
      return
    }
    // The manager waits for this exit and then starts the new code; it may send its
    // signal more than once (nodemon signals the whole tree, then the child again).
    if (!this.#t.draining()) {
      this.#t.reporter.log('info', `${signal} under ${manager}: draining, then exiting by ${signal} so that ${manager} starts the new code`, { pid: this.#t.pid, signal })
      this.#exitSignal = signal
    }
    this.#t.shutdown(signal)
  }

  shutdown = (signal: NodeJS.Signals): void => {
    this.#shutdownSignals++
    if (!this.#t.draining()) {
      this.#t.shutdown(signal)
      return
    }
    // The first signal during a handover's drain lets it finish; a second one is an order.
    if (this.#shutdownSignals === 1) {
      this.#t.reporter.log('info', `${signal} while draining after a handover: the drain continues; send it again to exit now`, { signal })
      return
    }
    this.#t.reporter.log('warn', `${signal} during drain: exiting now`, { signal })
    this.#t.exit(128 + (osConstants.signals[signal] ?? 0))
  }
}
