import type { Socket } from 'node:net'
import type { Server } from 'node:net'
import { invalidOption } from './errors.ts'
import type { Logger } from './diagnostics.ts'
import { CONTEXT_KINDS, type ContextKind } from './context.ts'

/** What a signal does when it reaches the process. */
export type SignalAction = 'handover' | 'shutdown' | 'ignore'

/** Signals the routing table may name. SIGUSR1 is Node's debugger signal and never used. */
export const ROUTABLE_SIGNALS = ['SIGUSR2', 'SIGHUP', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGBREAK'] as const
export type RoutableSignal = typeof ROUTABLE_SIGNALS[number]

export const DEFAULT_SIGNALS: Readonly<Record<string, SignalAction>> = Object.freeze({
  SIGUSR2: 'handover',
  SIGTERM: 'shutdown',
  SIGINT: 'shutdown'
})

export const DEFAULT_UPGRADE_TIMEOUT = 60_000
export const DEFAULT_DRAIN_TIMEOUT = 30_000
export const DEFAULT_IDLE_GRACE = 1_000
export const DEFAULT_SHUTDOWN_DELAY = 0
export const DEFAULT_MAX_DRAINING = 3
export const DEFAULT_WATCH_DEBOUNCE = 500

export interface GracefulOptions {
  /** How long the next generation may take to become ready before it is killed (ms). Default 60 s. */
  upgradeTimeout?: number
  /** How long in-flight requests may run once draining started; the rest is destroyed (ms). Default 30 s. */
  drainTimeout?: number
  /**
   * How long an idle keep-alive connection is kept open once draining started, so that a
   * request already on its way over it is still answered (ms). Default 1 s.
   */
  idleGrace?: number
  /**
   * On a shutdown (SIGTERM, not a handover): report not-ready at once but keep serving this
   * long before draining, so a load balancer can take the instance out of rotation (ms).
   * Default 0; behind Kubernetes or a load balancer, a few seconds.
   */
  shutdownDelay?: number
  /** Write the PID of the ready generation to this file (atomically). */
  pidFile?: string
  /**
   * Signal routing, merged over the defaults `{ SIGUSR2: 'handover', SIGTERM: 'shutdown',
   * SIGINT: 'shutdown' }`; `null` removes a route. `false` installs no handler at all.
   */
  signals?: false | Partial<Record<RoutableSignal, SignalAction | null>>
  /**
   * Report readiness by itself once every attached server is listening and `ready` resolved.
   * With `false`, call `graceful.ready()`. Default true.
   */
  autoReady?: boolean
  /** The app's own readiness check (warm caches, connect databases); readiness waits for it. */
  ready?: () => unknown
  /** Runs after the drain finished, before the process exits (close pools, flush logs). */
  beforeExit?: () => unknown
  /** Receives each upgraded (WebSocket) connection when draining starts, to close it politely. */
  onUpgradedSocket?: (socket: Socket, server: Server) => void
  /** A pino-compatible logger, or false for silence. Default: warnings and errors to stderr, the rest to `NODE_DEBUG=graceful-restart`. */
  logger?: Logger | false
  /** Exit the process after a drain. Default true. */
  exit?: boolean
  /**
   * Env files the app loads itself (dotenv): read again at each handover, their variables
   * replace the values the previous read gave in the next generation's environment. A
   * variable of the real environment still wins. Relative to the working directory.
   */
  envFile?: string | string[]
  /**
   * At most this many older generations drain at once. Before a handover starts a new
   * generation, the oldest draining ones end their drain at once (their remaining
   * connections are closed and counted in `drain:end`). Default 3; `Infinity` for no cap.
   */
  maxDraining?: number
  /**
   * `keepAliveTimeout` of the attached HTTP servers (ms), with `headersTimeout` raised above
   * it. Behind a load balancer it must exceed the balancer's idle timeout (ALB and nginx: 60 s);
   * the adapters use 65 s with `health` on. Default: leave the servers' own value.
   */
  keepAliveTimeout?: number
  /**
   * Hand over by itself when the release changes on disk: the target of a symlink
   * (`current -> releases/v8`), or the content of a file (a build stamp, package.json, the
   * entry) or the listing of a directory. Relative paths are taken from the logical working
   * directory (`$PWD`, through symlinks). Ignored under `graceful-restart run` (use `--watch`).
   */
  watch?: string | string[]
  /** Quiet time after the last change on disk before the handover starts (ms). Default 500. */
  watchDebounce?: number
  /**
   * At a handover's drain, pass idle keep-alive connections of plain HTTP/1.1 servers (TCP,
   * not TLS) to the next generation instead of closing them, so clients keep their
   * connections. One that cannot be passed (busy, upgraded, TLS, HTTP/2, refused or not
   * passed within 1 s) is drained as without it. Re-exec mode only. Default true; with
   * false every keep-alive client reconnects once per handover (`Connection: close`, `idleGrace`).
   */
  handoffIdleConnections?: boolean
  /**
   * Where this process runs, which decides what a handover signal does. Default `'auto'`:
   * detected at start-up (nodemon, `node --watch`, `tsx watch`, PM2, a cluster worker, the
   * supervisor, systemd, PID 1 or a wrapper as PID 1 in a container). Name a context to
   * override the detection, e.g. `'standalone'` to allow re-exec handovers where you know
   * the old process's exit takes nothing down.
   */
  context?: 'auto' | SettableContext
}

/** Contexts the `context` option may name; `supervisor` comes only from the supervisor itself. */
export type SettableContext = Exclude<ContextKind, 'supervisor'>
export const SETTABLE_CONTEXTS: readonly SettableContext[] = CONTEXT_KINDS.filter((k): k is SettableContext => k !== 'supervisor')

export interface ResolvedOptions {
  upgradeTimeout: number
  drainTimeout: number
  idleGrace: number
  shutdownDelay: number
  pidFile: string | undefined
  signals: Map<RoutableSignal, SignalAction>
  autoReady: boolean
  ready: (() => unknown) | undefined
  beforeExit: (() => unknown) | undefined
  onUpgradedSocket: ((socket: Socket, server: Server) => void) | undefined
  logger: Logger | false | undefined
  exit: boolean
  envFile: string[]
  maxDraining: number
  keepAliveTimeout: number | undefined
  watch: string[]
  watchDebounce: number
  handoffIdleConnections: boolean
  context: 'auto' | SettableContext
}

const ACTIONS: readonly string[] = ['handover', 'shutdown', 'ignore']

function duration (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > 2 ** 31 - 1) {
    return throwInvalid(name, `a finite number of milliseconds >= ${min}`, value)
  }
  return value
}

function throwInvalid (name: string, expected: string, value: unknown): never {
  throw invalidOption(name, expected, value)
}

function optionalFunction<T> (name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throwInvalid(name, 'a function', value)
  return value as T
}

function resolveSignals (value: GracefulOptions['signals']): Map<RoutableSignal, SignalAction> {
  const table = new Map<RoutableSignal, SignalAction>()
  if (value === false) return table
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throwInvalid('signals', 'false or an object mapping signal names to actions', value)
  }
  const merged: Record<string, SignalAction | null | undefined> = { ...DEFAULT_SIGNALS, ...value }
  for (const [name, action] of Object.entries(merged)) {
    if (!(ROUTABLE_SIGNALS as readonly string[]).includes(name)) {
      throwInvalid(`signals.${name}`, `one of ${ROUTABLE_SIGNALS.join(', ')}`, name)
    }
    if (action === null || action === undefined) continue
    if (!ACTIONS.includes(action)) throwInvalid(`signals.${name}`, `one of ${ACTIONS.join(', ')} or null`, action)
    table.set(name as RoutableSignal, action)
  }
  return table
}

function resolvePaths (name: string, value: unknown): string[] {
  if (value === undefined) return []
  const list = Array.isArray(value) ? value as unknown[] : [value]
  if (list.length === 0 || !list.every((file) => typeof file === 'string' && file !== '' && !file.includes('\0'))) {
    throwInvalid(name, 'a path or a non-empty array of paths', value)
  }
  return list as string[]
}

function resolveMaxDraining (value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_DRAINING
  if (value === Infinity || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1)) return value
  return throwInvalid('maxDraining', 'an integer >= 1 or Infinity', value)
}

function isLogger (value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return ['info', 'warn', 'error'].every((level) => typeof v[level] === 'function')
}

/** The signal `graceful-restart reload` must send to start a handover (SIGUSR2 if routed); null when none is. */
export function reloadSignal (signals: ReadonlyMap<RoutableSignal, SignalAction>): NodeJS.Signals | null {
  const routed = [...signals].filter(([, action]) => action === 'handover').map(([signal]) => signal)
  return routed.includes('SIGUSR2') ? 'SIGUSR2' : routed[0] ?? null
}

/** Validates options at the boundary; every mistake throws ERR_GRACEFUL_INVALID_OPTION. */
export function resolveOptions (options: GracefulOptions = {}): ResolvedOptions {
  const proto = typeof options === 'object' && options !== null ? Object.getPrototypeOf(options) as unknown : undefined
  if (proto !== Object.prototype && proto !== null) throwInvalid('options', 'a plain object', Array.isArray(options) ? 'an array' : options)
  const known = new Set(['upgradeTimeout', 'drainTimeout', 'idleGrace', 'shutdownDelay', 'pidFile', 'signals', 'autoReady',
    'ready', 'beforeExit', 'onUpgradedSocket', 'logger', 'exit', 'envFile', 'maxDraining', 'keepAliveTimeout', 'watch', 'watchDebounce', 'handoffIdleConnections', 'context'])
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throwInvalid(key, `one of the known options (${[...known].join(', ')})`, key)
  }
  if (options.pidFile !== undefined && (typeof options.pidFile !== 'string' || options.pidFile === '')) {
    throwInvalid('pidFile', 'a non-empty path', options.pidFile)
  }
  if (options.autoReady !== undefined && typeof options.autoReady !== 'boolean') throwInvalid('autoReady', 'a boolean', options.autoReady)
  if (options.exit !== undefined && typeof options.exit !== 'boolean') throwInvalid('exit', 'a boolean', options.exit)
  if (options.handoffIdleConnections !== undefined && typeof options.handoffIdleConnections !== 'boolean') {
    throwInvalid('handoffIdleConnections', 'a boolean', options.handoffIdleConnections)
  }
  if (options.context !== undefined && options.context !== 'auto' && !(SETTABLE_CONTEXTS as readonly unknown[]).includes(options.context)) {
    throwInvalid('context', `'auto' or one of ${SETTABLE_CONTEXTS.join(', ')}`, options.context)
  }
  if (options.logger !== undefined && options.logger !== false && !isLogger(options.logger)) {
    throwInvalid('logger', 'false or an object with info, warn and error methods', options.logger)
  }
  return {
    upgradeTimeout: duration('upgradeTimeout', options.upgradeTimeout, DEFAULT_UPGRADE_TIMEOUT, 1),
    drainTimeout: duration('drainTimeout', options.drainTimeout, DEFAULT_DRAIN_TIMEOUT, 0),
    idleGrace: duration('idleGrace', options.idleGrace, DEFAULT_IDLE_GRACE, 0),
    shutdownDelay: duration('shutdownDelay', options.shutdownDelay, DEFAULT_SHUTDOWN_DELAY, 0),
    pidFile: options.pidFile,
    signals: resolveSignals(options.signals),
    autoReady: options.autoReady ?? true,
    ready: optionalFunction('ready', options.ready),
    beforeExit: optionalFunction('beforeExit', options.beforeExit),
    onUpgradedSocket: optionalFunction('onUpgradedSocket', options.onUpgradedSocket),
    logger: options.logger,
    exit: options.exit ?? true,
    envFile: resolvePaths('envFile', options.envFile),
    maxDraining: resolveMaxDraining(options.maxDraining),
    keepAliveTimeout: options.keepAliveTimeout === undefined ? undefined : duration('keepAliveTimeout', options.keepAliveTimeout, 0, 0),
    watch: resolvePaths('watch', options.watch),
    watchDebounce: duration('watchDebounce', options.watchDebounce, DEFAULT_WATCH_DEBOUNCE, 0),
    handoffIdleConnections: options.handoffIdleConnections ?? true,
    context: options.context ?? 'auto'
  }
}
