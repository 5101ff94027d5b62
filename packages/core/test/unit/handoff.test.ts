// The handoff's parts inside one process, on real sockets: what the drain offers and when,
// what a refused offer falls back to, the sender's take-back when no claim comes, and the
// protocol's guard against malformed messages. Two generations over a real channel are in
// test/integration/handoff.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { waitFor } from '@graceful-restart/test-utils'
import { ConnectionTracker, type HandoffOutcome, type HandoffPort } from '../../src/drain.ts'
import { adoptedIdleTimeout, parserIdle } from '../../src/handoff/connection-io.ts'
import { decode, encode, type GenerationLink } from '../../src/handoff/protocol.ts'
import { HandoffSender } from '../../src/handoff/sender.ts'
import { connectRaw, get, type RawClient } from '../hardening/raw-http.ts'

const DRAIN = { idleGrace: 100, drainTimeout: 10_000 }

async function serve (t: { after: (fn: () => unknown) => unknown }, held: Array<() => void> = [], seen: string[] = []): Promise<{ port: number, tracker: ConnectionTracker }> {
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '')
    const send = (): void => { res.end(`${req.url ?? ''} done`) }
    if (req.url?.startsWith('/held') === true) held.push(send)
    else send()
  })
  const tracker = new ConnectionTracker(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  return { port: (server.address() as net.AddressInfo).port, tracker }
}

async function connect (t: { after: (fn: () => unknown) => unknown }, port: number): Promise<RawClient & { socket: net.Socket }> {
  const client = await connectRaw(port)
  t.after(() => client.destroy())
  return client
}

/** A port that answers every offer with `outcome` and records what it was offered. */
function fakePort (outcome: HandoffOutcome): HandoffPort & { offered: Array<{ socket: net.Socket, idle: boolean }> } {
  const offered: Array<{ socket: net.Socket, idle: boolean }> = []
  return { open: true, offered, offer: async (socket, stillIdle) => { offered.push({ socket, idle: stillIdle() }); return outcome } }
}

test('with a port, idle connections are offered at once and those passed on end here uncounted as closed; a response running meanwhile keeps its keep-alive and its connection is offered once it ended', { timeout: 10_000 }, async (t) => {
  const held: Array<() => void> = []
  const { port, tracker } = await serve(t, held)
  const idle = await connect(t, port)
  idle.send(get('/'))
  await idle.next()
  const busy = await connect(t, port)
  busy.send(get('/held'))
  await waitFor(() => held.length === 1, { timeoutMs: 5000, what: 'the held request' })
  const handoff = fakePort('handed-off')
  const drained = tracker.drain({ ...DRAIN, handoff })
  await waitFor(() => handoff.offered.length === 1, { timeoutMs: 5000, what: 'the idle connection offered' })
  assert.equal(handoff.offered[0]?.idle, true)
  held[0]?.()
  const answer = await busy.next()
  assert.notEqual(answer.headers.connection, 'close', 'answered with keep-alive: its connection may go on')
  const result = await drained
  assert.equal(handoff.offered.length, 2)
  assert.deepEqual({ handedOff: result.handedOff, fellBack: result.fellBack, closed: result.closed, served: result.served }, { handedOff: 2, fellBack: 0, closed: 0, served: 1 })
})

test('a refused offer falls back to the drain without the handoff: the next response says Connection: close, an idle connection closes after idleGrace; both counted', { timeout: 10_000 }, async (t) => {
  const { port, tracker } = await serve(t)
  const idle = await connect(t, port)
  idle.send(get('/'))
  await idle.next()
  const quiet = await connect(t, port)
  quiet.send(get('/'))
  await quiet.next()
  const handoff = fakePort('refused')
  const drained = tracker.drain({ ...DRAIN, handoff })
  await waitFor(() => handoff.offered.length === 2, { timeoutMs: 5000, what: 'the offers' })
  idle.send(get('/after'))
  const after = await idle.next()
  assert.equal(after.headers.connection, 'close')
  await idle.closed
  assert.equal((await quiet.closed).error, undefined, 'the idle one closed by the drain')
  const result = await drained
  assert.deepEqual({ handedOff: result.handedOff, fellBack: result.fellBack, closed: result.closed }, { handedOff: 0, fellBack: 2, closed: 2 })
})

test('a connection with half a request at the drain start is not offered until its response ended', { timeout: 10_000 }, async (t) => {
  const seen: string[] = []
  const { port, tracker } = await serve(t, [], seen)
  const partial = await connect(t, port)
  partial.send(get('/'))
  await partial.next()
  partial.send('GET /second HTTP/1.1\r\nHo')
  await waitFor(() => tracker.counts().active === 1, { timeoutMs: 5000, what: 'the partial request read' })
  const handoff = fakePort('handed-off')
  const requestsAtOffer: number[] = []
  const offer = handoff.offer
  handoff.offer = async (socket, stillIdle) => { requestsAtOffer.push(seen.length); return await offer(socket, stillIdle) }
  const drained = tracker.drain({ ...DRAIN, handoff })
  partial.send('st: x\r\n\r\n')
  const second = await partial.next()
  assert.equal(second.body, '/second done')
  const result = await drained
  assert.deepEqual(requestsAtOffer, [2], 'offered once, after its second request was served')
  assert.equal(result.handedOff, 1)
})

/** Two ends of an in-process link; `dropClaims` plays a next generation that never answers an offer. */
function linkPair (): { old: GenerationLink, sent: object[], deliver: (message: object) => void } {
  const sent: object[] = []
  let onMessage: (message: unknown, handle: unknown) => void = () => {}
  return {
    sent,
    deliver: (message) => onMessage(message, undefined),
    old: {
      send: async (message) => { sent.push(message) },
      onMessage: (fn) => { onMessage = fn },
      onDisconnect: () => {},
      disconnect: () => {}
    }
  }
}

test('sender: no claim within the timeout, and the connection is read and served here again; a late claim is answered with abort', { timeout: 10_000 }, async (t) => {
  const { port, tracker } = await serve(t)
  const client = await connect(t, port)
  client.send(get('/'))
  await client.next()
  const link = linkPair()
  const sender = new HandoffSender(link.old, { ticketKeys: () => [], timeoutMs: 50 })
  link.deliver(encode({ type: 'hello' }))
  assert.equal(sender.open, true)
  assert.deepEqual(decode(link.sent[0]), { type: 'welcome', ticketKeys: [] })
  const drained = tracker.drain({ ...DRAIN, handoff: sender.portFor('tcp:127.0.0.1:0') })
  await waitFor(() => link.sent.some((m) => decode(m)?.type === 'offer'), { timeoutMs: 5000, what: 'the offer' })
  const offer = decode(link.sent.find((m) => decode(m)?.type === 'offer'))
  // Sent while the offer stands: it waits in the kernel, and is read here once taken back.
  client.send(get('/later'))
  const later = await client.next()
  assert.equal(later.body, '/later done')
  assert.equal(later.headers.connection, 'close', 'fallen back: drained as without the handoff')
  assert.ok(offer?.type === 'offer')
  link.deliver(encode({ type: 'claim', id: offer.id }))
  assert.deepEqual(decode(link.sent.at(-1)), { type: 'abort', id: offer.id })
  const result = await drained
  assert.deepEqual({ handedOff: result.handedOff, fellBack: result.fellBack }, { handedOff: 0, fellBack: 1 })
})

test('sender: at most maxInFlight offers on their way; a connection waiting its turn is read as usual, a request on it is answered with keep-alive, and it is offered after', { timeout: 10_000 }, async (t) => {
  const { port, tracker } = await serve(t)
  const clients: Array<RawClient & { socket: net.Socket }> = []
  for (let i = 0; i < 2; i++) {
    const client = await connect(t, port)
    client.send(get('/'))
    await client.next()
    clients.push(client)
  }
  const link = linkPair()
  const sent: number[] = []
  const sender = new HandoffSender(link.old, { ticketKeys: () => [], maxInFlight: 1, onSend: (socket) => { sent.push(socket.remotePort ?? 0) } })
  link.deliver(encode({ type: 'hello' }))
  const offers = (): Array<{ id: number }> => link.sent.map((m) => decode(m)).filter((m) => m?.type === 'offer') as Array<{ id: number }>
  const drained = tracker.drain({ ...DRAIN, handoff: sender.portFor('tcp:127.0.0.1:0') })
  await waitFor(() => offers().length === 1, { timeoutMs: 5000, what: 'the first offer' })
  const waiting = clients.findIndex((c) => c.socket.localPort !== sent[0])
  assert.ok(waiting >= 0)
  clients[waiting]?.send(get('/meanwhile'))
  const meanwhile = await clients[waiting]?.next()
  assert.equal(meanwhile?.body, '/meanwhile done', 'read and served here while waiting its turn')
  assert.notEqual(meanwhile?.headers.connection, 'close', 'with its keep-alive: the connection may still go')
  assert.equal(offers().length, 1, 'one offer on its way at a time')
  link.deliver(encode({ type: 'claim', id: offers()[0]?.id ?? 0 }))
  await waitFor(() => offers().length === 2, { timeoutMs: 5000, what: 'the second offer, once the first was committed' })
  assert.equal(sent[1], clients[waiting]?.socket.localPort)
  link.deliver(encode({ type: 'claim', id: offers()[1]?.id ?? 0 }))
  const result = await drained
  assert.deepEqual({ handedOff: result.handedOff, fellBack: result.fellBack, served: result.served }, { handedOff: 2, fellBack: 0, served: 1 })
})

test('to the parser a connection is idle once its response ended, though Node clears the request a tick later; not while a request body is still arriving', { timeout: 10_000 }, async (t) => {
  const atClose: boolean[] = []
  const atRequest: boolean[] = []
  const server = http.createServer((req, res) => {
    atRequest.push(parserIdle(req.socket))
    res.once('close', () => atClose.push(parserIdle(req.socket)))
    // A GET answered without reading it, as most handlers do; the POST once its body is in.
    if (req.method === 'GET') {
      res.end('x')
      return
    }
    req.resume()
    req.once('end', () => res.end('x'))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.close() })
  const client = await connect(t, (server.address() as net.AddressInfo).port)
  client.send(get('/'))
  await client.next()
  assert.deepEqual(atClose, [true], 'the drain offers the connection when its response closes')
  client.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc')
  await waitFor(() => atRequest.length === 2, { timeoutMs: 5000, what: 'the POST' })
  assert.equal(atRequest[1], false, 'the POST body is still arriving')
  client.send('def')
  await client.next()
  assert.deepEqual(atClose, [true, true])
})

test('protocol: only well-formed messages of ours are read', () => {
  assert.deepEqual(decode(encode({ type: 'offer', id: 3, key: 'tcp:127.0.0.1:80' })), { type: 'offer', id: 3, key: 'tcp:127.0.0.1:80' })
  assert.deepEqual(decode(encode({ type: 'welcome', ticketKeys: [{ key: 'tcp:*:443', keys: 'ab'.repeat(48) }] })), { type: 'welcome', ticketKeys: [{ key: 'tcp:*:443', keys: 'ab'.repeat(48) }] })
  for (const bad of [
    { cmd: 'NODE_HANDLE_ACK' },
    { cmd: 'NODE_GRACEFUL_RESTART', v: 1, type: 'hello' },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', type: 'hello' },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', v: 1, type: 'offer', id: 0, key: 'tcp:x:1' },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', v: 1, type: 'offer', id: 1, key: '/etc/passwd' },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', v: 1, type: 'welcome', ticketKeys: [{ key: 'tcp:*:443', keys: 'short' }] },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', v: 1, type: 'commit', id: 1.5 },
    { cmd: 'NODE_GRACEFUL_RESTART_HANDOFF', v: 1, type: 'shout' },
    'hello', null
  ]) assert.equal(decode(bad), undefined, JSON.stringify(bad))
})

test('an adopted connection gets a whole keep-alive timeout, closed before Node would answer it 408', () => {
  assert.equal(adoptedIdleTimeout({ keepAliveTimeout: 5000, headersTimeout: 60_000, requestTimeout: 300_000 }), 6000)
  assert.equal(adoptedIdleTimeout({ keepAliveTimeout: 5000, keepAliveTimeoutBuffer: 0, headersTimeout: 60_000 }), 5000)
  assert.equal(adoptedIdleTimeout({ keepAliveTimeout: 65_000, headersTimeout: 66_000 }), 65_000)
  assert.equal(adoptedIdleTimeout({ keepAliveTimeout: 0, headersTimeout: 60_000 }), 59_000)
  assert.equal(adoptedIdleTimeout({ keepAliveTimeout: 0, headersTimeout: 0, requestTimeout: 0 }), 0)
})
