// A hapi server that restarts on `kill -USR2 <pid>` without losing a request.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
// Environment: PORT (8080), HOST (127.0.0.1), APP_VERSION (v1),
// PID_FILE (optional: where the ready generation writes its pid).
import Hapi from '@hapi/hapi'
import { gracefulRestart } from '@graceful-restart/core'

const version = process.env.APP_VERSION ?? 'v1'
const log = (msg) => console.log(`[pid ${process.pid}] ${msg}`)

const graceful = gracefulRestart({ drainTimeout: 30_000, pidFile: process.env.PID_FILE })
const server = Hapi.server({ port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1' })

async function hello (request, h) {
  const ms = Number(request.query.ms ?? 0)
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
  return h.response({ pid: process.pid, version }).header('x-pid', String(process.pid))
}
server.route([
  { method: 'GET', path: '/', handler: hello },
  { method: 'GET', path: '/sleep', handler: hello }
])

// hapi's own shutdown hooks (close pools, flush logs here): with the wiring below they run
// in the old generation once its in-flight requests are done.
server.ext('onPreStop', () => log('shutdown hook: onPreStop'))
server.ext('onPostStop', () => log('shutdown hook: onPostStop'))

// The wiring: hapi's listener claims the inherited socket, and hapi stops after the drain.
graceful.attach(server.listener)
graceful.onDrained(() => server.stop())
await server.start()

log(`${version} (generation ${graceful.generation}) listening on ${server.info.uri}; hand over with: kill -USR2 ${process.pid}`)
