/**
 * @graceful-restart/nestjs: zero-downtime restarts for NestJS 12, on the Express or the
 * Fastify platform.
 *
 *   const app = await NestFactory.create(AppModule)
 *   app.enableShutdownHooks()                     // optional, and safe with this package
 *   await gracefulNest(app, { pidFile: '/run/app.pid' })
 *   await app.listen(8080, '127.0.0.1')
 *
 * The app's HTTP server claims the socket inherited from the previous generation (on the
 * Fastify platform through @graceful-restart/fastify), and `app.close()` runs after the
 * drain: Nest's onModuleDestroy, beforeApplicationShutdown and onApplicationShutdown run
 * once in the old generation after its in-flight requests, on a handover as on SIGTERM.
 * Nest's own signal listeners (`enableShutdownHooks()`, called before or after this) are
 * taken off the signals graceful-restart routes: on SIGUSR2 they would close the app
 * before the next generation is ready, and a release that failed at boot would leave
 * nothing serving.
 */
import type { Server } from 'node:net'
import { GracefulError, gracefulRestart } from '@graceful-restart/core'
import type { Graceful, GracefulOptions } from '@graceful-restart/core'

export type { Graceful, GracefulOptions, HandoverResult, ShutdownResult, State } from '@graceful-restart/core'

/** What this package uses of a Nest application (`INestApplication`, either platform). */
export interface NestApplicationLike {
  getHttpAdapter: () => { getType: () => string, getInstance: () => unknown }
  getHttpServer: () => unknown
  close: (signal?: string) => Promise<void>
  enableShutdownHooks: (...args: never[]) => unknown
}

interface FastifyLike {
  register: (plugin: unknown, options: unknown) => PromiseLike<unknown>
  graceful: Graceful
}

/**
 * Makes a Nest application restart-aware. Call it after `NestFactory.create()` and before
 * `app.listen()`; it creates this process's orchestrator with `options`.
 * @throws ERR_GRACEFUL_NOT_SUPPORTED on the Fastify platform without @graceful-restart/fastify installed.
 */
export async function gracefulNest (app: NestApplicationLike, options: GracefulOptions = {}): Promise<Graceful> {
  const adapter = app.getHttpAdapter()
  let graceful: Graceful
  if (adapter.getType() === 'fastify') {
    const plugin = await import('@graceful-restart/fastify').catch((err: unknown) => {
      throw new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'NestJS on Fastify needs @graceful-restart/fastify: npm install @graceful-restart/fastify', { cause: err })
    })
    const fastify = adapter.getInstance() as FastifyLike
    // The plugin claims the inherited sockets (Fastify may bind more than one server) and
    // closes Fastify after the drain; Nest's app.close() below then finds it closed.
    await fastify.register(plugin.default, options)
    graceful = fastify.graceful
  } else {
    graceful = gracefulRestart(options)
    graceful.attach(app.getHttpServer() as Server)
  }
  leaveRoutedSignals(app, graceful)
  let reason: string | undefined
  graceful.onDraining((why) => { reason = why })
  // onApplicationShutdown(signal) hears SIGTERM or SIGINT; a handover passes no signal.
  graceful.onDrained(() => app.close(reason?.startsWith('SIG') === true ? reason : undefined))
  return graceful
}

/**
 * Takes Nest's shutdown-hook listeners off the signals the orchestrator routes, now and
 * whenever `enableShutdownHooks()` is called again; Nest keeps the others (SIGHUP...).
 * Nest 12 keeps them in `shutdownCleanupRefs` (signal -> listener); an app whose Nest
 * keeps them elsewhere is left as it is, and the core's warning at ready names them.
 */
function leaveRoutedSignals (app: NestApplicationLike, graceful: Graceful): void {
  const routed = [...graceful.options.signals].filter(([, action]) => action !== 'ignore').map(([signal]) => signal)
  const strip = (): void => {
    const refs = (app as { shutdownCleanupRefs?: unknown }).shutdownCleanupRefs
    if (!(refs instanceof Map)) return
    for (const signal of routed) {
      const cleanup: unknown = refs.get(signal)
      if (typeof cleanup !== 'function') continue
      process.off(signal, cleanup as () => void)
      refs.delete(signal)
    }
  }
  strip()
  // From the prototype: through Nest's application proxy, the method would call back into
  // the property defined below. Defined, not assigned: the proxy ignores assignments.
  const enable = (Object.getPrototypeOf(app) as NestApplicationLike).enableShutdownHooks
  Object.defineProperty(app, 'enableShutdownHooks', {
    configurable: true,
    writable: true,
    value: function (this: unknown, ...args: never[]): unknown {
      const result = enable.apply(this, args)
      strip()
      return result
    }
  })
}

export default gracefulNest
