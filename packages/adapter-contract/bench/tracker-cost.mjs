// CPU cost per request of the core's connection tracking, without the network (whose
// variance on a shared machine drowns a 1 us effect): the same 'request' emission on a
// plain http.Server and on an attached one, over real IncomingMessage/ServerResponse
// objects on one socket. Prints the best-of-N time per request for each and the difference.
import http from 'node:http'
import net from 'node:net'
import { gracefulRestart } from '@graceful-restart/core'

const N = 200_000
const graceful = gracefulRestart({ signals: false, logger: false, exit: false })
const socket = new net.Socket()
const handler = () => {}

function server (attached) {
  const s = http.createServer(handler)
  if (attached) graceful.attach(s)
  s.emit('connection', socket)
  return s
}

function run (s) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    const req = new http.IncomingMessage(socket)
    const res = new http.ServerResponse(req)
    s.emit('request', req, res)
    res.emit('close')
  }
  return Number(process.hrtime.bigint() - t0) / N / 1000
}

const servers = { plain: server(false), attached: server(true) }
const best = { plain: Infinity, attached: Infinity }
for (let round = 0; round < 15; round++) {
  for (const k of round % 2 === 0 ? ['plain', 'attached'] : ['attached', 'plain']) best[k] = Math.min(best[k], run(servers[k]))
}
console.log(`per request: plain ${best.plain.toFixed(3)} us, attached ${best.attached.toFixed(3)} us, tracking costs ${(best.attached - best.plain).toFixed(3)} us`)
graceful.close()
socket.destroy()
