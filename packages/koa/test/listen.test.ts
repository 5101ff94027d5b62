// gracefulKoa(app).listen behaves as Koa's app.listen, in this process.
import assert from 'node:assert/strict'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import Koa from 'koa'
import { closeServer as close, get, selfSignedCert } from '@graceful-restart/adapter-contract'
import { gracefulKoa } from '../src/index.ts'

const app = new Koa()
app.use((ctx) => { ctx.body = { pid: process.pid } })
// No signal handlers and no exit: this process is the test runner.
const { listen, graceful } = gracefulKoa(app, { signals: false, exit: false, logger: false })
after(() => graceful.close())

test('listen(port, host, callback) returns the http.Server and serves app.callback()', async () => {
  const server = await new Promise<http.Server>((resolve) => {
    const s = listen(0, '127.0.0.1', () => resolve(s))
    assert.ok(s instanceof http.Server)
  })
  const { port } = server.address() as AddressInfo
  assert.equal(JSON.parse((await get(port, '/')).body).pid, process.pid)
  await close(server)
})

test('a listen error is emitted on the server, as with app.listen', async () => {
  const taken = listen({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => taken.once('listening', resolve))
  const { port } = taken.address() as AddressInfo
  const server = listen(port, '127.0.0.1')
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => server.once('error', resolve))
  assert.equal(err.code, 'EADDRINUSE')
  await close(taken)
})

test('the https option serves TLS', async () => {
  const tls = selfSignedCert()
  const server = gracefulKoa(app, { https: tls }).listen(0, '127.0.0.1')
  assert.ok(server instanceof https.Server)
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  assert.equal(JSON.parse((await get(port, '/', { ca: tls.cert })).body).pid, process.pid)
  await close(server)
})

test('a second set of core options is refused: one process, one policy', () => {
  assert.throws(() => gracefulKoa(app, { drainTimeout: 1 }), { code: 'ERR_GRACEFUL_ALREADY_CREATED' })
})
