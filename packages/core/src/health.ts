/**
 * Liveness and readiness answers for load balancers and Kubernetes probes. The core decides
 * what to answer; adapters only mount the paths in their framework.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { invalidOption } from './errors.ts'
import type { Graceful } from './lifecycle.ts'

export interface HealthPaths {
  /** Liveness path, default `/healthz`: 200 while the process runs. */
  live?: string
  /** Readiness path, default `/readyz`: 200 once ready, 503 before and from the moment a drain begins. */
  ready?: string
}

export interface HealthAnswer {
  statusCode: number
  body: { status: string, state: string, generation: number, pid: number }
}

export const DEFAULT_HEALTH_PATHS: Required<HealthPaths> = { live: '/healthz', ready: '/readyz' }

export function resolveHealthPaths (value: boolean | HealthPaths | undefined): Required<HealthPaths> | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return DEFAULT_HEALTH_PATHS
  if (typeof value !== 'object' || value === null) throw invalidOption('health', 'a boolean or { live, ready } paths', value)
  const paths = { ...DEFAULT_HEALTH_PATHS, ...value }
  for (const [name, path] of Object.entries(paths)) {
    if (typeof path !== 'string' || !path.startsWith('/')) throw invalidOption(`health.${name}`, 'a path starting with /', path)
  }
  return paths
}

/** The answer for `path`, or undefined when it is not a health path. */
export function healthAnswer (graceful: Graceful, paths: Required<HealthPaths>, path: string): HealthAnswer | undefined {
  const base = { state: graceful.state, generation: graceful.generation, pid: process.pid }
  if (path === paths.live) return { statusCode: 200, body: { status: 'ok', ...base } }
  if (path === paths.ready) {
    return graceful.accepting
      ? { statusCode: 200, body: { status: 'ready', ...base } }
      : { statusCode: 503, body: { status: graceful.state === 'starting' ? 'starting' : 'draining', ...base } }
  }
  return undefined
}

/**
 * For plain `node:http`: answers health paths and returns true, or returns false for the
 * app to handle the request. `if (health(req, res)) return` at the top of the handler.
 */
export function healthHandler (graceful: Graceful, value: boolean | HealthPaths = true): (req: IncomingMessage, res: ServerResponse) => boolean {
  const paths = resolveHealthPaths(value)
  return (req, res) => {
    if (paths === undefined) return false
    const answer = healthAnswer(graceful, paths, (req.url ?? '/').split('?')[0] ?? '/')
    if (answer === undefined) return false
    res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(answer.body))
    return true
  }
}

/**
 * Wraps a `(req, res)` handler so that the health paths are answered before it (the Express
 * and Koa adapters use this). Without paths the handler is returned as it is.
 */
export function withHealth<H extends (req: IncomingMessage, res: ServerResponse) => unknown> (graceful: Graceful, handler: H, value: boolean | HealthPaths | undefined): H {
  if (resolveHealthPaths(value) === undefined) return handler
  const health = healthHandler(graceful, value)
  return ((req: IncomingMessage, res: ServerResponse) => health(req, res) ? undefined : handler(req, res)) as H
}
