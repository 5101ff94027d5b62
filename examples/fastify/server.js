// A Fastify server that restarts on `kill -USR2 <pid>` without losing a request.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
//   POST /echo       -> { pid, version, bytes }: the length of the (text) body received,
//                       also in an x-body-bytes header
// Environment: PORT (8080), HOST (127.0.0.1), SOCKET_PATH (a unix socket instead),
// APP_VERSION (v1), PID_FILE (optional: where the ready generation writes its pid),
// SHUTDOWN_DELAY_MS (0: behind a load balancer, how long to serve after SIGTERM).
//   GET /healthz, GET /readyz -> liveness and readiness (503 before ready and while draining)
import Fastify from 'fastify'
import gracefulRestart from '@graceful-restart/fastify'

const version = process.env.APP_VERSION ?? 'v1'
const say = (level) => (data, msg) => console[level](`[pid ${process.pid}] ${msg}${level === 'log' ? '' : ' ' + JSON.stringify(data)}`)

const app = Fastify()
await app.register(gracefulRestart, {
  drainTimeout: 30_000,
  // Fleet mode: on SIGTERM fail /readyz at once, keep serving this long, then drain.
  shutdownDelay: Number(process.env.SHUTDOWN_DELAY_MS ?? 0),
  health: true, // GET /healthz and /readyz
  pidFile: process.env.PID_FILE,
  logger: { info: say('log'), warn: say('warn'), error: say('error') }
})

async function hello (request, reply) {
  const ms = Number(request.query.ms ?? 0)
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
  reply.header('x-pid', String(process.pid))
  return { pid: process.pid, version }
}
app.get('/', hello)
app.get('/sleep', hello)
app.post('/echo', async (request, reply) => {
  const bytes = Buffer.byteLength(typeof request.body === 'string' ? request.body : JSON.stringify(request.body ?? ''))
  reply.header('x-pid', String(process.pid)).header('x-body-bytes', String(bytes))
  return { pid: process.pid, version, bytes }
})

const where = process.env.SOCKET_PATH !== undefined
  ? { path: process.env.SOCKET_PATH }
  : { port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1' }
const address = await app.listen(where)
console.log(`[pid ${process.pid}] ${version} (generation ${app.graceful.generation}) listening on ${address}; hand over with: kill -USR2 ${process.pid}`)
