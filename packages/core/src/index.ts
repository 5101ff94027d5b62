/**
 * @graceful-restart/core: zero-downtime restarts for Node.js servers.
 *
 * Importing this module has no side effects: no signal handler and no fd is touched until
 * `gracefulRestart()` is called.
 */
import { Graceful } from './lifecycle.ts'
import type { GracefulOptions } from './options.ts'
import { nodePlatform } from './platform.ts'
import { GracefulError } from './errors.ts'

// Versioned and global: two installed copies of the package must still share one
// orchestrator, or they would fight over the same inherited sockets and signals.
const kInstance = Symbol.for('graceful-restart.instance.v1')
type Holder = { [kInstance]?: Graceful }

/**
 * Creates this process's orchestrator (once) and installs its signal table. Later calls
 * without options return the same instance; later calls with options throw
 * `ERR_GRACEFUL_ALREADY_CREATED`, since one process has one policy.
 */
export function gracefulRestart (options?: GracefulOptions): Graceful {
  const holder = globalThis as Holder
  const existing = holder[kInstance]
  if (existing !== undefined) {
    if (options !== undefined && Object.keys(options).length > 0) {
      throw new GracefulError('ERR_GRACEFUL_ALREADY_CREATED', 'gracefulRestart() was already called with options in this process; call it without options to get the instance')
    }
    return existing
  }
  const instance = new Graceful(options, nodePlatform())
  holder[kInstance] = instance
  return instance
}

/** The orchestrator if one was created, without creating it. */
export function currentGraceful (): Graceful | undefined {
  return (globalThis as Holder)[kInstance]
}

export { Graceful } from './lifecycle.ts'
export type { State, HandoverResult, ShutdownResult } from './lifecycle.ts'
export { GracefulError, HandoverError } from './errors.ts'
export type { GracefulErrorCode } from './errors.ts'
export {
  DEFAULT_DRAIN_TIMEOUT, DEFAULT_IDLE_GRACE, DEFAULT_MAX_DRAINING, DEFAULT_SHUTDOWN_DELAY, DEFAULT_SIGNALS, DEFAULT_UPGRADE_TIMEOUT, ROUTABLE_SIGNALS
} from './options.ts'
export type { GracefulOptions, SignalAction, RoutableSignal, SettableContext } from './options.ts'
export { CONTEXT_KINDS } from './context.ts'
export type { ContextKind, ProcessContext } from './context.ts'
export { CHANNELS } from './diagnostics.ts'
export { DEFAULT_HEALTH_PATHS, healthAnswer, healthHandler, resolveHealthPaths, withHealth } from './health.ts'
export type { HealthAnswer, HealthPaths } from './health.ts'
export type { Logger } from './diagnostics.ts'
export type { DrainCounts } from './drain.ts'
export type { Platform } from './platform.ts'
export { nodePlatform } from './platform.ts'
export { parseListenArgs, listenerKey } from './listeners/address.ts'
export type { ListenRequest } from './listeners/address.ts'
export { serverFactory } from './server-factory.ts'
export { BALANCER_KEEP_ALIVE_TIMEOUT, setKeepAliveTimeout } from './keep-alive.ts'
export type { ServerFactory, ServerFactoryOptions } from './server-factory.ts'
