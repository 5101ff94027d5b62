/**
 * Every failure the library reports has a stable `code`. Callers branch on the code,
 * never on the message. The brand survives two installed copies of the package.
 */
const kGracefulError = Symbol.for('graceful-restart.error')

export type GracefulErrorCode =
  | 'ERR_GRACEFUL_INVALID_OPTION'
  | 'ERR_GRACEFUL_ALREADY_CREATED'
  | 'ERR_GRACEFUL_INHERIT_ENV'
  | 'ERR_GRACEFUL_INHERITED_FD'
  | 'ERR_GRACEFUL_PROTOCOL'
  | 'ERR_GRACEFUL_ADDRESS_IN_USE'
  | 'ERR_GRACEFUL_BIND'
  | 'ERR_GRACEFUL_CHANNEL'
  | 'ERR_GRACEFUL_NOT_SUPPORTED'
  | 'ERR_GRACEFUL_NOT_READY'
  | 'ERR_GRACEFUL_SHUTTING_DOWN'
  | 'ERR_GRACEFUL_SPAWN'
  | 'ERR_GRACEFUL_CHILD_EXITED'
  | 'ERR_GRACEFUL_UPGRADE_TIMEOUT'
  | 'ERR_GRACEFUL_STOP_TIMEOUT'
  | 'ERR_GRACEFUL_PIDFILE'
  | 'ERR_GRACEFUL_STALE_PIDFILE'
  | 'ERR_GRACEFUL_SIGNAL_LISTENER'
  | 'ERR_GRACEFUL_SERVER_CLOSED'
  | 'ERR_GRACEFUL_RELEASE_MANIFEST'
  | 'ERR_GRACEFUL_RELEASE_DOWNLOAD'
  | 'ERR_GRACEFUL_RELEASE_CHECKSUM'
  | 'ERR_GRACEFUL_RELEASE_SIGNATURE'
  | 'ERR_GRACEFUL_RELEASE_UNPACK'
  | 'ERR_GRACEFUL_RELEASE_PREPARE'
  | 'ERR_GRACEFUL_RELEASE_NOT_READY'
  | 'ERR_GRACEFUL_UNSAFE_CONTEXT'
  | 'ERR_GRACEFUL_MANAGED'

export class GracefulError extends Error {
  readonly code: GracefulErrorCode

  constructor (code: GracefulErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'GracefulError'
    this.code = code
  }

  get [kGracefulError] (): true {
    return true
  }

  // Two copies of this package (say, an adapter's and the app's) must still recognise
  // each other's errors; subclasses keep the ordinary prototype check.
  static override [Symbol.hasInstance] (value: unknown): boolean {
    if (this !== GracefulError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null &&
      (value as Record<symbol, unknown>)[kGracefulError] === true
  }
}

/** A handover ended without a ready next generation; the current one keeps serving. */
export class HandoverError extends GracefulError {
  /** Why the handover failed: 'exit' (crashed or exited), 'timeout', 'spawn' or 'aborted'. */
  readonly reason: 'exit' | 'timeout' | 'spawn' | 'aborted'
  readonly exitCode: number | null
  readonly signal: string | null

  constructor (
    code: GracefulErrorCode,
    message: string,
    details: { reason: HandoverError['reason'], exitCode?: number | null, signal?: string | null },
    options?: ErrorOptions
  ) {
    super(code, message, options)
    this.name = 'HandoverError'
    this.reason = details.reason
    this.exitCode = details.exitCode ?? null
    this.signal = details.signal ?? null
  }
}

export function invalidOption (name: string, expected: string, value: unknown): GracefulError {
  let shown: string
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
  } catch {
    shown = typeof value
  }
  return new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `option "${name}" must be ${expected}, got ${shown}`)
}
