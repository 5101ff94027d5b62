/**
 * The process's one orchestrator. Versioned and global: two installed copies of the
 * package must still share one orchestrator, or they would fight over the same inherited
 * sockets and signals.
 */
import { Graceful } from './lifecycle.ts'
import type { GracefulOptions } from './options.ts'
import { nodePlatform } from './platform.ts'
import { GracefulError } from './errors.ts'

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
