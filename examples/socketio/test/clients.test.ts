// Socket.IO clients across handovers: every message sent with an acknowledgement is
// acknowledged, and each client moves to the new generation by itself (the example closes
// Socket.IO's connections when its drain starts). A message in flight when its connection
// closes gets no acknowledgement from the old generation, as with any server restart:
// Socket.IO's own delivery guarantee (`retries` on the client) sends it again once
// reconnected. Clients without it show how often that happens; they are reported, not
// asserted, and so are the reconnection times (the machine is shared).
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { io } from 'socket.io-client'
import type { Socket } from 'socket.io-client'
import { startRecipe } from '@graceful-restart/adapter-contract'
import { rounds, waitFor } from '@graceful-restart/test-utils'

const root = new URL('../../', import.meta.url)
const server = fileURLToPath(new URL('server.js', root))

interface Ack { pid: number, version: string, data: number }

/** One client that sends numbered messages, one at a time, each with an acknowledgement. */
class Chatter {
  readonly socket: Socket
  readonly transport: string
  readonly retries: boolean
  sent = 0
  connectErrors = 0
  acked = 0
  readonly lost: Array<{ seq: number, error: string }> = []
  /** When the first acknowledgement came from each pid (Date.now()). */
  readonly firstAckFrom = new Map<number, number>()
  #running = true
  readonly #loop: Promise<void>

  constructor (url: string, transports: Array<'polling' | 'websocket'> | undefined, retries: boolean) {
    this.transport = transports === undefined ? 'polling, then websocket' : transports.join('+')
    this.retries = retries
    this.socket = io(url, {
      ...(transports === undefined ? {} : { transports }),
      // At-least-once delivery: a message without an acknowledgement is sent again.
      ...(retries ? { retries: 5, ackTimeout: 10_000 } : {})
    })
    this.socket.on('connect_error', () => { this.connectErrors++ })
    this.#loop = this.#run()
  }

  async #run (): Promise<void> {
    while (this.#running) {
      const seq = ++this.sent
      try {
        // Sent at once when connected; buffered by the client while it reconnects.
        const ack = await (this.retries ? this.socket : this.socket.timeout(15_000)).emitWithAck('echo', seq) as Ack
        assert.equal(ack.data, seq)
        this.acked++
        if (!this.firstAckFrom.has(ack.pid)) this.firstAckFrom.set(ack.pid, Date.now())
      } catch (err) {
        this.lost.push({ seq, error: String(err) })
      }
      await delay(10)
    }
  }

  async stop (): Promise<void> {
    this.#running = false
    await this.#loop
    this.socket.close()
  }
}

test(`${rounds(10)} handovers with connected Socket.IO clients sending acknowledged messages: none lost, each client back on the new generation`, { timeout: 240_000 }, async (t) => {
  const app = await startRecipe(t, server)
  const url = `http://127.0.0.1:${app.port}`
  const kinds: Array<Array<'polling' | 'websocket'> | undefined> = [undefined, undefined, ['websocket'], ['websocket'], ['polling'], ['polling']]
  const clients = kinds.map((transports) => new Chatter(url, transports, true))
  const plain = [new Chatter(url, undefined, false), new Chatter(url, ['polling'], false)]
  t.after(() => { for (const c of [...clients, ...plain]) c.socket.close() })
  await waitFor(() => [...clients, ...plain].every((c) => c.firstAckFrom.has(app.pid)), { timeoutMs: 15_000, what: 'every client to be answered' })

  const times: number[] = []
  for (let i = 0; i < rounds(10); i++) {
    const mark = app.mark
    const { from, to } = await app.handover()
    const drain = await app.waitEvent((e) => e.event === 'drain:start' && e.pid === from, `drain of ${from}`, { from: mark })
    await waitFor(() => [...clients, ...plain].every((c) => c.firstAckFrom.has(to)), { timeoutMs: 20_000, what: `every client to be answered by ${to}` })
    assert.equal((await app.exitOf(from)).code, 0, 'the old generation exits 0 once its clients left')
    for (const c of [...clients, ...plain]) times.push((c.firstAckFrom.get(to) as number) - drain.at)
  }
  await Promise.all([...clients, ...plain].map((c) => c.stop()))

  const sorted = [...times].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
  const count = (list: Chatter[], f: (c: Chatter) => number): number => list.reduce((n, c) => n + f(c), 0)
  t.diagnostic(`${clients.length} clients with retries (${clients.map((c) => c.transport).join('; ')}), ${rounds(10)} handovers`)
  t.diagnostic(`messages: ${count(clients, (c) => c.sent)} sent, ${count(clients, (c) => c.acked)} acknowledged, ${count(clients, (c) => c.lost.length)} lost; ${count(clients, (c) => c.connectErrors)} connect errors`)
  t.diagnostic(`${plain.length} clients without retries (${plain.map((c) => c.transport).join('; ')}): ${count(plain, (c) => c.sent)} sent, ` +
    `${count(plain, (c) => c.lost.length)} failed with "${plain.flatMap((c) => c.lost)[0]?.error ?? 'none'}" (in flight when the old generation closed the connection); ${count(plain, (c) => c.connectErrors)} connect errors`)
  t.diagnostic(`from the old generation's drain start to a client's first answer from the new one: median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${sorted.at(-1)} ms`)
  for (const c of clients) assert.deepEqual(c.lost, [], `messages lost by a ${c.transport} client`)
  // The last message of each client may still have been in flight when it stopped.
  for (const c of clients) assert.ok(c.acked >= c.sent - 1)
})
