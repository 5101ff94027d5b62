// gracefulExpress(app).listen behaves as Express 5's app.listen, in this process.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import express from 'express'
import { closeServer as close, get, selfSignedCert } from '@graceful-restart/adapter-contract'
import { gracefulExpress } from '../src/index.ts'

const app = express()
app.get('/', (_req, res) => { res.json({ pid: process.pid }) })
// No signal handlers and no exit: this process is the test runner.
const { listen, graceful } = gracefulExpress(app, { signals: false, exit: false, logger: false })
after(() => graceful.close())

test('listen(port, host, callback) returns the http.Server and calls back once listening', async () => {
  let calls = 0
  let server: http.Server | undefined
  const listening = new Promise<unknown[]>((resolve) => {
    server = listen(0, '127.0.0.1', (...args: unknown[]) => { calls++; resolve(args) })
  })
  assert.ok(server instanceof http.Server)
  assert.deepEqual(await listening, [])
  assert.equal(calls, 1)
  await close(server)
})

test('the callback runs once, with the error, when listen() fails (Express 5)', async () => {
  const taken = listen(0, '127.0.0.1')
  await new Promise((resolve) => taken.once('listening', resolve))
  const { port } = taken.address() as AddressInfo
  const calls: unknown[][] = []
  let called: () => void = () => {}
  const first = new Promise<void>((resolve) => { called = resolve })
  const server = listen(port, '127.0.0.1', (...args: unknown[]) => { calls.push(args); called() })
  // Node reports the failure by an 'error' event on the next tick; a second call would come
  // from that same emission (a listening callback never runs after a failed listen), so
  // one more turn of the event loop shows it.
  await first
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(calls.length, 1)
  assert.equal((calls[0]?.[0] as NodeJS.ErrnoException).code, 'EADDRINUSE')
  assert.equal(server.listening, false)
  await close(taken)
})

test('listen(options) and listen(path) serve the app', async () => {
  const server = listen({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  assert.equal(JSON.parse((await get(port, '/')).body).pid, process.pid)
  await close(server)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-express-'))
  const socketPath = path.join(dir, 'app.sock')
  const unix = listen(socketPath)
  await new Promise((resolve) => unix.once('listening', resolve))
  assert.equal(JSON.parse((await get(undefined, '/', { socketPath })).body).pid, process.pid)
  await close(unix)
  fs.rmSync(dir, { recursive: true, force: true })
})

test('the https option serves TLS', async () => {
  const tls = selfSignedCert()
  const server = gracefulExpress(app, { https: tls }).listen(0, '127.0.0.1')
  assert.ok(server instanceof https.Server)
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  assert.equal(JSON.parse((await get(port, '/', { ca: tls.cert })).body).pid, process.pid)
  await close(server)
})

test('a second set of core options is refused: one process, one policy', () => {
  assert.throws(() => gracefulExpress(app, { drainTimeout: 1 }), { code: 'ERR_GRACEFUL_ALREADY_CREATED' })
})
