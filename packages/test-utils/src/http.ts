/**
 * One GET against a fixture, answered or failed, never hanging: the one GET of the tests
 * (the load driver is load.ts). A response counts only once its body was read to the end.
 */
import http from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import https from 'node:https'

export interface Answer {
  status: number
  /** From the `x-pid` header; NaN without it. */
  pid: number
  body: string
  headers: IncomingHttpHeaders
  /** Whether the agent sent this request on a connection an earlier request had used. */
  reusedSocket: boolean
  startedAt: number
  endedAt: number
}

export interface GetOptions {
  host?: string
  /** A unix socket instead of host and port. */
  socketPath?: string
  /** A keep-alive agent to reuse connections; default: a new connection per request. */
  agent?: http.Agent
  timeoutMs?: number
  /** Speak HTTPS, trusting this CA (a self-signed certificate is its own). */
  ca?: string | Buffer
  /** Speak HTTPS and accept any certificate (a fixture's self-signed one, its CA unknown here). */
  insecure?: boolean
}

export function get (port: number | undefined, path: string, options: GetOptions = {}): Promise<Answer> {
  const startedAt = Date.now()
  return new Promise((resolve, reject) => {
    const secure = options.ca !== undefined || options.insecure === true
    const req = (secure ? https : http).get({
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.insecure === true ? { rejectUnauthorized: false } : {}),
      ...(options.socketPath === undefined ? { host: options.host ?? '127.0.0.1', port } : { socketPath: options.socketPath }),
      path,
      agent: options.agent ?? false,
      headers: options.agent === undefined ? { connection: 'close' } : {}
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        clearTimeout(timer)
        if (!res.complete) {
          reject(new Error(`GET ${path}: connection closed before the response was complete`))
          return
        }
        const raw = res.headers['x-pid']
        resolve({
          status: res.statusCode ?? 0,
          pid: Number(Array.isArray(raw) ? raw[0] : raw ?? NaN),
          body,
          headers: res.headers,
          reusedSocket: req.reusedSocket,
          startedAt,
          endedAt: Date.now()
        })
      })
      res.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
    const timer = setTimeout(() => req.destroy(new Error(`GET ${path}: no answer within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000)
    req.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

/** Closes a server and every connection it still has: for tests that share one process. */
export function closeServer (server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}
