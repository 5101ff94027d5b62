// The supervisor's socket table: what it binds when workers ask, in this process, on
// loopback (no worker is started; the channel is covered in channel.test.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { SocketTable } from '../../src/supervisor/sockets.ts'
import { formatStatus, type SupervisorStatus } from '../../src/supervisor/status.ts'

const tcp = (port: number, host: string | undefined = '127.0.0.1') => ({ kind: 'tcp' as const, host, port, ipv6Only: false })

test('two workers asking for one address at once get one socket; a second server on port 0 gets a second one', async (t) => {
  const table = new SocketTable()
  t.after(() => table.closeAll())
  const [a, b] = await Promise.all([table.obtain(tcp(0), 0, 'worker 0'), table.obtain(tcp(0), 0, 'worker 1')])
  assert.equal(a.socket, b.socket)
  assert.deepEqual([a.bound, b.bound], [true, false])
  assert.equal(a.socket.key, 'tcp:127.0.0.1:0', 'the key records port 0, as every worker asks for it')
  assert.match(a.socket.address ?? '', /^127\.0\.0\.1:[1-9]\d*$/, 'the port the kernel gave')
  assert.equal(a.socket.askedBy, 'worker 0')
  const second = await table.obtain(tcp(0), 1, 'worker 0')
  assert.notEqual(second.socket.address, a.socket.address)
  assert.deepEqual(table.all.map((s) => s.key), ['tcp:127.0.0.1:0', 'tcp:127.0.0.1:0'], 'passed to later workers in index order')
  await assert.rejects(table.obtain(tcp(0), 5, 'worker 0'), { code: 'ERR_GRACEFUL_CHANNEL' })
  assert.equal((await table.obtain(tcp(0), 1, 'worker 1')).socket, second.socket)
})

test('a bind that fails is a coded error, and the table stays usable', async (t) => {
  const table = new SocketTable()
  t.after(() => table.closeAll())
  const holder = net.createServer().listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.after(() => holder.close())
  const port = (holder.address() as net.AddressInfo).port
  // libuv reports a TCP bind's EADDRINUSE only at listen(): without the check, a worker
  // would serve this "bound" socket on a random port.
  await assert.rejects(table.obtain(tcp(port), 0, 'worker 0'), (err: Error & { code?: string, errno?: string }) =>
    err.code === 'ERR_GRACEFUL_ADDRESS_IN_USE' && err.errno === 'EADDRINUSE' && err.message.includes(`127.0.0.1:${port}`))
  await assert.rejects(table.obtain(tcp(port, undefined), 0, 'worker 0'), { code: 'ERR_GRACEFUL_ADDRESS_IN_USE' })
  // TEST-NET-1 is never a local address.
  await assert.rejects(table.obtain(tcp(0, '192.0.2.1'), 0, 'worker 0'), (err: Error & { code?: string, errno?: string }) =>
    err.code === 'ERR_GRACEFUL_BIND' && err.errno === 'EADDRNOTAVAIL')
  await assert.rejects(table.obtain(tcp(80, 'no-such-host.invalid'), 0, 'worker 0'), { code: 'ERR_GRACEFUL_BIND' })
  assert.equal(table.all.length, 0)
  assert.equal((await table.obtain(tcp(0, 'localhost'), 0, 'worker 0')).socket.address?.startsWith('127.0.0.1:'), true)
})

test('a unix socket a worker asks for gets --socket-mode and --socket-group before anyone can connect; the supervisor owns the path', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-table-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const gid = os.userInfo().gid
  const table = new SocketTable({ mode: 0o660, gid })
  const socketPath = path.join(dir, 'app.sock')
  const { socket } = await table.obtain({ kind: 'unix', path: socketPath, readableAll: false, writableAll: false }, 0, 'worker 0')
  assert.equal(socket.key, `unix:${socketPath}`)
  const stat = fs.statSync(socketPath)
  assert.equal(stat.isSocket(), true)
  assert.equal(stat.mode & 0o777, 0o660)
  assert.equal(stat.gid, gid)
  // Without --socket-mode, the app's readableAll/writableAll apply, as Node applies them.
  const plain = new SocketTable()
  const other = path.join(dir, 'public.sock')
  await plain.obtain({ kind: 'unix', path: other, readableAll: true, writableAll: true }, 0, 'worker 0')
  assert.equal(fs.statSync(other).mode & 0o777, 0o666)
  // A path another process serves is never taken over; a stale one is replaced.
  const busy = path.join(dir, 'busy.sock')
  const server = net.createServer().listen(busy)
  await once(server, 'listening')
  t.after(() => server.close())
  await assert.rejects(plain.obtain({ kind: 'unix', path: busy, readableAll: false, writableAll: false }, 0, 'worker 0'), { code: 'ERR_GRACEFUL_ADDRESS_IN_USE' })
  const stale = path.join(dir, 'stale.sock')
  fs.writeFileSync(stale, '')
  await plain.obtain({ kind: 'unix', path: stale, readableAll: false, writableAll: false }, 0, 'worker 0')
  assert.equal(fs.statSync(stale).isSocket(), true)
  table.closeAll()
  plain.closeAll()
  assert.equal(fs.existsSync(socketPath), false, 'closing removes the path the supervisor bound')
  assert.equal(fs.existsSync(other), false)
  assert.equal(fs.existsSync(stale), false)
})

test('status lists each socket with where it came from', () => {
  const status: SupervisorStatus = {
    kind: 'supervisor', pid: 10, identity: { start: '1', exe: '/usr/bin/node' }, reloadSignal: 'SIGUSR2',
    state: 'running', startedAt: 0, generation: 1, command: ['node', 'app.js'],
    listeners: ['tcp:127.0.0.1:80', 'unix:/run/app.sock', 'tcp:127.0.0.1:0'],
    sockets: [
      { key: 'tcp:127.0.0.1:80', source: 'listen', address: '127.0.0.1:80', askedBy: undefined },
      { key: 'unix:/run/app.sock', source: 'systemd', address: undefined, askedBy: undefined },
      { key: 'tcp:127.0.0.1:0', source: 'worker', address: '127.0.0.1:41234', askedBy: 'worker 0 of generation 1 (pid 11)' }
    ],
    workers: [], lastHandover: undefined, handovers: { ok: 0, failed: 0 }, crashLoop: undefined
  }
  const lines = formatStatus(status, true, 0).split('\n').filter((l) => l.startsWith('listener'))
  assert.deepEqual(lines, [
    'listener    tcp:127.0.0.1:80  from --listen',
    'listener    unix:/run/app.sock  from systemd',
    'listener    tcp:127.0.0.1:0 on 127.0.0.1:41234  asked for by worker 0 of generation 1 (pid 11)'
  ])
  const old = formatStatus({ ...status, sockets: undefined, listeners: ['tcp:*:8080'] }, true, 0)
  assert.match(old, /^listener {4}tcp:\*:8080$/m, 'a status file written by an older supervisor still reads')
  assert.match(formatStatus({ ...status, sockets: [], listeners: [] }, true, 0), /^listeners {3}\(none yet: bound when a worker listens\)$/m)
})
