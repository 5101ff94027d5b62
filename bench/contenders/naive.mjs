// Naive stop + start: on SIGTERM the process exits at once; the bench's supervisor loop
// starts the next one on the same port as soon as it is gone (what a plain
// `systemctl restart` or a container restart does to an app without shutdown code).
import http from 'node:http'
import { configure, event, handler, host, port, writePidFile } from './app.mjs'

const server = configure(http.createServer(handler))
server.listen(port, host, () => {
  writePidFile()
  event('listening', { port })
})
process.on('SIGTERM', () => process.exit(0))
