// Slow clients at a handover, over raw sockets so the test decides when each byte leaves:
// a request whose headers are still arriving when the drain starts is in flight, not an
// idle connection; an idle keep-alive connection still closes after idleGrace; an upload
// begun during the drain on a connection that looked idle is answered. Real processes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { tracker } from '@graceful-restart/test-utils'
import { events, handover, startApp, tempDir, waitGone } from '../integration/app.ts'
import { sleep } from './helpers.ts'
import { get, rawHttp, type RawClient } from './raw-http.ts'

async function rawClient (port: number, name: string): Promise<RawClient> {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return rawHttp(socket, name)
}


test('slow clients at a handover: headers completing 3 s into the drain get 200 from the old generation; an idle keep-alive connection closes after idleGrace; an upload begun during the drain is answered', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  // idleGrace is the default (1 s); drainTimeout leaves room for the 3 s of slow headers.
  const app = await startApp(track, dir, { DRAIN_TIMEOUT: '15000' })
  const old = app.pid
  const clients: RawClient[] = []
  t.after(() => { for (const c of clients) c.destroy() })
  const open = async (name: string): Promise<RawClient> => {
    const c = await rawClient(app.port, name)
    clients.push(c)
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

  await handover(app)
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
    assert.equal(r.headers['x-pid'], String(old), `${name}: answered by the old generation`)
    assert.equal(r.headers.connection, 'close', `${name}: told to reconnect`)
  }
  assert.equal(JSON.parse(answers[2].body).bytes, 10, 'the whole upload arrived')
  for (const c of [fresh, reused, upload]) assert.equal((await c.closed).error, undefined, 'closed after the response, not reset')

  const idleClosed = await idle.closed
  assert.equal(idleClosed.error, undefined, 'the idle connection was closed, not reset')
  assert.ok(idleClosed.at > drainAt && idleClosed.at < headersAt, 'the idle connection was closed during the drain, while the slow requests were still in flight')
  await waitGone([old])
  const end = events(app.started, 'drain:end').find((e) => e.pid === old)
  assert.equal(end?.timedOut, false, JSON.stringify(end))
  assert.equal(end?.destroyed, 0, JSON.stringify(end))
  assert.equal(end?.served, 3, JSON.stringify(end))
  t.diagnostic(`drain started at 0 ms; idle keep-alive connection closed at ${idleClosed.at - drainAt} ms (idleGrace 1000); ` +
    `slow headers completed at ${headersAt - drainAt} ms and were answered at ${answers[0].at - drainAt}/${answers[1].at - drainAt} ms, ` +
    `upload answered at ${answers[2].at - drainAt} ms, all by the old generation; drain:end ${JSON.stringify(end)}`)
})
