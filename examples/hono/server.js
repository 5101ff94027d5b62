// A Hono server (on Node, through @hono/node-server) that restarts on `kill -USR2 <pid>`
// without losing a request.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
// Environment: PORT (8080), HOST (127.0.0.1), APP_VERSION (v1),
// PID_FILE (optional: where the ready generation writes its pid).
import http from 'node:http'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { gracefulRestart } from '@graceful-restart/core'

const version = process.env.APP_VERSION ?? 'v1'
const log = (msg) => console.log(`[pid ${process.pid}] ${msg}`)

const graceful = gracefulRestart({ drainTimeout: 30_000, pidFile: process.env.PID_FILE })
const app = new Hono()

async function hello (c) {
  const ms = Number(c.req.query('ms') ?? 0)
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
  c.header('x-pid', String(process.pid))
  return c.json({ pid: process.pid, version })
}
app.get('/', hello)
app.get('/sleep', hello)

// Hono has no shutdown hooks of its own: close what the app opened (database pools,
// queues) here. It runs in the old generation once its in-flight requests are done.
async function closeResources () {
  log('shutdown hook: closeResources')
}
graceful.onDrained(closeResources)

// The wiring: serve() builds its server through `createServer`, so the server is attached
// before serve() calls listen(), and that listen() claims the inherited socket.
serve({
  fetch: app.fetch,
  port: Number(process.env.PORT ?? 8080),
  hostname: process.env.HOST ?? '127.0.0.1',
  createServer: (options, listener) => graceful.attach(http.createServer(options, listener))
}, (info) => {
  log(`${version} (generation ${graceful.generation}) listening on http://${info.address}:${info.port}; hand over with: kill -USR2 ${process.pid}`)
})
