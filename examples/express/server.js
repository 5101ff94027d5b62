// An Express server that restarts on `kill -USR2 <pid>` without losing a request.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
// Environment: PORT (8080), HOST (127.0.0.1), SOCKET_PATH (a unix socket instead),
// APP_VERSION (v1), PID_FILE (optional: where the ready generation writes its pid),
// SHUTDOWN_DELAY_MS (0: behind a load balancer, how long to serve after SIGTERM).
//   GET /healthz, GET /readyz -> liveness and readiness (503 before ready and while draining)
import express from 'express'
import { gracefulExpress } from '@graceful-restart/express'

const version = process.env.APP_VERSION ?? 'v1'
const say = (level) => (data, msg) => console[level](`[pid ${process.pid}] ${msg}${level === 'log' ? '' : ' ' + JSON.stringify(data)}`)

const app = express()
function hello (req, res) {
  const ms = Number(req.query.ms ?? 0)
  setTimeout(() => res.set('x-pid', String(process.pid)).json({ pid: process.pid, version }), ms)
}
app.get('/', hello)
app.get('/sleep', hello)

const { listen, graceful } = gracefulExpress(app, {
  drainTimeout: 30_000,
  // Fleet mode: on SIGTERM fail /readyz at once, keep serving this long, then drain.
  shutdownDelay: Number(process.env.SHUTDOWN_DELAY_MS ?? 0),
  health: true, // GET /healthz and /readyz
  pidFile: process.env.PID_FILE,
  logger: { info: say('log'), warn: say('warn'), error: say('error') }
})
const socketPath = process.env.SOCKET_PATH
const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'
const onListening = (err) => {
  if (err) throw err
  const address = socketPath ?? `http://${host}:${server.address().port}`
  console.log(`[pid ${process.pid}] ${version} (generation ${graceful.generation}) listening on ${address}; hand over with: kill -USR2 ${process.pid}`)
}
const server = socketPath !== undefined ? listen(socketPath, onListening) : listen(port, host, onListening)
