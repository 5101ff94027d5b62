// The drain's decisions, first as pure functions, then on real sockets inside this process
// (no child process): which HTTP/1 connections are idle, what a pipelining client gets, and
// the HTTP/2 frames that end a session. Short idleGrace, events rather than time; last, the
// drain's timing (idleGrace, drainTimeout) on a fake clock that the test moves.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { waitFor } from '@graceful-restart/test-utils'
import { ConnectionTracker, closesNow, phaseOf, type ConnectionFacts } from '../../src/drain.ts'
import { tlsFiles } from '../hardening/helpers.ts'
import { get, rawHttp, type RawClient } from '../hardening/raw-http.ts'
import { FakeClock } from './fake-clock.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const DRAIN = { idleGrace: 100, drainTimeout: 10_000 }

test('drain decisions: a connection is idle only with no response running and no byte since its last one; only idle ones close, after idleGrace', () => {
  const base: ConnectionFacts = { upgraded: false, responding: false, requestArriving: false, idleSince: 0 }
  assert.equal(phaseOf(base), 'idle')
  assert.equal(phaseOf({ ...base, requestArriving: true }), 'active', 'part of a request arrived')
  assert.equal(phaseOf({ ...base, responding: true }), 'active')
  assert.equal(phaseOf({ ...base, upgraded: true, requestArriving: true }), 'upgraded')
  // Drain started at 1000, idleGrace 100: idleness before the drain does not count.
  assert.equal(closesNow(base, 1099, 1000, 100), false)
  assert.equal(closesNow(base, 1100, 1000, 100), true)
  assert.equal(closesNow({ ...base, idleSince: 1050 }, 1100, 1000, 100), false, 'a response ended during the drain: the grace starts then')
  assert.equal(closesNow({ ...base, requestArriving: true }, 60_000, 1000, 100), false, 'in flight: left to drainTimeout')
  assert.equal(closesNow({ ...base, responding: true }, 60_000, 1000, 100), false)
  assert.equal(closesNow({ ...base, upgraded: true }, 60_000, 1000, 100), false, 'upgraded: the app closes it')
})

function tempDir (t: { after: (fn: () => unknown) => unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-drain-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Answers GET at once, `/held` when the test releases it, POST /early before reading the body. */
function handler (held: Array<() => void>, bodyRead: Array<() => void>) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const send = (): void => { res.end(`${req.url ?? ''} done`) }
    if (req.url?.startsWith('/held') === true) held.push(send)
    else if (req.url === '/early') {
      req.on('end', () => { for (const fn of bodyRead.splice(0)) fn() })
      req.resume()
      send()
    } else send()
  }
}

async function listen (server: net.Server, t: { after: (fn: () => unknown) => unknown }): Promise<{ port: number, tracker: ConnectionTracker }> {
  const tracker = new ConnectionTracker(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  return { port: (server.address() as net.AddressInfo).port, tracker }
}

async function connect (port: number, name: string, clients: RawClient[]): Promise<RawClient> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const c = rawHttp(socket, name)
  clients.push(c)
  return c
}

test('HTTP/1: headers still arriving when the drain starts are in flight, on a new connection and on one answered before; idle connections close after idleGrace; the tail of a body answered early is no request', { timeout: 10_000 }, async (t) => {
  const bodyRead: Array<() => void> = []
  const server = http.createServer(handler([], bodyRead))
  const { port, tracker } = await listen(server, t)
  const clients: RawClient[] = []
  t.after(() => { for (const c of clients) c.destroy() })

  const silent = await connect(port, 'silent', clients)
  const freshPartial = await connect(port, 'fresh partial', clients)
  freshPartial.send('GET /fresh HTTP/1.1\r\nHo')
  const answered = await connect(port, 'answered', clients)
  answered.send(get('/'))
  await answered.next()
  const reusedPartial = await connect(port, 'reused partial', clients)
  reusedPartial.send(get('/'))
  await reusedPartial.next()
  reusedPartial.send('GET /reused HTTP/1.1\r\n')
  const early = await connect(port, 'early', clients)
  const tailRead = new Promise<void>((resolve) => bodyRead.push(resolve))
  early.send('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc')
  await early.next()
  early.send('def')
  await tailRead

  await waitFor(() => tracker.counts().connections === 5 && tracker.counts().active === 2 ? true : undefined, { timeoutMs: 2000, what: `2 of 5 connections in flight: ${JSON.stringify(tracker.counts())}` })
  assert.deepEqual(tracker.counts(), { connections: 5, active: 2, idle: 3, upgraded: 0 })

  const drained = tracker.drain(DRAIN)
  for (const c of [silent, answered, early]) assert.equal((await c.closed).error, undefined)
  // The idle ones are gone; the slow requests are still waited for.
  await waitFor(() => tracker.counts().connections === 2 ? true : undefined, { timeoutMs: 2000, what: 'the server side of the idle connections closed' })
  assert.deepEqual(tracker.counts(), { connections: 2, active: 2, idle: 0, upgraded: 0 })
  freshPartial.send('st: x\r\n\r\n')
  reusedPartial.send('Host: x\r\n\r\n')
  for (const [c, path] of [[freshPartial, '/fresh'], [reusedPartial, '/reused']] as const) {
    const r = await c.next()
    assert.equal(r.status, 200)
    assert.equal(r.body, `${path} done`)
    assert.equal(r.headers.connection, 'close')
  }
  const result = await drained
  assert.equal(result.destroyed, 0)
  assert.equal(result.timedOut, false)
  assert.equal(result.served, 2)
})

/** A TLS client whose next record can be cut short: all but its last byte leave, the rest on release. */
async function tlsClient (port: number): Promise<{ socket: tls.TLSSocket, holdLastByte: () => void, release: () => void }> {
  const tcp = net.connect(port, '127.0.0.1')
  await once(tcp, 'connect')
  let holding = false
  let held: Buffer | undefined
  const carrier = new Duplex({
    read () {},
    write (chunk: Buffer, _encoding, done) {
      if (holding) {
        if (held !== undefined) tcp.write(held)
        tcp.write(chunk.subarray(0, -1))
        held = chunk.subarray(-1)
      } else tcp.write(chunk)
      done()
    },
    final (done) { tcp.end(); done() },
    destroy (err, done) { tcp.destroy(); done(err) }
  })
  tcp.on('data', (d: Buffer) => carrier.push(d))
  tcp.on('end', () => carrier.push(null))
  tcp.on('error', () => {})
  tcp.on('close', () => carrier.destroy())
  const socket = tls.connect({ socket: carrier, rejectUnauthorized: false })
  await once(socket, 'secureConnect')
  return {
    socket,
    holdLastByte: () => { holding = true },
    release: () => {
      holding = false
      if (held !== undefined) tcp.write(held)
      held = undefined
    }
  }
}

test('HTTPS: a TLS record still incomplete when the drain starts is a request arriving, not an idle connection', { timeout: 10_000 }, async (t) => {
  const files = tlsFiles(tempDir(t))
  const server = https.createServer({ key: fs.readFileSync(files.TLS_KEY), cert: fs.readFileSync(files.TLS_CERT) }, handler([], []))
  const { port, tracker } = await listen(server, t)
  const slow = await tlsClient(port)
  const idle = await tlsClient(port)
  t.after(() => { slow.socket.destroy(); idle.socket.destroy() })
  const slowHttp = rawHttp(slow.socket, 'slow')
  const idleHttp = rawHttp(idle.socket, 'idle')
  for (const c of [slowHttp, idleHttp]) {
    c.send(get('/'))
    assert.equal((await c.next()).status, 200)
  }
  slow.holdLastByte()
  slowHttp.send(get('/slow'))
  await waitFor(() => tracker.counts().active === 1 ? true : undefined, { timeoutMs: 2000, what: 'the record\'s first bytes at the server' })

  const drained = tracker.drain(DRAIN)
  assert.equal((await idleHttp.closed).error, undefined)
  // The scenario: the record's last byte comes well after idleGrace.
  await sleep(3 * DRAIN.idleGrace)
  slow.release()
  const r = await slowHttp.next()
  assert.equal(r.status, 200)
  assert.equal(r.headers.connection, 'close')
  const result = await drained
  assert.equal(result.destroyed, 0)
  assert.equal(result.served, 1)
})

test('HTTP/1 pipelining: a response ahead of a pipelined request keeps the connection for it; the last one announces the close', { timeout: 10_000 }, async (t) => {
  const held: Array<() => void> = []
  const server = http.createServer(handler(held, []))
  const { port, tracker } = await listen(server, t)
  const clients: RawClient[] = []
  t.after(() => { for (const c of clients) c.destroy() })
  const c = await connect(port, 'pipelining', clients)
  c.send(get('/held/1') + get('/held/2'))
  await waitFor(() => held.length === 2 ? true : undefined, { timeoutMs: 2000, what: 'both requests at the app' })

  const drained = tracker.drain(DRAIN)
  held[0]?.()
  const first = await c.next()
  assert.equal(first.body, '/held/1 done')
  assert.equal(first.headers.connection, 'keep-alive', 'the pipelined request behind it still gets its answer')
  held[1]?.()
  const second = await c.next()
  assert.equal(second.body, '/held/2 done')
  assert.equal(second.headers.connection, 'close')
  assert.equal((await c.closed).error, undefined)
  const result = await drained
  assert.equal(result.destroyed, 0)
  assert.equal(result.served, 2)
})

// --- HTTP/2 frames, read by a client written by hand over cleartext (h2c) -----------------

interface Frame { type: string, stream: number, lastStreamId?: number, ack?: boolean, code?: number }
const FRAME_TYPES: Record<number, string> = { 0: 'DATA', 1: 'HEADERS', 3: 'RST_STREAM', 4: 'SETTINGS', 6: 'PING', 7: 'GOAWAY', 8: 'WINDOW_UPDATE' }

function frame (type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(stream, 5)
  return Buffer.concat([head, payload])
}

/** GET / as HPACK from the static table only: :method GET, :scheme http, :path /, :authority x. */
const getHeaders = (stream: number): Buffer => frame(1, 0x5, stream, Buffer.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x78]))

/** Connects, sends the preface and `first`, records every frame, answers SETTINGS and PING. */
async function h2Raw (port: number, first: Buffer): Promise<{ frames: Frame[], closed: Promise<void>, write: (b: Buffer) => void }> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.setNoDelay(true)
  const frames: Frame[] = []
  let buf = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3)
      if (buf.length < 9 + length) break
      const type = buf[3] as number
      const flags = buf[4] as number
      const stream = buf.readUInt32BE(5) & 0x7fffffff
      const payload = buf.subarray(9, 9 + length)
      buf = buf.subarray(9 + length)
      const f: Frame = { type: FRAME_TYPES[type] ?? String(type), stream }
      if (type === 7) f.lastStreamId = payload.readUInt32BE(0) & 0x7fffffff
      if (type === 3 || type === 7) f.code = payload.readUInt32BE(type === 7 ? 4 : 0)
      if (type === 4 || type === 6) f.ack = (flags & 1) === 1
      frames.push(f)
      if (type === 4 && (flags & 1) === 0) socket.write(frame(4, 1, 0, Buffer.alloc(0)))
      if (type === 6 && (flags & 1) === 0) socket.write(frame(6, 1, 0, payload))
    }
  })
  socket.on('error', () => {})
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)), first]))
  return { frames, closed: once(socket, 'close').then(() => {}), write: (b) => { socket.write(b) } }
}

const essential = (frames: Frame[]): string[] => frames
  .filter((f) => f.type !== 'SETTINGS' && f.type !== 'WINDOW_UPDATE' && f.type !== 'DATA')
  .map((f) => f.type === 'GOAWAY' ? `GOAWAY ${String(f.lastStreamId)}` : f.type === 'PING' ? `PING${f.ack === true ? ' ack' : ''}` : `${f.type} ${f.stream}${f.code !== undefined ? ` code ${f.code}` : ''}`)

/** An h2c server answering every stream with 200, drained by a tracker; and a session answered once. */
async function h2Served (t: { after: (fn: () => unknown) => unknown }): Promise<{ port: number, tracker: ConnectionTracker, used: Awaited<ReturnType<typeof h2Raw>> }> {
  const server = http2.createServer()
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 })
    stream.end('ok')
  })
  const { port, tracker } = await listen(server as unknown as net.Server, t)
  const used = await h2Raw(port, getHeaders(1))
  await waitFor(() => used.frames.some((f) => f.type === 'DATA') ? true : undefined, { timeoutMs: 2000, what: 'the first answer' })
  return { port, tracker, used }
}

test('HTTP/2 drain frames: a session hears a PING, then one GOAWAY naming the last stream once the PING is answered; a request on its way as the drain starts is served, not refused', { timeout: 10_000 }, async (t) => {
  // A session that has been answered once, then drained.
  const { port, tracker, used } = await h2Served(t)
  // A session whose request is not sent yet when the drain starts (a client's first request
  // on the wire as the drain begins): it goes out right after the drain started.
  const late = await h2Raw(port, Buffer.alloc(0))
  await waitFor(() => tracker.counts().connections === 2 ? true : undefined, { timeoutMs: 2000, what: 'both sessions at the server' })
  const drained = tracker.drain(DRAIN)
  late.write(getHeaders(1))
  await Promise.all([used.closed, late.closed])
  const result = await drained
  assert.equal(result.timedOut, false)
  assert.equal(result.destroyed, 0)

  const usedFrames = essential(used.frames)
  const lateFrames = essential(late.frames)
  assert.deepEqual(usedFrames.slice(0, 3), ['HEADERS 1', 'PING', 'GOAWAY 1'])
  assert.ok(lateFrames.includes('HEADERS 1'), `the request sent after the drain started was answered: ${lateFrames.join(', ')}`)
  assert.ok(lateFrames.indexOf('PING') < lateFrames.indexOf('GOAWAY 1'), 'PING first')
  for (const frames of [usedFrames, lateFrames]) {
    assert.ok(frames.filter((f) => f.startsWith('GOAWAY')).every((f) => f === 'GOAWAY 1'), `every GOAWAY names the stream served: ${frames.join(', ')}`)
  }
  assert.ok(!late.frames.some((f) => f.type === 'RST_STREAM'), 'nothing refused')
  t.diagnostic(`session answered before: ${usedFrames.join(', ')}; session whose request came during the drain: ${lateFrames.join(', ')}`)
})

test('HTTP/2 drain with idleGrace 0: no grace, the final GOAWAY goes out at once', { timeout: 10_000 }, async (t) => {
  const { tracker, used } = await h2Served(t)
  const result = await tracker.drain({ idleGrace: 0, drainTimeout: 10_000 })
  await used.closed
  assert.equal(result.timedOut, false)
  assert.deepEqual(essential(used.frames).slice(0, 2), ['HEADERS 1', 'GOAWAY 1'])
})

// --- The drain's timing on a fake clock: idleGrace and drainTimeout pass when the test says --

async function onFakeClock (t: { after: (fn: () => unknown) => unknown }, onUpgrade?: (socket: net.Socket) => void): Promise<{ clock: FakeClock, port: number, tracker: ConnectionTracker, held: Array<() => void>, clients: RawClient[] }> {
  const clock = new FakeClock()
  const held: Array<() => void> = []
  const server = http.createServer(handler(held, []))
  if (onUpgrade !== undefined) {
    server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
      onUpgrade(socket)
    })
  }
  const tracker = new ConnectionTracker(server, clock)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const clients: RawClient[] = []
  t.after(() => { for (const c of clients) c.destroy(); server.close() })
  return { clock, port: (server.address() as net.AddressInfo).port, tracker, held, clients }
}

const FAKE = { idleGrace: 1000, drainTimeout: 30_000 }

test('fake clock, idle: an idle keep-alive connection is closed exactly when idleGrace has passed; a request arriving before that is served with Connection: close', { timeout: 10_000 }, async (t) => {
  const { clock, port, tracker, clients } = await onFakeClock(t)
  const idle = await connect(port, 'idle', clients)
  const late = await connect(port, 'late', clients)
  for (const c of [idle, late]) {
    c.send(get('/'))
    assert.equal((await c.next()).status, 200)
  }
  await waitFor(() => tracker.counts().idle === 2 ? true : undefined, { timeoutMs: 2000, what: 'two idle connections' })
  let idleClosed = false
  void idle.closed.then(() => { idleClosed = true })
  clock.clock = 10_000
  const drained = tracker.drain(FAKE)
  clock.advance(FAKE.idleGrace - 1)
  late.send(get('/late'))
  const r = await late.next()
  assert.equal(r.body, '/late done', 'a request on its way within idleGrace is served')
  assert.equal(r.headers.connection, 'close')
  await late.closed
  await waitFor(() => tracker.counts().connections === 1 ? true : undefined, { timeoutMs: 2000, what: 'the served connection gone at the server' })
  assert.deepEqual(tracker.counts(), { connections: 1, active: 0, idle: 1, upgraded: 0 }, 'the other idle connection is still open at idleGrace - 1 ms')
  assert.equal(idleClosed, false)
  clock.advance(1)
  assert.equal((await idle.closed).error, undefined, 'closed at idleGrace')
  const result = await drained
  assert.deepEqual(result, { durationMs: FAKE.idleGrace, served: 1, destroyed: 0, timedOut: false, handedOff: 0, fellBack: 0, closed: 2 })
})

test('fake clock, partial request: a connection carrying part of a request is in flight however long it takes; it is answered with Connection: close', { timeout: 10_000 }, async (t) => {
  const { clock, port, tracker, clients } = await onFakeClock(t)
  const slow = await connect(port, 'slow', clients)
  slow.send('GET /partial HTTP/1.1\r\nHo')
  await waitFor(() => tracker.counts().active === 1 ? true : undefined, { timeoutMs: 2000, what: 'the first bytes at the server' })
  const drained = tracker.drain(FAKE)
  clock.advance(20 * FAKE.idleGrace)
  assert.deepEqual(tracker.counts(), { connections: 1, active: 1, idle: 0, upgraded: 0 })
  slow.send('st: x\r\n\r\n')
  const r = await slow.next()
  assert.equal(r.body, '/partial done')
  assert.equal(r.headers.connection, 'close')
  const result = await drained
  assert.deepEqual(result, { durationMs: 20 * FAKE.idleGrace, served: 1, destroyed: 0, timedOut: false, handedOff: 0, fellBack: 0, closed: 1 })
})

test('fake clock, response in flight: a request running when the drain starts is waited for past idleGrace and ends its connection', { timeout: 10_000 }, async (t) => {
  const { clock, port, tracker, held, clients } = await onFakeClock(t)
  const c = await connect(port, 'held', clients)
  c.send(get('/held'))
  await waitFor(() => held.length === 1 ? true : undefined, { timeoutMs: 2000, what: 'the request at the app' })
  const drained = tracker.drain(FAKE)
  clock.advance(5 * FAKE.idleGrace)
  held[0]?.()
  const r = await c.next()
  assert.equal(r.body, '/held done')
  assert.equal(r.headers.connection, 'close')
  assert.equal((await c.closed).error, undefined)
  const result = await drained
  assert.deepEqual(result, { durationMs: 5 * FAKE.idleGrace, served: 1, destroyed: 0, timedOut: false, handedOff: 0, fellBack: 0, closed: 1 })
})

test('fake clock, upgrade: an upgraded connection is handed to onUpgradedSocket and never reaped as idle; the drain ends when the app closes it', { timeout: 10_000 }, async (t) => {
  const upgraded: net.Socket[] = []
  const { clock, port, tracker, clients } = await onFakeClock(t, (socket) => { upgraded.push(socket) })
  const c = await connect(port, 'upgraded', clients)
  c.send('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
  await waitFor(() => tracker.counts().upgraded === 1 ? true : undefined, { timeoutMs: 2000, what: 'the upgrade' })
  const handed: net.Socket[] = []
  const drained = tracker.drain({ ...FAKE, onUpgradedSocket: (socket) => { handed.push(socket) } })
  assert.equal(handed.length, 1, 'handed to the app when the drain starts')
  assert.equal(handed[0], upgraded[0])
  clock.advance(10 * FAKE.idleGrace)
  assert.deepEqual(tracker.counts(), { connections: 1, active: 0, idle: 0, upgraded: 1 })
  handed[0]?.end()
  const result = await drained
  assert.deepEqual(result, { durationMs: 10 * FAKE.idleGrace, served: 0, destroyed: 0, timedOut: false, handedOff: 0, fellBack: 0, closed: 1 })
})

test('fake clock, deadline: what is still open at drainTimeout is destroyed and counted', { timeout: 10_000 }, async (t) => {
  const { clock, port, tracker, held, clients } = await onFakeClock(t)
  const c = await connect(port, 'held', clients)
  c.send(get('/held/forever'))
  await waitFor(() => held.length === 1 ? true : undefined, { timeoutMs: 2000, what: 'the request at the app' })
  const drained = tracker.drain(FAKE)
  clock.advance(FAKE.drainTimeout - 1)
  assert.equal(tracker.counts().active, 1, 'still waited for 1 ms before the deadline')
  clock.advance(1)
  const result = await drained
  assert.deepEqual(result, { durationMs: FAKE.drainTimeout, served: 0, destroyed: 1, timedOut: true, handedOff: 0, fellBack: 0, closed: 1 })
  await c.closed
})
