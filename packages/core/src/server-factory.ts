/**
 * What the adapters of `(req, res)` frameworks (Express, Koa) share: split their options
 * into the core's and the server's, get the process's orchestrator, and create servers with
 * the health paths answered before the app. The adapters keep only their framework's
 * `listen` semantics.
 */
import http from 'node:http'
import type https from 'node:https'
import type { RequestListener } from 'node:http'
import { resolveHealthPaths, withHealth, type HealthPaths } from './health.ts'
import { BALANCER_KEEP_ALIVE_TIMEOUT, setKeepAliveTimeout } from './keep-alive.ts'
import type { Graceful } from './lifecycle.ts'
import type { GracefulOptions } from './options.ts'
import { gracefulRestart } from './instance.ts'

export interface ServerFactoryOptions extends GracefulOptions {
  /** Serve HTTPS: the options of `https.createServer()` (key, cert, ...). */
  https?: https.ServerOptions
  /** Options of `http.createServer()` (ignored with `https`, whose options include them). */
  http?: http.ServerOptions
  /**
   * Answer liveness and readiness probes before the app: `true` for `/healthz` and `/readyz`,
   * or `{ live, ready }` paths. Readiness is 503 before ready and once a drain begins.
   * Behind a balancer, so the servers also keep idle connections 65 s (`keepAliveTimeout`)
   * unless `keepAliveTimeout` or the `http`/`https` options say otherwise.
   */
  health?: boolean | HealthPaths
}

export interface ServerFactory {
  graceful: Graceful
  createServer: (handler: RequestListener) => http.Server | https.Server
}

const SERVER_OPTIONS = new Set(['https', 'http', 'health'])

/**
 * The first call with core options creates this process's orchestrator; later calls without
 * them share it. @throws ERR_GRACEFUL_INVALID_OPTION, ERR_GRACEFUL_ALREADY_CREATED.
 */
export function serverFactory (options: ServerFactoryOptions = {}): ServerFactory {
  const core = Object.fromEntries(Object.entries(options).filter(([key]) => !SERVER_OPTIONS.has(key))) as GracefulOptions
  const graceful = gracefulRestart(Object.keys(core).length > 0 ? core : undefined)
  return {
    graceful,
    createServer (handler) {
      const app = withHealth(graceful, handler, options.health)
      // node:https only for an app that serves TLS: on Node 20 loading it costs 2-4 ms of
      // every start-up and reads the CA file.
      const server = options.https !== undefined
        ? process.getBuiltinModule('node:https').createServer(options.https, app)
        : http.createServer(options.http ?? {}, app)
      // Fleet mode: the balancer, not this server, must be the side that closes idle connections.
      const own = (options.https ?? options.http ?? {}) as { keepAliveTimeout?: unknown }
      if (resolveHealthPaths(options.health) !== undefined && graceful.options.keepAliveTimeout === undefined && own.keepAliveTimeout === undefined) {
        setKeepAliveTimeout(server, BALANCER_KEEP_ALIVE_TIMEOUT)
      }
      return server
    }
  }
}
