import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readInheritance, socketMatchesKey } from '../../src/listeners/inherit.ts'
import { ListenerRegistry } from '../../src/listeners/registry.ts'
import type { SocketInfo } from '../../src/listeners/fd.ts'
import { GracefulError } from '../../src/errors.ts'

const tcp = (host: string, port: number, listening = true): SocketInfo => ({ kind: 'tcp', host, port, listening })

function ours (fds: unknown, ppid = 10): NodeJS.ProcessEnv {
  return {
    GRACEFUL_RESTART_FDS: typeof fds === 'string' ? fds : JSON.stringify(fds),
    GRACEFUL_RESTART_READY_FD: '5',
    GRACEFUL_RESTART_PARENT: String(ppid),
    GRACEFUL_RESTART_GENERATION: '4',
    GRACEFUL_RESTART_PROTOCOL: '1',
    OTHER: 'kept'
  }
}

test('reads sockets from the parent and removes every variable from the environment', () => {
  const env = ours([{ fd: 3, key: 'tcp:127.0.0.1:0' }, { fd: 4, key: 'unix:/run/a.sock' }])
  const info: Record<number, SocketInfo> = { 3: tcp('127.0.0.1', 40123), 4: { kind: 'unix', path: '/run/a.sock.gr-77', listening: true } }
  const got = readInheritance({ env, pid: 20, ppid: 10, describe: (fd) => info[fd] as SocketInfo, readinessChannel: () => true })
  assert.equal(got.generation, 4)
  assert.equal(got.readyFd, 5)
  assert.equal(got.parentPid, 10)
  assert.deepEqual(got.sockets.map((s) => [s.fd, s.key, s.source]), [[3, 'tcp:127.0.0.1:0', 'parent'], [4, 'unix:/run/a.sock', 'parent']])
  assert.deepEqual(env, { OTHER: 'kept' })
})

test('an IPv6 key from an earlier release (no brackets) is read and named as this release names it, so listen(0) on ::1 claims it', () => {
  const env = ours([{ fd: 3, key: 'tcp:::1:0' }, { fd: 4, key: 'tcp:[::1]:8080' }])
  const info: Record<number, SocketInfo> = { 3: tcp('::1', 40123), 4: tcp('::1', 8080) }
  const got = readInheritance({ env, pid: 20, ppid: 10, describe: (fd) => info[fd] as SocketInfo, readinessChannel: () => true })
  assert.deepEqual(got.sockets.map((s) => [s.fd, s.key]), [[3, 'tcp:[::1]:0'], [4, 'tcp:[::1]:8080']])
  const registry = new ListenerRegistry(got.sockets)
  assert.equal(registry.claim({ kind: 'tcp', host: '::1', port: 0, backlog: undefined })?.fd, 3)
})

test('ignores variables meant for another process (parent pid differs) without adopting anything', () => {
  const env = ours([{ fd: 3, key: 'tcp:127.0.0.1:80' }], 999)
  const got = readInheritance({ env, pid: 20, ppid: 10, describe: () => assert.fail('must not look at the fd') })
  assert.equal(got.sockets.length, 0)
  assert.equal(got.readyFd, undefined)
  assert.equal(got.ignored[0]?.code, 'ERR_GRACEFUL_INHERIT_ENV')
  assert.deepEqual(env, { OTHER: 'kept' })
})

test('throws coded errors for garbage from the real parent', () => {
  for (const fds of ['{', '[{"fd":1,"key":"tcp:a:1"}]', '"x"']) {
    assert.throws(() => readInheritance({ env: ours(fds), pid: 20, ppid: 10, describe: () => tcp('127.0.0.1', 1) }),
      (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_INHERIT_ENV', fds)
  }
})

test('refuses a protocol this release does not speak, before looking at any fd', () => {
  for (const version of ['2', '0', 'v1', '']) {
    const env = { ...ours([{ fd: 3, key: 'tcp:127.0.0.1:80' }]), GRACEFUL_RESTART_PROTOCOL: version }
    assert.throws(() => readInheritance({ env, pid: 20, ppid: 10, describe: () => assert.fail('must not look at the fd'), readinessChannel: () => true }),
      (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_PROTOCOL' && err.message.includes('understands 1 to 1'), version)
    assert.deepEqual(env, { OTHER: 'kept' }, 'variables removed even when refused')
  }
  // The parent always sets it; a missing one is read as the first protocol.
  const env = ours([{ fd: 3, key: 'tcp:127.0.0.1:80' }])
  delete env.GRACEFUL_RESTART_PROTOCOL
  const got = readInheritance({ env, pid: 20, ppid: 10, describe: () => tcp('127.0.0.1', 80), readinessChannel: () => true })
  assert.equal(got.sockets.length, 1)
})

test('refuses an fd that is not a listening socket for the address it is named after', () => {
  const cases: SocketInfo[] = [tcp('127.0.0.1', 81), tcp('10.0.0.1', 80), tcp('127.0.0.1', 80, false), { kind: 'unix', path: '/x', listening: true }]
  for (const info of cases) {
    assert.throws(() => readInheritance({ env: ours([{ fd: 3, key: 'tcp:127.0.0.1:80' }]), pid: 20, ppid: 10, describe: () => info }),
      (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_INHERITED_FD', JSON.stringify(info))
  }
  assert.ok(socketMatchesKey(tcp('::', 80), 'tcp:*:80'))
  assert.ok(!socketMatchesKey({ kind: 'unix', path: '/run/b.sock', listening: true }, 'unix:/run/a.sock'))
})

test('reads systemd sockets only when LISTEN_PID names this process', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: '20', LISTEN_FDNAMES: 'web:admin' }
  const info: Record<number, SocketInfo> = { 3: tcp('0.0.0.0', 8080), 4: tcp('127.0.0.1', 9000) }
  const got = readInheritance({ env, pid: 20, ppid: 1, describe: (fd) => info[fd] as SocketInfo })
  assert.deepEqual(got.sockets.map((s) => [s.fd, s.source, s.name]), [[3, 'systemd', 'web'], [4, 'systemd', 'admin']])
  assert.deepEqual(env, {})

  const spoofed: NodeJS.ProcessEnv = { LISTEN_FDS: '1', LISTEN_PID: '21' }
  const none = readInheritance({ env: spoofed, pid: 20, ppid: 1, describe: () => assert.fail('must not look at the fd') })
  assert.equal(none.sockets.length, 0)
  assert.equal(none.ignored.length, 1)
  assert.deepEqual(spoofed, {})
})

test('claims each inherited socket once, by key, in order; systemd sockets by address', () => {
  const registry = new ListenerRegistry([
    { fd: 3, key: 'tcp:127.0.0.1:0', source: 'parent', name: undefined, info: tcp('127.0.0.1', 4001) },
    { fd: 4, key: 'tcp:127.0.0.1:0', source: 'parent', name: undefined, info: tcp('127.0.0.1', 4002) },
    { fd: 5, key: undefined, source: 'systemd', name: undefined, info: tcp('0.0.0.0', 8080) },
    { fd: 6, key: 'tcp:*:9000', source: 'parent', name: undefined, info: tcp('::', 9000) }
  ])
  const req = (host: string | undefined, port: number) => ({ kind: 'tcp' as const, host, port, backlog: undefined })
  assert.equal(registry.claim(req('127.0.0.1', 0))?.fd, 3)
  assert.equal(registry.claim(req('127.0.0.1', 0))?.fd, 4)
  assert.equal(registry.claim(req('127.0.0.1', 0)), undefined)
  assert.equal(registry.claim(req(undefined, 8080))?.fd, 5)
  const closed: number[] = []
  assert.deepEqual(registry.closeUnclaimed((fd) => closed.push(fd)).map((s) => s.fd), [6])
  assert.deepEqual(closed, [6])
})

test('reads the generations still draining and the names set from env files; garbage in them is refused', () => {
  const env = {
    ...ours([]),
    GRACEFUL_RESTART_DRAINING: '[{"pid":40,"start":"123"}]',
    GRACEFUL_RESTART_ENV_FILES: '["APP_VERSION"]'
  }
  const got = readInheritance({ env, pid: 20, ppid: 10, readinessChannel: () => true })
  assert.deepEqual(got.draining, [{ pid: 40, start: '123' }])
  assert.deepEqual(got.envFromFiles, ['APP_VERSION'])
  assert.deepEqual(env, { OTHER: 'kept' })
  for (const extra of [{ GRACEFUL_RESTART_DRAINING: '[{"pid":1}]' }, { GRACEFUL_RESTART_ENV_FILES: '{}' }]) {
    assert.throws(() => readInheritance({ env: { ...ours([]), ...extra }, pid: 20, ppid: 10, readinessChannel: () => true }),
      (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_INHERIT_ENV', JSON.stringify(extra))
  }
})
