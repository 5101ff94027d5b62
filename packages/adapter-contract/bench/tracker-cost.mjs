// CPU cost per request of the core's connection tracking, without the network (whose
// variance on a shared machine drowns a 1 us effect), in two parts:
// 1. 'request': the same emission on a plain http.Server and on an attached one, over real
//    IncomingMessage/ServerResponse objects on one socket.
// 2. the response's end: the `http.server.response.finish` message Node publishes when a
//    response ends, where the drain notes each connection's byte count. Node builds and
//    publishes it only while someone subscribes, so the cost is the message plus our
//    subscriber: measured against the same publish on a channel nobody subscribes to, for
//    an attached server and for another server of the same process.
// Each figure is the best of ROUNDS runs, the sides alternating.
import diagnosticsChannel from 'node:diagnostics_channel'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { gracefulRestart } from '@graceful-restart/core'

const N = 200_000
const ROUNDS = 15
const socket = new net.Socket()
const handler = () => {}
const graceful = gracefulRestart({ signals: false, logger: false, exit: false })

function server (attached) {
  const s = http.createServer(handler)
  if (attached) graceful.attach(s)
  s.emit('connection', socket)
  return s
}

function requests (s) {
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

// The response's end reads the byte count of a real connection (a native call), so that
// part runs on the server side of a loopback connection.
const loopback = net.createServer()
await new Promise((resolve) => loopback.listen(0, '127.0.0.1', resolve))
const client = net.connect(loopback.address().port, '127.0.0.1')
const [connection] = await once(loopback, 'connection')
servers.attached.emit('connection', connection)
const finish = diagnosticsChannel.channel('http.server.response.finish')
const unsubscribed = diagnosticsChannel.channel('graceful-restart:bench:unsubscribed')
const request = new http.IncomingMessage(connection)
request.complete = true
const response = new http.ServerResponse(request)

function ends (channel, s) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    // What Node's resOnFinish does.
    if (channel.hasSubscribers) channel.publish({ request, response, socket: connection, server: s })
  }
  return Number(process.hrtime.bigint() - t0) / N / 1000
}
const runs = {
  plain: () => requests(servers.plain),
  attached: () => requests(servers.attached),
  'end, nobody subscribed': () => ends(unsubscribed, servers.attached),
  'end, attached server': () => ends(finish, servers.attached),
  'end, other server': () => ends(finish, servers.plain)
}
const best = Object.fromEntries(Object.keys(runs).map((k) => [k, Infinity]))
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? Object.keys(runs) : Object.keys(runs).reverse()
  for (const k of order) best[k] = Math.min(best[k], runs[k]())
}
const us = (n) => `${n.toFixed(3)} us`
const none = best['end, nobody subscribed']
console.log(`per request: plain ${us(best.plain)}, attached ${us(best.attached)}, tracking costs ${us(best.attached - best.plain)}; ` +
  `at its end: ${us(best['end, attached server'] - none)} on an attached server, ${us(best['end, other server'] - none)} on another server of the process`)
graceful.close()
socket.destroy()
client.destroy()
connection.destroy()
loopback.close()
