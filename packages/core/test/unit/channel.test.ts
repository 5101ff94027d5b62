// The supervisor <-> worker channel: message formats (versioned, hostile input refused) and
// the worker's end, driven through a fake of `process`'s IPC methods.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { GracefulError } from '../../src/errors.ts'
import {
  CHANNEL_CMD, CHANNEL_VERSION, decodeSupervisorMessage, decodeWorkerMessage, encode, type SocketSpec
} from '../../src/handover/channel.ts'
import { openSupervisorChannel, type IpcEnd } from '../../src/handover/worker-channel.ts'
import { specKey } from '../../src/supervisor/sockets.ts'

const tcp0: SocketSpec = { kind: 'tcp', host: '127.0.0.1', port: 0, ipv6Only: false }

test('worker and supervisor messages round-trip inside a versioned envelope Node keeps from the app', () => {
  const ask = encode({ type: 'listen', id: 7, index: 1, socket: tcp0 })
  assert.equal(ask.cmd, CHANNEL_CMD)
  assert.match(CHANNEL_CMD, /^NODE_/, "Node emits NODE_* messages as 'internalMessage', never as 'message'")
  assert.equal(ask.v, CHANNEL_VERSION)
  assert.deepEqual(decodeWorkerMessage(JSON.parse(JSON.stringify(ask))), { type: 'listen', id: 7, index: 1, socket: tcp0 })
  const unix: SocketSpec = { kind: 'unix', path: '/run/app.sock', readableAll: true, writableAll: false }
  assert.deepEqual(decodeWorkerMessage(encode({ type: 'listen', id: 1, index: 0, socket: unix })), { type: 'listen', id: 1, index: 0, socket: unix })
  assert.deepEqual(decodeWorkerMessage(encode({ type: 'reload', trigger: 'SIGUSR2' })), { type: 'reload', trigger: 'SIGUSR2' })
  assert.deepEqual(decodeSupervisorMessage(encode({ type: 'socket', id: 7, key: 'tcp:127.0.0.1:0' })), { type: 'socket', id: 7, key: 'tcp:127.0.0.1:0' })
  const refused = { type: 'refused', id: 7, key: 'tcp:127.0.0.1:80', code: 'ERR_GRACEFUL_BIND', errno: 'EACCES', message: 'the supervisor cannot bind 127.0.0.1:80: EACCES' } as const
  assert.deepEqual(decodeSupervisorMessage(encode(refused)), refused)
  assert.equal(specKey(tcp0), 'tcp:127.0.0.1:0')
  assert.equal(specKey({ kind: 'tcp', host: undefined, port: 8080, ipv6Only: false }), 'tcp:*:8080')
  assert.equal(specKey(unix), 'unix:/run/app.sock')
})

test('malformed, foreign or hostile messages are ignored; a newer version is answered, not guessed at', () => {
  for (const raw of [null, 'ready', 42, [], { cmd: 'NODE_CLUSTER', v: 1, type: 'listen' }, { type: 'reload' },
    { cmd: CHANNEL_CMD, type: 'reload' }, { cmd: CHANNEL_CMD, v: 0, type: 'reload' }, { cmd: CHANNEL_CMD, v: 1.5, type: 'reload' },
    { cmd: CHANNEL_CMD, v: 1, type: 'frobnicate' },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: -1, index: 0, socket: tcp0 },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: 1, index: 5000, socket: tcp0 },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: 1, index: 0, socket: { kind: 'tcp', port: 70000 } },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: 1, index: 0, socket: { kind: 'tcp', host: 'x'.repeat(300), port: 80 } },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: 1, index: 0, socket: { kind: 'unix', path: '' } },
    { cmd: CHANNEL_CMD, v: 1, type: 'listen', id: 1, index: 0, socket: { kind: 'udp', port: 53 } }]) {
    assert.equal(decodeWorkerMessage(raw), undefined, JSON.stringify(raw))
  }
  assert.deepEqual(decodeWorkerMessage({ cmd: CHANNEL_CMD, v: CHANNEL_VERSION + 1, type: 'listen2', id: 3 }), { type: 'unsupported', id: 3, v: CHANNEL_VERSION + 1 })
  for (const raw of [undefined, { cmd: CHANNEL_CMD, v: 1, type: 'socket', id: 1 }, { cmd: CHANNEL_CMD, v: 1, type: 'socket', key: 'k' },
    { cmd: CHANNEL_CMD, v: 1, type: 'granted', id: 1, key: 'k' }]) {
    assert.equal(decodeSupervisorMessage(raw), undefined, JSON.stringify(raw))
  }
  // A code that is not ours, or an errno that is not one, is not passed on as if it were.
  assert.deepEqual(decodeSupervisorMessage({ cmd: CHANNEL_CMD, v: 1, type: 'refused', id: 1, key: 'k', code: 'rm -rf', errno: 'x y', message: 7 }),
    { type: 'refused', id: 1, key: 'k', code: 'ERR_GRACEFUL_BIND', errno: undefined, message: 'refused' })
})

class FakeIpc extends EventEmitter {
  connected = true
  sent: unknown[] = []
  fail: Error | undefined
  send = (message: unknown, _handle: unknown, _options: unknown, callback: (err: Error | null) => void): boolean => {
    this.sent.push(message)
    const fail = this.fail
    process.nextTick(() => callback(fail ?? null))
    return true
  }

  answer (message: Record<string, unknown>, handle?: object): void {
    this.emit('internalMessage', { cmd: CHANNEL_CMD, v: 1, ...message }, handle)
  }
}

test('the worker speaks the lower of the two versions, and has no channel unless one was offered and Node opened it', () => {
  const ipc = new FakeIpc()
  assert.equal(openSupervisorChannel(undefined, ipc as unknown as IpcEnd), undefined)
  assert.equal(openSupervisorChannel(0, ipc as unknown as IpcEnd), undefined)
  assert.equal(openSupervisorChannel(1, { on: () => {}, off: () => {} }), undefined, 'no process.send: no channel')
  const channel = openSupervisorChannel(CHANNEL_VERSION + 3, ipc as unknown as IpcEnd)
  assert.equal(channel?.askReload('SIGUSR2'), true)
  assert.deepEqual(ipc.sent, [{ cmd: CHANNEL_CMD, v: CHANNEL_VERSION, type: 'reload', trigger: 'SIGUSR2' }])
  ipc.connected = false
  assert.equal(channel?.askReload('SIGUSR2'), false, 'a closed channel says so (the caller falls back to a signal)')
})

test('askSocket resolves with the socket the supervisor sent and rejects with its coded error; the process is kept up only while it waits', async () => {
  const ipc = new FakeIpc()
  const channel = openSupervisorChannel(1, ipc as unknown as IpcEnd)
  assert.ok(channel !== undefined)
  const first = channel.askSocket(tcp0, 0)
  const second = channel.askSocket({ kind: 'tcp', host: undefined, port: 80, ipv6Only: false }, 0)
  assert.equal(ipc.listenerCount('disconnect'), 1, 'waiting: the channel is watched (and so kept referenced)')
  assert.deepEqual(ipc.sent.map((m) => (m as { id: number }).id), [1, 2])
  const handle = { fd: 9 }
  ipc.answer({ type: 'socket', id: 1, key: 'tcp:127.0.0.1:0' }, handle)
  ipc.answer({ type: 'refused', id: 2, key: 'tcp:*:80', code: 'ERR_GRACEFUL_BIND', errno: 'EACCES', message: 'the supervisor cannot bind [::]:80: EACCES' })
  assert.deepEqual(await first, { handle, key: 'tcp:127.0.0.1:0' })
  await assert.rejects(second, (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_BIND' &&
    (err as unknown as { errno: string }).errno === 'EACCES' && /EACCES/.test(err.message))
  assert.equal(ipc.listenerCount('disconnect'), 0, 'nothing left waiting')
  // An answer nobody waits for (a duplicate, a stale id) changes nothing.
  ipc.answer({ type: 'socket', id: 1, key: 'tcp:127.0.0.1:0' }, handle)
})

test('askSocket never hangs: a supervisor that goes away, an answer without a socket, a failed send', async () => {
  const ipc = new FakeIpc()
  const channel = openSupervisorChannel(1, ipc as unknown as IpcEnd)
  assert.ok(channel !== undefined)
  const gone = channel.askSocket(tcp0, 0)
  ipc.emit('disconnect')
  await assert.rejects(gone, { code: 'ERR_GRACEFUL_CHANNEL' })
  const empty = channel.askSocket(tcp0, 0)
  ipc.answer({ type: 'socket', id: 2, key: 'tcp:127.0.0.1:0' })
  await assert.rejects(empty, { code: 'ERR_GRACEFUL_CHANNEL' })
  ipc.fail = new Error('ERR_IPC_CHANNEL_CLOSED')
  await assert.rejects(channel.askSocket(tcp0, 0), { code: 'ERR_GRACEFUL_CHANNEL' })
  ipc.fail = undefined
  ipc.connected = false
  await assert.rejects(channel.askSocket(tcp0, 0), { code: 'ERR_GRACEFUL_CHANNEL' })
  assert.equal(ipc.listenerCount('disconnect'), 0)
})
