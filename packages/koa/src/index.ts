/**
 * @graceful-restart/koa: zero-downtime restarts for Koa 3.
 *
 *   const { listen } = gracefulKoa(app, { drainTimeout: 30_000 })
 *   listen(8080, '127.0.0.1', () => console.log('listening'))
 *
 * `listen` is Koa's `app.listen` (`http.createServer(app.callback()).listen(...args)`:
 * same arguments, returns the server, the callback is a 'listening' listener) on a server
 * that claims the socket inherited from the previous generation and is drained on
 * SIGUSR2 (once the next generation is ready) or SIGTERM.
 */
import type http from 'node:http'
import type https from 'node:https'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { ListenOptions } from 'node:net'
import { serverFactory } from '@graceful-restart/core/adapter'
import type { Graceful } from '@graceful-restart/core'
import type { ServerFactoryOptions } from '@graceful-restart/core/adapter'

export type { Graceful, GracefulOptions, HandoverResult, ShutdownResult, State } from '@graceful-restart/core'

/** A Koa application: anything with Koa's `callback()`. */
export interface KoaLike {
  callback: () => (req: IncomingMessage, res: ServerResponse) => unknown
}

export type GracefulKoaOptions = ServerFactoryOptions

/** `app.listen`'s forms (Node's `server.listen`). */
export interface ListenFunction<S> {
  (port?: number, hostname?: string, backlog?: number, listeningListener?: () => void): S
  (port?: number, hostname?: string, listeningListener?: () => void): S
  (port?: number, backlog?: number, listeningListener?: () => void): S
  (port?: number, listeningListener?: () => void): S
  (path: string, backlog?: number, listeningListener?: () => void): S
  (path: string, listeningListener?: () => void): S
  (options: ListenOptions, listeningListener?: () => void): S
}

export interface GracefulKoa<S> {
  /** `app.listen(...)`, restart-aware: creates a server for `app.callback()`, attaches it and listens. */
  listen: ListenFunction<S>
  /** This process's restart orchestrator. */
  graceful: Graceful
}

/**
 * Makes a Koa app restart-aware. The first call with core options creates this process's
 * orchestrator; call it again without options for more apps or servers.
 * @throws ERR_GRACEFUL_INVALID_OPTION for a wrong option, ERR_GRACEFUL_ALREADY_CREATED for a second set of options.
 */
export function gracefulKoa (app: KoaLike, options: GracefulKoaOptions & { https: https.ServerOptions }): GracefulKoa<https.Server>
export function gracefulKoa (app: KoaLike, options?: GracefulKoaOptions): GracefulKoa<http.Server>
export function gracefulKoa (app: KoaLike, options?: GracefulKoaOptions): GracefulKoa<http.Server | https.Server> {
  const { graceful, createServer } = serverFactory(options)

  function listen (...args: unknown[]): http.Server | https.Server {
    return graceful.listen(createServer(app.callback() as RequestListener), ...args)
  }

  return { listen: listen as ListenFunction<http.Server | https.Server>, graceful }
}

export default gracefulKoa
