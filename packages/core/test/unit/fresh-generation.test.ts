// What a handover gives the next generation besides sockets: a re-read environment, the
// list of generations still draining (capped by maxDraining), keep-alive timeouts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import http from 'node:http'
import { once } from 'node:events'
import { Graceful } from '../../src/lifecycle.ts'
import { CHANNELS } from '../../src/diagnostics.ts'
import { HandoverError } from '../../src/errors.ts'
import { FakePlatform, readyGraceful } from './fake-platform.ts'

const ready = readyGraceful

test('the next generation gets the env files read again, and the change is published by name only', async (t) => {
  const p = new FakePlatform()
  p.env = { PATH: '/bin', SECRET: 'old' }
  p.environ = ['PATH=/bin']
  p.files.set('/srv/.env', 'SECRET=old\n')
  const seen: unknown[] = []
  const onEnv = (msg: unknown): void => { seen.push(msg) }
  diagnosticsChannel.subscribe(CHANNELS.handoverEnv, onEnv)
  t.after(() => diagnosticsChannel.unsubscribe(CHANNELS.handoverEnv, onEnv))
  const { g, server } = await ready(p, { envFile: '.env' })
  t.after(() => server.close())
  p.files.set('/srv/.env', 'SECRET=new\n')
  void g.handover()
  assert.deepEqual(p.children[0]?.spec.env, { PATH: '/bin', SECRET: 'new' })
  assert.deepEqual(p.children[0]?.spec.envFromFiles, ['SECRET'])
  assert.deepEqual(seen, [{ pid: 100, added: [], removed: [], changed: ['SECRET'] }])
  assert.ok(!JSON.stringify(seen).includes('new'), 'no value is published')
  p.children[0]?.events.onReady()
})

test('an envFile that cannot be read fails the handover; the generation serves on', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await ready(p, { envFile: ['.env'] })
  t.after(() => server.close())
  await assert.rejects(g.handover(), (err: unknown) => err instanceof HandoverError && err.code === 'ERR_GRACEFUL_SPAWN' && /envFile/.test(err.message))
  assert.equal(p.children.length, 0)
  assert.equal(g.state, 'ready')
  p.files.set('/srv/.env', 'A=1\n')
  void g.handover()
  assert.equal(p.children.length, 1, 'the next handover works once the file is back')
  p.children[0]?.events.onReady()
})

test('maxDraining: the oldest draining generation is told to end its drain, and the next one starts once it is gone', async (t) => {
  const p = new FakePlatform()
  p.startTimes.set(100, '900')
  // Passed by the parent, oldest first; 13 is a pid reused by another process since.
  // Each began draining long before (CLOCK_MONOTONIC µs): past idleGrace + 1 s.
  p.monotonic = 60_000_000
  p.inheritance = { ...p.inheritance, draining: [{ pid: 10, start: '1', sinceUs: 0 }, { pid: 13, start: '2', sinceUs: 0 }, { pid: 11, start: '3', sinceUs: 0 }, { pid: 12, start: '4', sinceUs: 0 }] }
  for (const [pid, start] of [[10, '1'], [13, '99'], [11, '3'], [12, '4']] as const) p.startTimes.set(pid, start)
  const { g, server } = await ready(p, { maxDraining: 3 })
  t.after(() => server.close())
  const handover = g.handover()
  assert.deepEqual(p.killed, [[10, 'SIGWINCH']], 'only the oldest, and never a pid that is no longer ours')
  assert.equal(p.children.length, 0, 'nothing starts while 3 generations drain')
  p.fireTimers()
  assert.equal(p.children.length, 0, 'still alive: still waiting')
  p.startTimes.delete(10)
  p.fireTimers()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(p.children.length, 1)
  assert.deepEqual(p.children[0]?.spec.draining, [{ pid: 11, start: '3', sinceUs: 0 }, { pid: 12, start: '4', sinceUs: 0 }, { pid: 100, start: '900' }])
  p.children[0]?.events.onReady()
  await handover
})

test('maxDraining: a generation over the cap that began draining recently first gets to finish by itself; it is ended only after idleGrace + 1 s', async (t) => {
  for (const finishes of [true, false]) {
    const p = new FakePlatform()
    p.startTimes.set(100, '900')
    p.monotonic = 5_000_000
    // 10 just began draining (its start not known yet: counted from now); 11 and 12 are younger.
    p.inheritance = { ...p.inheritance, draining: [{ pid: 10, start: '1' }, { pid: 11, start: '3', sinceUs: 5_000_000 }, { pid: 12, start: '4', sinceUs: 5_000_000 }] }
    for (const [pid, start] of [[10, '1'], [11, '3'], [12, '4']] as const) p.startTimes.set(pid, start)
    const { g, server } = await ready(p, { maxDraining: 3, idleGrace: 1000 })
    t.after(() => server.close())
    const handover = g.handover()
    p.monotonic += 1_999_000
    p.fireTimers()
    assert.deepEqual(p.killed, [], 'not told while within idleGrace + 1 s of its drain start')
    assert.equal(p.children.length, 0, 'and nothing starts while the cap is exceeded')
    if (finishes) {
      p.startTimes.delete(10)
      p.fireTimers()
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(p.killed, [], 'a generation that finished by itself is never signalled')
    } else {
      p.monotonic += 1_000
      p.fireTimers()
      assert.deepEqual(p.killed, [[10, 'SIGWINCH']], 'ended at once once the grace is over')
      p.startTimes.delete(10)
      p.fireTimers()
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(p.children.length, 1)
    p.children[0]?.events.onReady()
    await handover
  }
})

test('maxDraining: below the cap nothing is signalled and the child starts at once', async (t) => {
  const p = new FakePlatform()
  p.startTimes.set(100, '900')
  p.inheritance = { ...p.inheritance, draining: [{ pid: 11, start: '3' }] }
  p.startTimes.set(11, '3')
  const { g, server } = await ready(p, { maxDraining: 3 })
  t.after(() => server.close())
  void g.handover()
  assert.deepEqual(p.killed, [])
  assert.deepEqual(p.children[0]?.spec.draining, [{ pid: 11, start: '3' }, { pid: 100, start: '900' }])
  p.children[0]?.events.onReady()
})

test('SIGWINCH ends a drain at once: what is open is destroyed, counted and reported', async () => {
  const p = new FakePlatform()
  const ends: Array<Record<string, unknown>> = []
  const onEnd = (msg: unknown): void => { ends.push(msg as Record<string, unknown>) }
  diagnosticsChannel.subscribe(CHANNELS.drainEnd, onEnd)
  const { g, server } = await ready(p, { drainTimeout: 60_000, exit: false })
  server.removeAllListeners('request')
  server.on('request', (_req, res: http.ServerResponse) => { res.write('data: open\n\n') }) // an SSE stream that never ends
  const req = http.get({ port: (server.address() as { port: number }).port, host: '127.0.0.1', path: '/events' })
  req.on('error', () => {})
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  res.on('error', () => {})
  const closed = new Promise((resolve) => res.once('close', resolve))
  const shutdown = g.shutdown('test')
  await new Promise((resolve) => setImmediate(resolve))
  p.signal('SIGWINCH')
  const result = await shutdown
  diagnosticsChannel.unsubscribe(CHANNELS.drainEnd, onEnd)
  await closed
  assert.equal(result.destroyed, 1)
  assert.equal(result.timedOut, false)
  assert.deepEqual(result.endedEarly, { active: 1, idle: 0, upgraded: 0 })
  assert.deepEqual(ends.map((e) => e.endedEarly), [{ active: 1, idle: 0, upgraded: 0 }])
  assert.equal(p.handlers.has('SIGWINCH'), false, 'the handler goes with the drain')
})

test('keepAliveTimeout is applied to attached HTTP servers, headersTimeout kept above it', () => {
  const p = new FakePlatform()
  const g = new Graceful({ logger: false, signals: false, keepAliveTimeout: 65_000 }, p)
  const server = g.attach(http.createServer())
  assert.equal(server.keepAliveTimeout, 65_000)
  assert.equal(server.headersTimeout, 66_000)
  const untouched = new Graceful({ logger: false, signals: false }, new FakePlatform()).attach(http.createServer())
  assert.equal(untouched.keepAliveTimeout, 5_000)
})
