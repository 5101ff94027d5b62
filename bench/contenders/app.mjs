// The one app every contender serves, so that only the way of restarting differs:
// `GET /` answers at once, `GET /sleep?ms=N` after N ms; both with {pid, version} and an
// `x-pid` header, which is how the load driver tells the generations apart.
// Env: PORT (or PORTS, comma-separated, one listener each), HOST, APP_VERSION,
// KEEP_ALIVE_TIMEOUT (ms, the server's idle keep-alive timeout; Node's default is 5 s).
import fs from 'node:fs'
import path from 'node:path'

export const version = process.env.APP_VERSION ?? 'v1'
export const host = process.env.HOST ?? '127.0.0.1'
export const ports = (process.env.PORTS ?? process.env.PORT ?? '3000').split(',').map(Number)
export const port = ports[0]

export function handler (req, res) {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const pathname = q === -1 ? url : url.slice(0, q)
  const body = JSON.stringify({ pid: process.pid, version })
  const send = () => {
    res.setHeader('x-pid', String(process.pid))
    res.setHeader('content-type', 'application/json')
    res.end(body)
  }
  if (pathname === '/sleep') {
    const ms = Number(new URLSearchParams(url.slice(q + 1)).get('ms') ?? 100)
    setTimeout(send, Number.isFinite(ms) ? Math.min(ms, 60_000) : 100)
  } else {
    send()
  }
}

/** Applies the env's server settings (only KEEP_ALIVE_TIMEOUT for now). */
export function configure (server) {
  if (process.env.KEEP_ALIVE_TIMEOUT !== undefined) server.keepAliveTimeout = Number(process.env.KEEP_ALIVE_TIMEOUT)
  return server
}

export function event (name, data = {}) {
  process.stdout.write(JSON.stringify({ event: name, pid: process.pid, ...data }) + '\n')
}

/** Atomic PID file write (temp name + rename), as a supervisor would read it. */
export function writePidFile () {
  const file = process.env.PID_FILE
  if (file === undefined || file === '') return
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  fs.writeFileSync(tmp, `${process.pid}\n`)
  fs.renameSync(tmp, file)
}
