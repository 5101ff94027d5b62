/**
 * @graceful-restart/fastify: zero-downtime restarts for Fastify 5.
 *
 *   await app.register(gracefulRestart, { drainTimeout: 30_000 })
 *   await app.listen({ port: 8080, host: '127.0.0.1' })
 *
 * `app.listen()`, in any form Fastify accepts, claims the sockets inherited from the
 * previous generation. Readiness is reported once Fastify listens on every address (its
 * `onReady` hooks ran before it binds) and the `ready` option resolved. On SIGUSR2 (once
 * the next generation is ready) or SIGTERM, the drain runs on the http server first and
 * `app.close()` after it: `preClose` and `onClose` run once, after the in-flight requests
 * finished, and no client meets the 503 that Fastify answers while it is closing.
 */
import type { Server } from 'node:net'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { gracefulRestart as createGraceful } from '@graceful-restart/core'
import { currentGraceful, healthAnswer, resolveHealthPaths, setKeepAliveTimeout } from '@graceful-restart/core/adapter'
import type { Graceful, GracefulOptions, HealthPaths } from '@graceful-restart/core'
import type { HealthAnswer } from '@graceful-restart/core/adapter'
import { markForSecondaries, routeSecondaries } from './localhost.ts'

/** The core's options. Readiness follows Fastify's `listen()`, so `autoReady` is not one of them. */
export type FastifyGracefulRestartOptions = Omit<GracefulOptions, 'autoReady'> & {
  /**
   * Liveness and readiness routes: `true` for `GET /healthz` and `GET /readyz`, or
   * `{ live, ready }` paths. Readiness answers 503 before ready and once a drain begins.
   * Also keeps the server's `headersTimeout` above Fastify's `keepAliveTimeout` (72 s).
   */
  health?: boolean | HealthPaths
}

export type { Graceful, GracefulOptions, HandoverResult, ShutdownResult, State } from '@graceful-restart/core'

declare module 'fastify' {
  interface FastifyInstance {
    /** This process's restart orchestrator: `state`, `generation`, `ready()`, `handover()`, `shutdown()`. */
    graceful: Graceful
  }
}

// Fastify passes register() options to the plugin as given, its own among them.
const REGISTER_OPTIONS = new Set(['prefix', 'logLevel', 'logSerializers', 'health'])

async function plugin (app: FastifyInstance, opts: FastifyGracefulRestartOptions): Promise<void> {
  const options = Object.fromEntries(Object.entries(opts).filter(([key]) => !REGISTER_OPTIONS.has(key))) as FastifyGracefulRestartOptions
  let listened = false
  let onListened: () => void = () => {}
  const listening = new Promise<void>((resolve) => { onListened = resolve })
  const ours = currentGraceful() === undefined
  const graceful = ours
    // The core reports ready once app.server listens; Fastify may still be binding the
    // other addresses of 'localhost' then, so readiness also waits for its onListen.
    ? createGraceful({ ...options, ready: async () => { await listening; await options.ready?.() } })
    // The app created the orchestrator itself: its policy applies, and options here would be a second one (this throws).
    : createGraceful(Object.keys(options).length > 0 ? options : undefined)

  const server = graceful.attach(app.server)
  const claim = server.listen
  let closeWindow = (): void => {}
  Object.defineProperty(server, 'listen', {
    configurable: true,
    writable: true,
    value: function (this: Server, ...args: unknown[]): unknown {
      const first = args[0]
      if (typeof first === 'object' && first !== null && (first as { host?: unknown }).host === 'localhost') {
        closeWindow()
        markForSecondaries(first, graceful)
        closeWindow = routeSecondaries(server)
      }
      return (claim as (...a: unknown[]) => unknown).apply(this, args)
    }
  })

  app.decorate('graceful', graceful)
  mountHealth(app, graceful, server, opts.health)
  app.addHook('onListen', async () => {
    closeWindow()
    listened = true
    onListened()
  })

  let closed = false
  // After the drain no connection is left, so Fastify's close (503 while closing, idle
  // connection closing) has nothing to cut short; its hooks run once, in their order.
  // A generation stopped before it listened (a rolled-back boot stuck in onReady) is not
  // closed: Fastify's close would wait for the boot that is stuck.
  graceful.onDrained(async () => {
    if (listened && !closed) await app.close()
  })
  app.addHook('onClose', async () => {
    closed = true
    closeWindow()
    if (ours) graceful.close()
  })
}

/** Fleet mode's health routes, when the options ask for them. */
function mountHealth (app: FastifyInstance, graceful: Graceful, server: FastifyInstance['server'], paths: FastifyGracefulRestartOptions['health']): void {
  const health = resolveHealthPaths(paths)
  if (health === undefined) return
  // Fastify already keeps idle connections 72 s, above the usual balancers' 60 s (a
  // `keepAliveTimeout` option was applied by attach()); its headersTimeout is Node's 60 s:
  // keep it above. The server exists already, so its properties are what can be set here.
  if (graceful.options.keepAliveTimeout === undefined) setKeepAliveTimeout(server, server.keepAliveTimeout)
  for (const url of [health.live, health.ready]) {
    app.get(url, async (_request, reply) => {
      // Mounted on the health paths only, each of which has an answer.
      const { statusCode, body } = healthAnswer(graceful, health, url) as HealthAnswer
      return await reply.code(statusCode).header('cache-control', 'no-store').send(body)
    })
  }
}

/** The plugin: `await app.register(fastifyGracefulRestart, options)`. */
export const fastifyGracefulRestart: FastifyPluginAsync<FastifyGracefulRestartOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@graceful-restart/fastify'
})

export { fastifyGracefulRestart as gracefulRestart }
export default fastifyGracefulRestart
