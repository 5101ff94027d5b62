/**
 * @graceful-restart/core: zero-downtime restarts for Node.js servers.
 *
 * Importing this module has no side effects: no signal handler and no fd is touched until
 * `gracefulRestart()` is called.
 */
export { currentGraceful, gracefulRestart } from './instance.ts'
export { Graceful } from './lifecycle.ts'
export type { State, HandoverResult, ShutdownResult } from './lifecycle.ts'
export { GracefulError, HandoverError } from './errors.ts'
export type { GracefulErrorCode } from './errors.ts'
export {
  DEFAULT_DRAIN_TIMEOUT, DEFAULT_IDLE_GRACE, DEFAULT_SHUTDOWN_DELAY, DEFAULT_SIGNALS, DEFAULT_UPGRADE_TIMEOUT, ROUTABLE_SIGNALS
} from './options.ts'
export type { GracefulOptions, SignalAction, RoutableSignal } from './options.ts'
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
export type { ServerFactory, ServerFactoryOptions } from './server-factory.ts'
