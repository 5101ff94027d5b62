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

/** Installs the table; returns the function that removes every handler again. */
export function installSignals (table: ReadonlyMap<RoutableSignal, SignalAction>, handlers: SignalHandlers, onSignal: OnSignal): () => void {
  const removers: Array<() => void> = []
  for (const [signal, action] of table) {
    // SIGBREAK exists on Windows only; listening for it elsewhere throws.
    if (signal === 'SIGBREAK' && process.platform !== 'win32') continue
    const handler = action === 'ignore' ? () => {} : () => handlers[action](signal)
    removers.push(onSignal(signal, handler))
  }
  return () => { for (const remove of removers.splice(0)) remove() }
}
