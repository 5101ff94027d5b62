/**
 * @graceful-restart/core/adapter: what framework adapters need beside the user API. The
 * core decides (health answers, option splitting, keep-alive timeouts, the shared
 * orchestrator); an adapter only translates into its framework. Stable within a major
 * version, like the main entry, but meant for adapter authors rather than apps.
 */
export { currentGraceful } from './instance.ts'
export { healthAnswer, resolveHealthPaths, withHealth } from './health.ts'
export type { HealthAnswer } from './health.ts'
export { setKeepAliveTimeout } from './keep-alive.ts'
export { serverFactory } from './server-factory.ts'
export type { ServerFactory, ServerFactoryOptions } from './server-factory.ts'
