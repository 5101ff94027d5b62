// The handoff's decisions in the orchestrator (lifecycle.ts), on the fake platform: which
// next generation gets the handover channel, what the old generation offers over it and
// what it counts in drain:end for each answer, and how a new generation answers a previous
// one (ready only once the ticket keys came, or on the fake clock's timeout; offers it
// cannot serve declined). Connections are real sockets; the channel and the clock are fakes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { once } from 'node:events'
import diagnosticsChannel from 'node:diagnostics_channel'
import { waitFor } from '@graceful-restart/test-utils'
import { CHANNELS } from '../../src/diagnostics.ts'
import { Graceful } from '../../src/lifecycle.ts'
import { OFFER_TIMEOUT_MS } from '../../src/handoff/sender.ts'
import { CLAIMS_SETTLE_TIMEOUT_MS, WELCOME_TIMEOUT_MS } from '../../src/handoff/receiver.ts'
import { decode, encode, type HandoffMessage } from '../../src/handoff/protocol.ts'
import { FakePlatform, fakeLink, type FakeChild, type FakeLink } from './fake-platform.ts'
import { connectRaw, get, type RawClient } from '../hardening/raw-http.ts'

type Options = ConstructorParameters<typeof Graceful>[0]

async function readyGraceful (t: { after: (fn: () => unknown) => unknown }, options: Options = {}, server: net.Server = http.createServer((_req, res) => res.end('ok'))): Promise<{ g: Graceful, p: FakePlatform, port: number }> {
  const p = new FakePlatform()
  const g = new Graceful({ logger: false, idleGrace: 50, drainTimeout: 10_000, ...options }, p)
  g.attach(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  t.after(() => { server.close(); g.close() })
  return { g, p, port: (server.address() as net.AddressInfo).port }
}

/** A keep-alive connection that was served once and is now idle. */
async function idleClient (t: { after: (fn: () => unknown) => unknown }, port: number): Promise<RawClient> {
  const client = await connectRaw(port)
  t.after(() => client.destroy())
  client.send(get('/'))
  await client.next()
  return client
}

function drainEnds (t: { after: (fn: () => unknown) => unknown }): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = []
  const fn = (message: unknown): void => { seen.push(message as Record<string, unknown>) }
  diagnosticsChannel.subscribe(CHANNELS.drainEnd, fn)
  t.after(() => diagnosticsChannel.unsubscribe(CHANNELS.drainEnd, fn))
  return seen
}

const messages = (link: FakeLink): HandoffMessage[] => link.sent.map((s) => decode(s.message)).filter((m) => m !== undefined)
const counts = (end: Record<string, unknown> | undefined): object => ({ handedOff: end?.handedOff, fellBack: end?.fellBack, closed: end?.closed })

/** Starts a handover whose child says hello (unless told not to) and reports ready; resolves with the child. */
async function handedOver (g: Graceful, p: FakePlatform, hello = true): Promise<FakeChild & { channel: FakeLink }> {
  const handover = g.handover()
  const child = p.children.at(-1)
  assert.ok(child?.channel !== undefined, 'the child got the handover channel')
  if (hello) child.channel.deliver(encode({ type: 'hello' }))
  child.events.onReady()
  await handover
  return child as FakeChild & { channel: FakeLink }
}

/** An old generation with one idle connection, handing over: its offer of that connection is out. */
async function offered (t: { after: (fn: () => unknown) => unknown }): Promise<{ p: FakePlatform, client: RawClient, child: FakeChild & { channel: FakeLink }, offer: Extract<HandoffMessage, { type: 'offer' }>, ends: Array<Record<string, unknown>> }> {
  const ends = drainEnds(t)
  const { g, p, port } = await readyGraceful(t, { handoffIdleConnections: true })
  const client = await idleClient(t, port)
  const child = await handedOver(g, p)
  await waitFor(() => messages(child.channel).some((m) => m.type === 'offer'), { timeoutMs: 5000, what: 'the offer' })
  const offerAt = messages(child.channel).findIndex((m) => m.type === 'offer')
  const offer = messages(child.channel)[offerAt]
  assert.ok(offer?.type === 'offer')
  assert.ok(child.channel.sent[offerAt]?.handle !== undefined, 'the connection\'s handle goes with the offer')
  return { p, client, child, offer, ends }
}

/** The drain runs on the platform's fake clock: time passes in steps until `done`. */
async function asTimePasses<T> (p: FakePlatform, done: () => T | undefined | false, what: string): Promise<T> {
  return await waitFor(() => {
    const value = done()
    if (value === undefined || value === false) p.advance(25)
    return value
  }, { timeoutMs: 5000, intervalMs: 5, what })
}

async function exited (p: FakePlatform): Promise<void> {
  await asTimePasses(p, () => p.exits.length > 0, 'the old generation exited')
}

/** How the client's connection ended, once the old generation's drain closed it (after idleGrace on the fake clock). */
async function closedByDrain (p: FakePlatform, client: RawClient): Promise<{ error: string | undefined }> {
  let closed: { error: string | undefined } | undefined
  void client.closed.then((c) => { closed = c })
  return await asTimePasses(p, () => closed, 'the connection closed by the drain')
}

test('the next generation gets the handover channel when it has something to take over: connections (a plain HTTP server, unless the option is false) or TLS ticket keys', async (t) => {
  const plain = await readyGraceful(t)
  void plain.g.handover().catch(() => {})
  assert.equal(plain.p.children[0]?.spec.handoff, true, 'plain HTTP by default: its idle connections go over')
  const optedOut = await readyGraceful(t, { handoffIdleConnections: false })
  void optedOut.g.handover().catch(() => {})
  assert.equal(optedOut.p.children[0]?.spec.handoff, false, 'plain HTTP with the option false: nothing to take over')
  const secure = await readyGraceful(t, { handoffIdleConnections: false }, https.createServer())
  void secure.g.handover().catch(() => {})
  assert.equal(secure.p.children[0]?.spec.handoff, true, 'TLS: its ticket keys go over, with the option false too')
  for (const { g, p } of [plain, optedOut, secure]) {
    p.children[0]?.exit(1)
    await waitFor(() => g.state === 'ready', { timeoutMs: 5000, what: 'rolled back' })
  }
})

test('hello is answered with the TLS ticket keys of each TLS listener (none for plain HTTP)', async (t) => {
  const secure = await readyGraceful(t, {}, https.createServer())
  void secure.g.handover().catch(() => {})
  const link = secure.p.children[0]?.channel
  assert.ok(link !== undefined)
  link.deliver(encode({ type: 'hello' }))
  await waitFor(() => link.sent.length > 0, { timeoutMs: 5000, what: 'the welcome' })
  const [welcome] = messages(link)
  assert.equal(welcome?.type, 'welcome')
  assert.ok(welcome?.type === 'welcome')
  assert.equal(welcome.ticketKeys.length, 1)
  assert.match(welcome.ticketKeys[0]?.keys ?? '', /^[0-9a-f]{96}$/)
  secure.p.children[0]?.exit(1)
  await waitFor(() => secure.g.state === 'ready', { timeoutMs: 5000, what: 'rolled back' })
})

test('at the drain an idle connection is offered with its socket; a claim is committed: drain:end counts it handed off, not closed, and the channel closes at the drain end', async (t) => {
  const { p, child, offer, ends } = await offered(t)
  assert.equal(offer.key, 'tcp:127.0.0.1:0')
  child.channel.deliver(encode({ type: 'claim', id: offer.id }))
  await exited(p)
  assert.deepEqual(messages(child.channel).at(-1), { type: 'commit', id: offer.id })
  assert.deepEqual(counts(ends.at(-1)), { handedOff: 1, fellBack: 0, closed: 0 })
  assert.equal(child.channel.disconnected, true)
  assert.deepEqual(p.exits, [0])
})

test('a declined offer falls back to the drain without the handoff: the connection closes after idleGrace; counted fellBack and closed', async (t) => {
  const { p, client, child, offer, ends } = await offered(t)
  child.channel.deliver(encode({ type: 'decline', id: offer.id, reason: 'draining' }))
  assert.equal((await closedByDrain(p, client)).error, undefined, 'closed by the old generation, cleanly')
  await exited(p)
  assert.deepEqual(counts(ends.at(-1)), { handedOff: 0, fellBack: 1, closed: 1 })
})

test('no claim within the offer timeout (fake clock): the connection stays and serves the request it sent meanwhile with Connection: close; a late claim gets abort', async (t) => {
  const { p, client, child, offer, ends } = await offered(t)
  // Sent while the offer stands: it waits in the kernel, unread here.
  client.send(get('/meanwhile'))
  const timer = [...p.timers].find(([, { ms }]) => ms === OFFER_TIMEOUT_MS)
  assert.ok(timer !== undefined, 'the offer waits on the platform\'s clock')
  p.timers.delete(timer[0])
  timer[1].fn()
  child.channel.deliver(encode({ type: 'claim', id: offer.id }))
  assert.deepEqual(messages(child.channel).at(-1), { type: 'abort', id: offer.id })
  const answer = await client.next()
  assert.equal(answer.status, 200)
  assert.equal(answer.headers.connection, 'close')
  await exited(p)
  assert.deepEqual(counts(ends.at(-1)), { handedOff: 0, fellBack: 1, closed: 1 })
})

test('a next generation that never said hello is offered nothing: its connections are drained as before', async (t) => {
  const ends = drainEnds(t)
  const { g, p, port } = await readyGraceful(t, { handoffIdleConnections: true })
  const client = await idleClient(t, port)
  const child = await handedOver(g, p, false)
  await closedByDrain(p, client)
  await exited(p)
  assert.deepEqual(messages(child.channel), [])
  assert.deepEqual(counts(ends.at(-1)), { handedOff: 0, fellBack: 0, closed: 1 })
})

test('the channel closing under an offer (the next generation died) is a fallback, never a crash', async (t) => {
  const { p, client, child, ends } = await offered(t)
  child.channel.close()
  await closedByDrain(p, client)
  await exited(p)
  assert.deepEqual(p.exits, [0])
  assert.deepEqual(counts(ends.at(-1)), { handedOff: 0, fellBack: 1, closed: 1 })
})

/** A generation started by a previous one that opened the handover channel. */
async function nextGeneration (t: { after: (fn: () => unknown) => unknown }): Promise<{ g: Graceful, p: FakePlatform, link: FakeLink, server: http.Server }> {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 2, parentPid: 50, handoff: 1, ignored: [] }
  const link = fakeLink()
  p.parentLink = link
  const g = new Graceful({ logger: false, signals: false, handoffIdleConnections: true }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  t.after(() => { server.close(); g.close() })
  assert.deepEqual(messages(link), [{ type: 'hello' }], 'hello is said at start-up')
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { g, p, link, server }
}

/** A next generation, ready, that claimed offer 1: a fake handle that counts how often it was closed. */
async function claimedOffer (t: { after: (fn: () => unknown) => unknown }): Promise<Awaited<ReturnType<typeof nextGeneration>> & { closes: () => number }> {
  const next = await nextGeneration(t)
  next.link.deliver(encode({ type: 'welcome', ticketKeys: [] }))
  await waitFor(() => next.g.state === 'ready', { timeoutMs: 5000, what: 'ready' })
  let closed = 0
  next.link.deliver(encode({ type: 'offer', id: 1, key: 'tcp:127.0.0.1:0' }), { close: () => { closed++ } })
  await waitFor(() => messages(next.link).length === 2, { timeoutMs: 5000, what: 'the claim' })
  return { ...next, closes: () => closed }
}

test('a new generation reports ready only once the previous one answered hello, so that both never issue tickets the other cannot read', async (t) => {
  const { g, p, link } = await nextGeneration(t)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(p.readyReports, [], 'not ready before the welcome')
  link.deliver(encode({ type: 'welcome', ticketKeys: [] }))
  await waitFor(() => g.state === 'ready', { timeoutMs: 5000, what: 'ready' })
  assert.deepEqual(p.readyReports, [[9, 100]])
})

test('a previous generation that never answers delays readiness by the welcome timeout (fake clock), no more', async (t) => {
  const { g, p } = await nextGeneration(t)
  await waitFor(() => [...p.timers.values()].some(({ ms }) => ms === WELCOME_TIMEOUT_MS), { timeoutMs: 5000, what: 'the welcome timer' })
  assert.deepEqual(p.readyReports, [])
  p.fireTimers()
  await waitFor(() => g.state === 'ready', { timeoutMs: 5000, what: 'ready' })
  assert.deepEqual(p.readyReports, [[9, 100]])
})

test('a new generation claims an offer for its listener, declines one for a listener it does not serve, drops the copy on abort or when the channel closes, and declines all once draining', async (t) => {
  const { g, link } = await nextGeneration(t)
  link.deliver(encode({ type: 'welcome', ticketKeys: [] }))
  await waitFor(() => g.state === 'ready', { timeoutMs: 5000, what: 'ready' })
  const closed: number[] = []
  const handle = (id: number): object => ({ close: () => { closed.push(id) } })
  link.deliver(encode({ type: 'offer', id: 1, key: 'tcp:127.0.0.1:0' }), handle(1))
  link.deliver(encode({ type: 'offer', id: 2, key: 'tcp:127.0.0.1:9' }), handle(2))
  link.deliver(encode({ type: 'offer', id: 3, key: 'tcp:127.0.0.1:0' }))
  link.deliver(encode({ type: 'offer', id: 4, key: 'tcp:127.0.0.1:0' }), handle(4))
  await waitFor(() => messages(link).length === 5, { timeoutMs: 5000, what: 'the answers' })
  assert.deepEqual(messages(link).slice(1).map((m) => `${m.type} ${'id' in m ? m.id : ''}`), ['claim 1', 'decline 2', 'decline 3', 'claim 4'])
  assert.deepEqual(closed, [2], 'a declined copy is closed at once')
  link.deliver(encode({ type: 'abort', id: 1 }))
  assert.deepEqual(closed, [2, 1])
  link.close()
  assert.deepEqual(closed, [2, 1, 4], 'what was never committed is dropped when the previous generation is gone')
  assert.equal(g.state, 'ready')

  const other = await nextGeneration(t)
  other.link.deliver(encode({ type: 'welcome', ticketKeys: [] }))
  await waitFor(() => other.g.state === 'ready', { timeoutMs: 5000, what: 'ready' })
  void other.g.shutdown('SIGTERM').catch(() => {})
  other.link.deliver(encode({ type: 'offer', id: 7, key: 'tcp:127.0.0.1:0' }), handle(7))
  await waitFor(() => messages(other.link).length === 2, { timeoutMs: 5000, what: 'the answer' })
  assert.equal(messages(other.link)[1]?.type, 'decline')
  assert.deepEqual(closed, [2, 1, 4, 7])
})

test('a generation that stops serving while an offer it claimed waits for its commit drains only once the claim settled: the commit is taken first; with no answer, the claim is dropped at the settle timeout (fake clock)', async (t) => {
  const starts: unknown[] = []
  const onStart = (message: unknown): void => { starts.push(message) }
  diagnosticsChannel.subscribe(CHANNELS.drainStart, onStart)
  t.after(() => diagnosticsChannel.unsubscribe(CHANNELS.drainStart, onStart))
  for (const answer of ['commit', 'none'] as const) {
    const { g, p, link, closes } = await claimedOffer(t)
    const before = starts.length
    void g.shutdown('SIGTERM').catch(() => {})
    await waitFor(() => [...p.timers.values()].some(({ ms }) => ms === CLAIMS_SETTLE_TIMEOUT_MS), { timeoutMs: 5000, what: 'the settle timer' })
    assert.equal(starts.length, before, `${answer}: the drain waits for the claim`)
    // The fake handle cannot be adopted: the commit is taken, and the copy closed here.
    if (answer === 'commit') link.deliver(encode({ type: 'commit', id: 1 }))
    else p.fireTimers()
    await waitFor(() => starts.length === before + 1, { timeoutMs: 5000, what: `${answer}: then the drain` })
    assert.equal(closes(), 1, `${answer}: the claimed copy is settled once`)
  }
})

test('a committed connection Node cannot adopt is closed here, and the generation keeps serving', async (t) => {
  const { g, link, server, closes } = await claimedOffer(t)
  link.deliver(encode({ type: 'commit', id: 1 }))
  assert.equal(closes(), 1)
  assert.equal(g.state, 'ready')
  assert.equal(server.listening, true)
})
