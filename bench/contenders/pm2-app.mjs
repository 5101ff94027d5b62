// The app as PM2's documentation has it for zero-downtime reloads in cluster mode:
// `process.send('ready')` once listening (with `wait_ready: true`), and `server.close()`
// then exit on SIGINT, the signal PM2 sends to the old worker (SIGKILL after kill_timeout).
// Run standalone (no IPC channel), it is the same app: used for the cold start probe.
import http from 'node:http'
import { configure, event, handler, host, port } from './app.mjs'

const server = configure(http.createServer(handler))
server.listen(port, host, () => {
  event('listening', { port })
  if (typeof process.send === 'function') process.send('ready')
})
process.on('SIGINT', () => {
  server.close(() => process.exit(0))
})
