/**
 * Signal routing in one table: each routed signal becomes an event for the lifecycle.
 * Nothing is installed until the app creates its orchestrator.
 */
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
