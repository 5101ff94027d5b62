// Graceful stop + start: on SIGTERM, `server.close()` (stop accepting, close idle
// keep-alive connections, let the busy ones finish) and exit once it calls back; the
// bench's supervisor loop starts the next process after this one exited (or after its
// stop timeout, with SIGKILL, as systemd or `docker stop` would).
import http from 'node:http'
import { configure, event, handler, host, port, writePidFile } from './app.mjs'

const server = configure(http.createServer(handler))
server.listen(port, host, () => {
  writePidFile()
  event('listening', { port })
})
process.on('SIGTERM', () => {
  event('closing')
  server.close(() => process.exit(0))
})
