// Protocols beyond plain HTTP/1.1: HTTPS, HTTP/2, WebSocket, Server-Sent Events, and
// requests that outlive drainTimeout. Real processes, loopback only, bounded in time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { rounds, startLoad, tracker, processesWithMarker, waitFor, waitForAnswerFrom } from '@graceful-restart/test-utils'
import { arrived, events, handover, startApp, tempDir, waitGone } from '../integration/app.ts'
import { H2Pool, PROTOCOL_APP, h2Stream, sseConnect, tlsFiles, wsConnect, type SseStream } from './helpers.ts'

const HANDOVERS = rounds(10)

test(`HTTPS: ${HANDOVERS} handovers under keep-alive TLS load fail no request; requests in flight finish on the old generation`, { timeout: 90_000 }, async (t) => {
  // A new TLS connection per request is tested at the end of this file.
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { PROTOCOL: 'https', ...tlsFiles(dir) }, PROTOCOL_APP)
  // Every 20th request is slow, so some are in flight at each handover.
  const load = startLoad({ port: app.port, tls: true, keepAlive: true, clients: 12, slowEvery: 20, slowMs: 300, durationMs: 100_000 })
  t.after(async () => { await load.stop() })

  const pids = [app.pid]
  await waitForAnswerFrom(load, app.pid)
  for (let i = 0; i < HANDOVERS; i++) {
    pids.push(await handover(app))
    // Over for the clients once the new generation answers: only then the next signal.
    await waitForAnswerFrom(load, app.pid)
  }
  const r = await load.stop()
  await waitGone(pids.slice(0, -1))
  t.diagnostic(`HTTPS keep-alive: ${r.requests} requests, ${r.failed} failed, ${Object.keys(r.byPid).length} generations answered`)
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  assert.ok(r.requests > 50 * HANDOVERS, `the load ran (${r.requests})`)
  assert.deepEqual(pids.filter((pid) => r.byPid[String(pid)] === undefined), [], 'traffic reached every generation')
  const ends = events(app.started, 'drain:end').filter((e) => e.reason === 'handover')
  assert.ok(ends.every((e) => e.timedOut === false), JSON.stringify(ends))
  assert.ok(ends.reduce((n, e) => n + Number(e.served), 0) > 0, 'requests in flight at a handover were answered by the old generation')
  assert.equal(events(app.started, 'handover:rollback').length, 0)
  assert.deepEqual(processesWithMarker(track.marker), [app.pid])
})

test(`HTTP/2: ${HANDOVERS} handovers under multiplexed load; sessions get GOAWAY, a stream in flight finishes with its full body, no stream fails`, { timeout: 90_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { PROTOCOL: 'h2', ...tlsFiles(dir) }, PROTOCOL_APP)
  const pool = new H2Pool(app.port, 4)
  t.after(() => pool.close())
  // 16 concurrent streams over 4 sessions; every 25th is slow; an answer counts with :status 200 only.
  const load = startLoad({
    clients: 16, slowEvery: 25, slowMs: 300, expectStatus: 200, durationMs: 100_000,
    request: ({ client, path, timeoutMs }) => pool.request(client % 4, path, timeoutMs)
  })
  t.after(async () => { await load.stop() })
  await waitForAnswerFrom(load, app.pid)

  // A long stream on its own session, crossing the first handover.
  const longPool = new H2Pool(app.port, 1)
  t.after(() => longPool.close())
  const longSession = longPool.session(0)
  let longGoaway = false
  longSession.once('goaway', () => { longGoaway = true })
  const first = app.pid
  const long = h2Stream(longSession, '/stream?chunks=8&ms=150&announce=1')
  await arrived(app.started.lines, '/stream')

  const pids = [app.pid]
  for (let i = 0; i < HANDOVERS; i++) {
    pids.push(await handover(app))
    // Over for the clients once the new generation answers: only then the next signal.
    await waitForAnswerFrom(load, app.pid)
  }
  const streamed = await long
  assert.equal(streamed.error, undefined, String(streamed.error))
  assert.equal(streamed.status, 200)
  assert.equal(streamed.rstCode, 0, 'the stream ended cleanly (NO_ERROR)')
  assert.equal(streamed.pid, first, 'the old generation finished the stream it had started')
  assert.deepEqual(streamed.body.trim().split('\n'), Array.from({ length: 8 }, (_, i) => `chunk ${i + 1} of 8 pid ${first}`))
  assert.ok(longGoaway, 'the session of the long stream received GOAWAY')

  const r = await load.stop()
  await waitGone(pids.slice(0, -1))
  t.diagnostic(`HTTP/2: ${r.requests} requests, ${r.failed} failed, ${r.retried} refused before processing and sent again ${JSON.stringify(r.retriedByKind)}, ` +
    `${pool.goaways} GOAWAY frames, ${pool.connects} connections, ${Object.keys(r.byPid).length} generations answered`)
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  assert.ok(r.requests > 50 * HANDOVERS, `the load ran (${r.requests})`)
  assert.ok(pool.goaways >= HANDOVERS, `sessions were told to go away (${pool.goaways})`)
  assert.deepEqual(pids.filter((pid) => r.byPid[String(pid)] === undefined), [], 'traffic reached every generation')
  // Every old generation ended its sessions by GOAWAY, none by the deadline.
  const ends = events(app.started, 'drain:end').filter((e) => e.reason === 'handover')
  assert.equal(ends.length, HANDOVERS)
  assert.ok(ends.every((e) => e.timedOut === false && e.destroyed === 0), JSON.stringify(ends))
  assert.deepEqual(processesWithMarker(track.marker), [app.pid])
})

test('WebSocket: the old generation closes each upgraded connection with 1001 through onUpgradedSocket, counts it in drain:start, and clients reconnect to the new one', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { DRAIN_TIMEOUT: '10000' }, PROTOCOL_APP)
  const load = startLoad({ port: app.port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const clients = await Promise.all([1, 2, 3].map(() => wsConnect(app.port)))
  for (const [i, ws] of clients.entries()) {
    assert.equal(ws.pid, app.pid)
    ws.send(`hello ${i}`)
    assert.equal(await ws.next(), `${app.pid}:hello ${i}`)
  }
  const old = app.pid
  const signalAt = Date.now()
  const next = await handover(app)
  const closes = await Promise.all(clients.map((ws) => ws.closed))
  for (const c of closes) {
    assert.equal(c.code, 1001, 'Going Away')
    assert.equal(c.reason, 'server restarting')
    assert.ok(c.clean, 'close handshake, then the TCP connection ended without a reset')
    assert.ok(c.at - signalAt < 5000, `closed at the handover, not at drainTimeout (${c.at - signalAt} ms)`)
  }
  const start = events(app.started, 'drain:start').find((e) => e.pid === old)
  assert.equal(start?.upgraded, 3, JSON.stringify(start))
  await waitGone([old], 5000)
  const end = events(app.started, 'drain:end').find((e) => e.pid === old)
  assert.equal(end?.timedOut, false)
  assert.equal(end?.destroyed, 0)

  const again = await wsConnect(app.port)
  t.after(() => again.destroy())
  assert.equal(again.pid, next)
  again.send('back')
  assert.equal(await again.next(), `${next}:back`)
  const r = await load.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  t.diagnostic(`3 WebSockets closed with 1001 within ${Math.max(...closes.map((c) => c.at - signalAt))} ms of SIGUSR2; HTTP load alongside: ${r.requests} requests, 0 failed`)
})

test('Server-Sent Events: the onDraining hook ends each stream cleanly at the handover, and the client reconnects to the new generation', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { DRAIN_TIMEOUT: '10000' }, PROTOCOL_APP)
  const streams: SseStream[] = await Promise.all([1, 2, 3].map(() => sseConnect(app.port)))
  t.after(() => { for (const s of streams) s.destroy() })
  // Events flow: three on each stream (one every 100 ms).
  await waitFor(() => streams.every((s) => s.events.length >= 3), { timeoutMs: 10_000, what: 'three events on each stream' })
  for (const s of streams) assert.equal(s.pid, app.pid)
  const old = app.pid
  const signalAt = Date.now()
  const next = await handover(app)
  const ends = await Promise.all(streams.map((s) => s.ended))
  for (const [i, e] of ends.entries()) {
    assert.ok(e.clean, `stream ${i} ended with its terminating chunk: ${e.error ?? ''}`)
    assert.ok(e.at - signalAt < 5000, `ended at the handover, not at drainTimeout (${e.at - signalAt} ms)`)
    assert.equal(streams[i]?.events.at(-1)?.event, 'bye', 'the last event is the app\'s goodbye')
    assert.ok(streams[i]?.events.filter((ev) => ev.event === 'message').every((ev) => (JSON.parse(ev.data) as { pid: number }).pid === old))
  }
  // What EventSource does next: connect again, which reaches the new generation.
  const reconnected = await Promise.all([1, 2, 3].map(() => sseConnect(app.port)))
  t.after(() => { for (const s of reconnected) s.destroy() })
  await waitFor(() => reconnected.every((s) => s.events.length >= 1), { timeoutMs: 10_000, what: 'an event on each new stream' })
  for (const s of reconnected) {
    assert.equal(s.pid, next)
    assert.ok(s.events.length >= 1 && s.events.every((ev) => (JSON.parse(ev.data) as { pid: number }).pid === next))
  }
  await waitGone([old], 5000)
  const start = events(app.started, 'drain:start').find((e) => e.pid === old)
  const end = events(app.started, 'drain:end').find((e) => e.pid === old)
  assert.equal(end?.timedOut, false, JSON.stringify(end))
  assert.equal(end?.destroyed, 0)
  t.diagnostic(`3 SSE streams ended cleanly within ${Math.max(...ends.map((e) => e.at - signalAt))} ms of SIGUSR2; drain:start ${JSON.stringify(start)}; old generation drained in ${String(end?.durationMs)} ms`)
})

test('requests longer than drainTimeout are destroyed at the deadline, counted in drain:end and logged; the old generation still exits 0', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { DRAIN_TIMEOUT: '2000' })
  const load = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const long = [1, 2, 3].map(() => new Promise<{ error?: string, at: number }>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: app.port, path: '/sleep?ms=20000&announce=1', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ at: Date.now() }))
      res.on('error', (err) => resolve({ error: err.message, at: Date.now() }))
    })
    req.on('error', (err) => resolve({ error: err.message, at: Date.now() }))
  }))
  await arrived(app.started.lines, '/sleep', 3)
  const old = app.pid
  await handover(app)
  const readyAt = Date.now()
  const outcomes = await Promise.all(long)
  for (const o of outcomes) {
    assert.ok(o.error !== undefined, 'a request still running at the deadline is cut')
    const after = o.at - readyAt
    assert.ok(after > 1500 && after < 5000, `cut at the drainTimeout deadline (${after} ms after the new generation was ready)`)
  }
  const exit = await app.started.exited
  assert.deepEqual(exit, { code: 0, signal: null }, 'a drain that hit its deadline still ends in exit 0')
  const end = events(app.started, 'drain:end').find((e) => e.pid === old)
  assert.equal(end?.destroyed, 3, JSON.stringify(end))
  assert.equal(end?.timedOut, true)
  await waitFor(() => app.started.lines.find((l) => l.includes('drain deadline reached: destroyed 3 connections')), { timeoutMs: 2000, what: 'the stderr warning' })
  const r = await load.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  t.diagnostic(`3 requests of 20 s cut ${outcomes.map((o) => o.at - readyAt).join('/')} ms after ready (drainTimeout 2000 ms); drain:end ${JSON.stringify(end)}; fast load ${r.requests} requests, 0 failed`)
})

// With keep-alive traffic the old generation drains for about idleGrace, long enough for
// any handshake to finish. With a new connection per request its drain can be over in a
// millisecond, and a connection accepted just before is often still in its TLS handshake.
for (const protocol of ['https', 'h2'] as const) {
  test(`${protocol === 'h2' ? 'HTTP/2' : 'HTTPS'} with a new connection per request: a connection still in its TLS handshake when the drain starts is served, not reset; no request is refused`, {
    timeout: 90_000
  }, async (t) => {
    const track = tracker(t)
    const dir = tempDir(t)
    const app = await startApp(track, dir, { PROTOCOL: protocol, ...tlsFiles(dir) }, PROTOCOL_APP)
    const shape = { clients: 16, slowEvery: 0, durationMs: 100_000 }
    const fresh = protocol === 'https'
      ? startLoad({ ...shape, port: app.port, tls: true, keepAlive: false })
      : startLoad({
        ...shape,
        expectStatus: 200,
        request: async ({ path, timeoutMs }) => {
          const pool = new H2Pool(app.port, 1)
          try {
            return await pool.request(0, path, timeoutMs)
          } finally {
            pool.close()
          }
        }
      })
    t.after(async () => { await fresh.stop() })
    const pids = [app.pid]
    await waitForAnswerFrom(fresh, app.pid)
    for (let i = 0; i < HANDOVERS; i++) {
      pids.push(await handover(app))
      await waitForAnswerFrom(fresh, app.pid)
    }
    const r = await fresh.stop()
    await waitGone(pids.slice(0, -1))
    t.diagnostic(`${protocol}, one connection per request: ${r.requests} requests, ${r.failed} failed, ${r.retried} refused before processing and sent again ` +
      `${JSON.stringify(r.retriedByKind)}; first failures: ${JSON.stringify(r.errorSamples.slice(0, 3))}`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
    assert.ok(r.requests > 30 * HANDOVERS, `the load ran (${r.requests})`)
    assert.deepEqual(pids.filter((pid) => r.byPid[String(pid)] === undefined), [], 'traffic reached every generation')
    // HTTP/2: a session whose request is still on its way when the drain starts hears a PING
    // before any GOAWAY, so that request is served rather than refused (goaway.ts).
    assert.equal(r.retried, 0, `no stream refused or left unsent: ${JSON.stringify(r.retriedByKind)}`)
  })
}
