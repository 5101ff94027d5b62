/**
 * @graceful-restart/express: zero-downtime restarts for Express 5.
 *
 *   const { listen } = gracefulExpress(app, { drainTimeout: 30_000 })
 *   listen(8080, '127.0.0.1', () => console.log('listening'))
 *
 * `listen` is Express 5's `app.listen` (`http.createServer(app).listen(...args)`: same
 * arguments, returns the server, the callback runs once, also with a listen error) on a
 * server that claims the socket inherited from the previous generation and is drained
 * on SIGUSR2 (once the next generation is ready) or SIGTERM.
 */
import type http from 'node:http'
import type https from 'node:https'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { ListenOptions } from 'node:net'
import { serverFactory } from '@graceful-restart/core/adapter'
import type { Graceful } from '@graceful-restart/core'
import type { ServerFactoryOptions } from '@graceful-restart/core/adapter'

export type { Graceful, GracefulOptions, HandoverResult, ShutdownResult, State } from '@graceful-restart/core'

/** An Express application, or any `(req, res)` handler. */
export type ExpressHandler = (req: IncomingMessage, res: ServerResponse) => unknown

export type GracefulExpressOptions = ServerFactoryOptions

type Callback = (error?: Error) => void

/** `app.listen`'s forms (Express 5). */
export interface ListenFunction<S> {
  (port?: number, hostname?: string, backlog?: number, callback?: Callback): S
  (port?: number, hostname?: string, callback?: Callback): S
  (port?: number, callback?: Callback): S
  (callback?: Callback): S
  (path: string, callback?: Callback): S
  (options: ListenOptions, callback?: Callback): S
}

export interface GracefulExpress<S> {
  /** `app.listen(...)`, restart-aware: creates a server for the app, attaches it and listens. */
  listen: ListenFunction<S>
  /** This process's restart orchestrator. */
  graceful: Graceful
}

/**
 * Makes an Express app restart-aware. The first call with core options creates this
 * process's orchestrator; call it again without options for more apps or servers.
 * @throws ERR_GRACEFUL_INVALID_OPTION for a wrong option, ERR_GRACEFUL_ALREADY_CREATED for a second set of options.
 */
export function gracefulExpress (app: ExpressHandler, options: GracefulExpressOptions & { https: https.ServerOptions }): GracefulExpress<https.Server>
export function gracefulExpress (app: ExpressHandler, options?: GracefulExpressOptions): GracefulExpress<http.Server>
export function gracefulExpress (app: ExpressHandler, options?: GracefulExpressOptions): GracefulExpress<http.Server | https.Server> {
  const { graceful, createServer } = serverFactory(options)

  function listen (...args: unknown[]): http.Server | https.Server {
    const server = createServer(app as RequestListener)
    const last = args[args.length - 1]
    if (typeof last === 'function') {
      // Express 5: the callback runs once, with the error if listen() fails.
      let called = false
      const done = (...a: unknown[]): void => {
        if (called) return
        called = true
        ;(last as (...a: unknown[]) => void)(...a)
      }
      args[args.length - 1] = done
      server.once('error', done)
    }
    return graceful.listen(server, ...args)
  }

  return { listen: listen as ListenFunction<http.Server | https.Server>, graceful }
}

export default gracefulExpress
