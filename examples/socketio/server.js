// A Socket.IO server that restarts on `kill -USR2 <pid>` without losing a request or a
// client: connected clients reconnect to the new generation by themselves.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
//   socket.emit('echo', data, ack) -> ack({ pid, version, data })
// Environment: PORT (8080), HOST (127.0.0.1), APP_VERSION (v1),
// PID_FILE (optional: where the ready generation writes its pid).
import http from 'node:http'
import { Server } from 'socket.io'
import { gracefulRestart } from '@graceful-restart/core'

const version = process.env.APP_VERSION ?? 'v1'
const log = (msg) => console.log(`[pid ${process.pid}] ${msg}`)

const graceful = gracefulRestart({ drainTimeout: 30_000, pidFile: process.env.PID_FILE })

const server = graceful.attach(http.createServer((req, res) => {
  const { pathname, searchParams } = new URL(req.url, 'http://localhost')
  if (pathname !== '/' && pathname !== '/sleep') {
    res.writeHead(404).end()
    return
  }
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-pid': String(process.pid) })
    res.end(JSON.stringify({ pid: process.pid, version }))
  }, Number(searchParams.get('ms') ?? 0))
}))

const io = new Server(server)
io.on('connection', (socket) => {
  socket.on('echo', (data, ack) => ack({ pid: process.pid, version, data }))
})

// The wiring: when the drain starts, close Socket.IO's connections (engine.io's); clients
// reconnect by themselves, to the new generation, which is ready by then. Without it they
// stay on this process until drainTimeout. Not io.close(): it also closes the HTTP server
// with http.Server.close(), which resets keep-alive HTTP clients, and awaiting it holds the
// drain until every connection is gone.
graceful.onDraining(() => { io.engine.close() })

// Close what the app opened (database pools, a Socket.IO adapter's clients) here: it runs
// once this generation's connections are gone.
async function closeResources () {
  log('shutdown hook: closeResources')
}
graceful.onDrained(closeResources)

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = server.address()
  log(`${version} (generation ${graceful.generation}) listening on http://${process.env.HOST ?? '127.0.0.1'}:${port}; hand over with: kill -USR2 ${process.pid}`)
})
