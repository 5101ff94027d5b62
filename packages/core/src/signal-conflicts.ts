/**
 * A second listener for a signal this library routes is a trap. NestJS's
 * `enableShutdownHooks()` listens to SIGUSR2 and SIGTERM among others and closes the app at
 * once: on a handover the old generation stops serving before the new one is ready, so a
 * release that fails at boot rolls back to a process that no longer listens. This file
 * finds such listeners (the lifecycle warns once per signal) and the servers that stopped
 * listening behind the lifecycle's back (a rollback then exits non-zero instead of
 * pretending to serve).
 */
import type { Server } from 'node:net'
import type { RoutableSignal, SignalAction } from './options.ts'
import { isOwnHandler } from './signals.ts'

export interface SignalConflict {
  signal: RoutableSignal
  /** What this library does on the signal. */
  action: 'handover' | 'shutdown'
  /** The other listeners' function names ('anonymous' without one), to find them in the app. */
  listeners: string[]
}

/** Routed signals that have listeners besides this library's own. */
export function signalConflicts (
  table: ReadonlyMap<RoutableSignal, SignalAction>,
  listenersOf: (signal: NodeJS.Signals) => readonly Function[]
): SignalConflict[] {
  const found: SignalConflict[] = []
  for (const [signal, action] of table) {
    if (action === 'ignore') continue
    if (signal === 'SIGBREAK' && process.platform !== 'win32') continue
    const others = listenersOf(signal).filter((fn) => !isOwnHandler(fn))
    if (others.length > 0) found.push({ signal, action, listeners: others.map((fn) => fn.name === '' ? 'anonymous' : fn.name) })
  }
  return found
}

/** What a conflict risks and how to resolve it, in one log message. */
export function conflictMessage ({ signal, action, listeners }: SignalConflict): string {
  const who = `${signal} has another listener (${listeners.join(', ')}) besides graceful-restart's ${action}`
  const risk = action === 'handover'
    ? 'if it closes the app or exits, as NestJS\'s enableShutdownHooks() does, this process stops serving before the next generation is ready, and a release that fails at boot leaves nothing serving'
    : 'if it closes the app or exits, as NestJS\'s enableShutdownHooks() does, requests in flight are cut off and cleanup that should follow the drain may not run'
  const fix = `leave ${signal} to graceful-restart (remove the listener, or leave ${signal} out of its signal list) and run cleanup in graceful.onDrained(); for NestJS use @graceful-restart/nestjs`
  return `${who}: ${risk}. Fix: ${fix}`
}

/** Reports each conflicting signal once per process, however often it is checked. */
export class SignalConflictGuard {
  readonly #table: ReadonlyMap<RoutableSignal, SignalAction>
  readonly #listenersOf: (signal: NodeJS.Signals) => readonly Function[]
  readonly #warn: (message: string, data: Record<string, unknown>) => void
  readonly #reported = new Set<RoutableSignal>()

  constructor (
    table: ReadonlyMap<RoutableSignal, SignalAction>,
    listenersOf: (signal: NodeJS.Signals) => readonly Function[],
    warn: (message: string, data: Record<string, unknown>) => void
  ) {
    this.#table = table
    this.#listenersOf = listenersOf
    this.#warn = warn
  }

  check (): void {
    for (const conflict of signalConflicts(this.#table, this.#listenersOf)) {
      if (this.#reported.has(conflict.signal)) continue
      this.#reported.add(conflict.signal)
      this.#warn(conflictMessage(conflict), { code: 'ERR_GRACEFUL_SIGNAL_LISTENER', signal: conflict.signal, listeners: conflict.listeners })
    }
  }
}

/**
 * The servers among those that listened when a handover started which no longer do. Only
 * the drain closes a listener, and a handover drains nothing until the next generation is
 * ready: a server closed in between was closed by someone else.
 */
export function closedBehindOurBack<T extends { server: Server }> (serving: readonly T[]): T[] {
  return serving.filter((a) => !a.server.listening)
}
