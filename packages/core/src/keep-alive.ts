/**
 * Keep-alive timeouts for servers behind a load balancer. A balancer keeps idle connections
 * to its upstreams for reuse (AWS ALB 60 s by default, nginx `keepalive_timeout` 60 s in an
 * upstream block, HAProxy `timeout http-keep-alive`/`timeout server`); Node closes an idle
 * connection after 5 s. When the server closes one just as the balancer sends a request on
 * it, the balancer answers 502 (it retries only idempotent requests). The side that closes
 * idle connections must be the balancer: the server's timeout must be the longer one.
 */
import type { Server } from 'node:net'

/** Above the usual balancer idle timeouts (60 s), what the adapters set with `health` on. */
export const BALANCER_KEEP_ALIVE_TIMEOUT = 65_000

/** How far `headersTimeout` stays above `keepAliveTimeout`. */
const HEADERS_MARGIN = 1_000

interface HttpTimeouts { keepAliveTimeout: number, headersTimeout: number }

function hasTimeouts (server: Server): server is Server & HttpTimeouts {
  const s = server as Partial<HttpTimeouts>
  return typeof s.keepAliveTimeout === 'number' && typeof s.headersTimeout === 'number'
}

/**
 * Sets an HTTP/1 server's `keepAliveTimeout` and keeps its `headersTimeout` above it. Since
 * Node 18 `headersTimeout` only runs while a request's headers arrive, not across the idle
 * time (before, it closed idle connections early: nodejs/node#27363), so this is the common
 * advice kept at almost no cost (66 s instead of Node's 60 s against slow headers).
 * Servers without these timeouts (HTTP/2, net) are left alone.
 */
export function setKeepAliveTimeout (server: Server, ms: number): void {
  if (!hasTimeouts(server)) return
  server.keepAliveTimeout = ms
  if (ms > 0 && server.headersTimeout > 0 && server.headersTimeout <= ms) server.headersTimeout = ms + HEADERS_MARGIN
}
