/**
 * @graceful-restart/core: zero-downtime restarts for Node.js servers.
 *
 * Importing this module has no side effects: no signal handler and no fd is touched until
 * `gracefulRestart()` is called.
 *
 * The user API, small on purpose: whatever is exported here is a promise. Framework
 * adapters get their plumbing from `@graceful-restart/core/adapter`; the rest (listen
 * argument parsing, the OS seam, defaults) stays internal, and the README documents the
 * defaults.
 */
export { gracefulRestart } from './instance.ts'
// A type only: the class's constructor takes the internal OS seam, and gracefulRestart()
// is the one way to the process's orchestrator.
export type { Graceful, State } from './lifecycle.ts'
export type { HandoverResult } from './handover/attempt.ts'
export type { ShutdownResult } from './generation-drain.ts'
export type { GracefulOptions, SignalAction, RoutableSignal, SettableContext } from './options.ts'
export { GracefulError, HandoverError } from './errors.ts'
export type { GracefulErrorCode } from './errors.ts'
export { CHANNELS } from './diagnostics.ts'
export type { Logger } from './diagnostics.ts'
export { healthHandler } from './health.ts'
export type { HealthPaths } from './health.ts'
export type { DrainCounts } from './drain.ts'
// What `graceful.context` says the process runs under (CONTEXT_KINDS stays internal: the
// types name the kinds, as they name the signals).
export type { ContextKind, ProcessContext } from './context.ts'
