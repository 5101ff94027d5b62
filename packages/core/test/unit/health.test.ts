import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import { waitFor } from '@graceful-restart/test-utils'
import { Graceful } from '../../src/lifecycle.ts'
import { healthAnswer, resolveHealthPaths } from '../../src/health.ts'
import { FakePlatform } from './fake-platform.ts'

test('readiness is 503 before ready, 200 while ready, 503 from the moment a shutdown begins; liveness stays 200', async () => {
  const p = new FakePlatform()
  const g = new Graceful({ logger: false, shutdownDelay: 200, exit: false }, p)
  const paths = resolveHealthPaths(true)
  assert.ok(paths !== undefined)
  assert.equal(healthAnswer(g, paths, '/readyz')?.statusCode, 503)
  assert.equal(healthAnswer(g, paths, '/healthz')?.statusCode, 200)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  assert.equal(healthAnswer(g, paths, '/readyz')?.statusCode, 200)
  const done = g.shutdown('SIGTERM')
  assert.equal(healthAnswer(g, paths, '/readyz')?.statusCode, 503)
  assert.equal(healthAnswer(g, paths, '/readyz')?.body.status, 'draining')
  // During shutdownDelay the listener still accepts; the fake clock holds the delay open
  // until the request was answered.
  assert.equal(server.listening, true)
  const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
  assert.equal(await res.text(), 'ok')
  assert.equal(server.listening, true, 'still within shutdownDelay')
  p.advance(200)
  await waitFor(() => server.listening ? undefined : true, { timeoutMs: 2000, what: 'the drain to start once shutdownDelay is over' })
  // The drain closes fetch's idle keep-alive connection once idleGrace (1 s) has passed.
  p.advance(1000)
  await done
  assert.equal(server.listening, false)
  assert.equal(healthAnswer(g, paths, '/other'), undefined)
})

test('health paths are validated', () => {
  assert.deepEqual(resolveHealthPaths({ ready: '/ready' }), { live: '/healthz', ready: '/ready' })
  assert.equal(resolveHealthPaths(false), undefined)
  assert.throws(() => resolveHealthPaths({ live: 'healthz' }), { code: 'ERR_GRACEFUL_INVALID_OPTION' })
})

test('on a platform without fd passing it serves, says so once, and refuses handovers with ERR_GRACEFUL_NOT_SUPPORTED', async (t) => {
  const p = new FakePlatform()
  p.canPassSockets = () => false
  const lines: string[] = []
  const logger = { info () {}, warn (_o: object, msg?: string) { lines.push(msg ?? '') }, error () {} }
  const g = new Graceful({ logger }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  assert.equal(lines.filter((l) => l.includes('cannot pass listening sockets')).length, 1)
  await assert.rejects(g.handover(), { code: 'ERR_GRACEFUL_NOT_SUPPORTED' })
  assert.equal(p.children.length, 0)
})
