/**
 * Fastify's default host 'localhost' listens on `app.server` for the first address
 * localhost resolves to, then creates one more server per other address (`::1` beside
 * `127.0.0.1`) and listens on it at once, without exposing it first. Left alone, such a
 * secondary server is neither handed over (the next generation gets EADDRINUSE, which
 * Fastify swallows, and the address goes dark once this generation exits) nor drained.
 *
 * Fastify builds each secondary's listen options by copying the main ones, and
 * `Object.assign` copies symbol keys too: a private symbol put on the main options marks
 * exactly those calls. While such a call may still come (from the main `listen()` until
 * Fastify's `onListen`), `net.Server.prototype.listen` sends marked calls through
 * `graceful.listen()`; every other call passes through untouched.
 *
 * Why a patch of the prototype and not Fastify's `serverFactory`, which makes the
 * secondaries too: with a `serverFactory` Fastify 5 makes no secondary at all (its
 * `multipleBindings` skips them once the main server listens), so `::1` would go unserved;
 * and it is an option of `fastify()`, chosen by the app before any plugin is registered.
 * (Checked on Fastify 5.12: localhost resolving to 127.0.0.1 and ::1 gives both addresses
 * by default, 127.0.0.1 alone with a serverFactory.)
 */
import net from 'node:net'
import type { Server } from 'node:net'
import type { Graceful } from '@graceful-restart/core'

const kSecondary = Symbol('graceful-restart.fastify.secondary')

type ListenFn = (this: Server, ...args: unknown[]) => unknown
type Marked = Record<PropertyKey, unknown> & { [kSecondary]?: Graceful }

const routed = new WeakSet<Server>()
let windows = 0
let original: ListenFn | undefined

function routeMarked (this: Server, ...args: unknown[]): unknown {
  const real = original as ListenFn
  const first = args[0]
  const graceful = typeof first === 'object' && first !== null ? (first as Marked)[kSecondary] : undefined
  if (graceful === undefined || routed.has(this)) return real.apply(this, args)
  routed.add(this)
  shieldIdleConnections(this, graceful)
  return graceful.listen(this, ...args)
}

/**
 * Fastify closes a secondary with `server.close()` once the main server closed. On an
 * http server that also closes idle keep-alive connections at once, which races clients
 * sending on them: while the core drains this server, the drain decides when they go.
 */
function shieldIdleConnections (server: Server, graceful: Graceful): void {
  for (const name of ['closeIdleConnections', 'closeAllConnections'] as const) {
    const own = (server as unknown as Record<string, unknown>)[name]
    if (typeof own !== 'function') continue
    Object.defineProperty(server, name, {
      configurable: true,
      writable: true,
      value: function (this: Server, ...args: unknown[]): unknown {
        return graceful.state === 'draining' ? undefined : (own as ListenFn).apply(this, args)
      }
    })
  }
}

/** Marks `options` (Fastify's listen options) so that the secondaries copied from them are attached. */
export function markForSecondaries (options: object, graceful: Graceful): void {
  ;(options as Marked)[kSecondary] = graceful
}

/** Opens a window in which marked listen() calls are routed; the returned function closes it (once). */
export function routeSecondaries (main: Server): () => void {
  routed.add(main)
  if (windows++ === 0 && net.Server.prototype.listen !== (routeMarked as unknown)) {
    original = net.Server.prototype.listen as unknown as ListenFn
    net.Server.prototype.listen = routeMarked as unknown as typeof net.Server.prototype.listen
  }
  let open = true
  return () => {
    if (!open) return
    open = false
    if (--windows > 0) return
    // Someone patched it after us: leave our pass-through in place rather than drop theirs.
    // (`original` stays: servers attached meanwhile still pass through it.)
    if (net.Server.prototype.listen === (routeMarked as unknown)) {
      net.Server.prototype.listen = original as unknown as typeof net.Server.prototype.listen
    }
  }
}
