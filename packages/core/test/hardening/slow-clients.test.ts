// Slow clients at a handover, over raw sockets so the test decides when each byte leaves:
// a request whose headers are still arriving when the drain starts is in flight, not an
// idle connection, and is answered by the old generation; an upload begun during the drain
// on a connection that looked idle is answered once. Then, with handoffIdleConnections
// false, every one of these connections is closed (the idle one after idleGrace); by
// default they all go to the next generation, which serves their next requests.
// Real processes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { tracker, type Tracker } from '@graceful-restart/test-utils'
import { events, handover, startApp, tempDir, waitGone, type App } from '../integration/app.ts'
import { sleep } from './helpers.ts'
import { connectRaw, get, type RawClient, type RawResponse } from './raw-http.ts'

interface SlowScenario {
  app: App
  old: number
  next: number
  drainAt: number
  headersAt: number
  clients: { fresh: RawClient, reused: RawClient, idle: RawClient, upload: RawClient }
  /** The answers to fresh, reused and upload. */
  answers: [RawResponse, RawResponse, RawResponse]
}

/** Opens the four connections, starts a handover and lets the slow clients finish their requests 2.5 s and 3 s into the drain. */
async function slowClientsAtAHandover (t: { after: (fn: () => unknown) => unknown }, track: Tracker, env: Record<string, string>): Promise<SlowScenario> {
  // idleGrace is the default (1 s); drainTimeout leaves room for the 3 s of slow headers.
  const app = await startApp(track, tempDir(t), { DRAIN_TIMEOUT: '15000', ...env })
  const old = app.pid
  const all: RawClient[] = []
  t.after(() => { for (const c of all) c.destroy() })
  const open = async (name: string): Promise<RawClient> => {
    const c = await connectRaw(app.port, name)
    all.push(c)
    return c
  }

  // Headers still arriving when the drain starts: on a new connection, and on a keep-alive
  // connection that has already been answered once.
  const fresh = await open('fresh')
  fresh.send('GET /?client=fresh HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  const reused = await open('reused')
  reused.send(get('/?client=reused'))
  assert.equal((await reused.next()).headers['x-pid'], String(old))
  reused.send('GET /?client=reused-2 HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  // Idle keep-alive connections: one stays idle, one starts an upload once the drain runs.
  const idle = await open('idle')
  idle.send(get('/'))
  assert.equal((await idle.next()).headers['x-pid'], String(old))
  const upload = await open('upload')
  upload.send(get('/'))
  assert.equal((await upload.next()).headers['x-pid'], String(old))

  const next = await handover(app)
  const drainAt = Date.now()
  upload.send('POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello')
  // The scenario: the slow clients' next bytes come 2.5 s and 3 s after the drain started.
  await sleep(2500)
  upload.send('world')
  await sleep(500)
  const headersAt = Date.now()
  fresh.send('\r\n')
  reused.send('\r\n')

  const answers = await Promise.all([fresh.next(), reused.next(), upload.next()])
  for (const [name, r] of [['fresh', answers[0]], ['reused', answers[1]], ['upload', answers[2]]] as const) {
    assert.equal(r.status, 200, name)
  }
  assert.equal(JSON.parse(answers[2].body).bytes, 10, 'the whole upload arrived')
  for (const [name, r] of [['fresh', answers[0]], ['reused', answers[1]]] as const) {
    assert.equal(r.headers['x-pid'], String(old), `${name}: answered by the old generation`)
  }
  return { app, old, next, drainAt, headersAt, clients: { fresh, reused, idle, upload }, answers }
}

async function drainEnd (s: SlowScenario): Promise<Record<string, unknown> | undefined> {
  await waitGone([s.old])
  return events(s.app.started, 'drain:end').find((e) => e.pid === s.old)
}

test('slow clients at a handover, handoffIdleConnections false: headers completing 3 s into the drain get 200 from the old generation and Connection: close; an idle keep-alive connection closes after idleGrace; an upload begun during the drain is answered', { timeout: 60_000 }, async (t) => {
  const s = await slowClientsAtAHandover(t, tracker(t), { HANDOFF: '0' })
  const { fresh, reused, idle, upload } = s.clients
  for (const [name, r] of [['fresh', s.answers[0]], ['reused', s.answers[1]], ['upload', s.answers[2]]] as const) {
    assert.equal(r.headers['x-pid'], String(s.old), `${name}: answered by the old generation`)
    assert.equal(r.headers.connection, 'close', `${name}: told to reconnect`)
  }
  for (const c of [fresh, reused, upload]) assert.equal((await c.closed).error, undefined, 'closed after the response, not reset')

  const idleClosed = await idle.closed
  assert.equal(idleClosed.error, undefined, 'the idle connection was closed, not reset')
  assert.ok(idleClosed.at > s.drainAt && idleClosed.at < s.headersAt, 'the idle connection was closed during the drain, while the slow requests were still in flight')
  const end = await drainEnd(s)
  assert.equal(end?.timedOut, false, JSON.stringify(end))
  assert.equal(end?.destroyed, 0, JSON.stringify(end))
  assert.equal(end?.served, 3, JSON.stringify(end))
  assert.equal(end?.handedOff, 0, JSON.stringify(end))
  t.diagnostic(`drain started at 0 ms; idle keep-alive connection closed at ${idleClosed.at - s.drainAt} ms (idleGrace 1000); ` +
    `slow headers completed at ${s.headersAt - s.drainAt} ms and were answered at ${s.answers[0].at - s.drainAt}/${s.answers[1].at - s.drainAt} ms, ` +
    `upload answered at ${s.answers[2].at - s.drainAt} ms, all by the old generation; drain:end ${JSON.stringify(end)}`)
})

test('slow clients at a handover, by default: the slow requests are answered by the old generation without Connection: close, then every connection (the idle one too) is served by the new generation', { timeout: 60_000 }, async (t) => {
  const s = await slowClientsAtAHandover(t, tracker(t), {})
  const { fresh, reused, idle, upload } = s.clients
  for (const [name, r] of [['fresh', s.answers[0]], ['reused', s.answers[1]], ['upload', s.answers[2]]] as const) {
    assert.notEqual(r.headers.connection, 'close', `${name}: the connection is kept`)
  }
  assert.ok([String(s.old), String(s.next)].includes(s.answers[2].headers['x-pid'] ?? ''), `upload answered by ${s.answers[2].headers['x-pid']}`)
  const end = await drainEnd(s)
  assert.equal(end?.timedOut, false, JSON.stringify(end))
  assert.equal(end?.destroyed, 0, JSON.stringify(end))
  assert.equal(end?.handedOff, 4, `all four connections went to the next generation: ${JSON.stringify(end)}`)
  for (const [name, c] of [['fresh', fresh], ['reused', reused], ['idle', idle], ['upload', upload]] as const) {
    c.send(get(`/?client=${name}-after`))
    const r = await c.next()
    assert.equal(r.status, 200, name)
    assert.equal(r.headers['x-pid'], String(s.next), `${name}: the same connection, served by the new generation`)
  }
  t.diagnostic(`slow headers completed at ${s.headersAt - s.drainAt} ms and were answered by the old generation at ${s.answers[0].at - s.drainAt}/${s.answers[1].at - s.drainAt} ms, ` +
    `upload answered at ${s.answers[2].at - s.drainAt} ms by ${s.answers[2].headers['x-pid'] === String(s.old) ? 'the old' : 'the new'} generation; drain:end ${JSON.stringify(end)}`)
})
