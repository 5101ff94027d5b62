import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNELS } from '../../src/diagnostics.ts'
import { Graceful } from '../../src/lifecycle.ts'
import { GracefulError, HandoverError } from '../../src/errors.ts'
import type { SocketSpec } from '../../src/handover/channel.ts'
import { FakePlatform } from './fake-platform.ts'

async function readyGraceful (options: ConstructorParameters<typeof Graceful>[0] = {}): Promise<{ g: Graceful, p: FakePlatform, server: http.Server }> {
  const p = new FakePlatform()
  const g = new Graceful({ logger: false, ...options }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  return { g, p, server }
}

test('becomes ready once its servers listen, writes the PID file and installs only the routed signals', async (t) => {
  const { g, p, server } = await readyGraceful({ pidFile: '/run/app.pid' })
  t.after(() => server.close())
  assert.equal(g.state, 'ready')
  assert.deepEqual(p.pidFiles, [['/run/app.pid', 100]])
  assert.deepEqual([...p.handlers.keys()].sort(), ['SIGINT', 'SIGTERM', 'SIGUSR2'])
  assert.deepEqual(p.readyReports, [], 'the first generation has nobody to report to')
})

test('passes its listeners to exactly one child however many signals arrive', async (t) => {
  const { g, p, server } = await readyGraceful()
  t.after(() => server.close())
  for (let i = 0; i < 10; i++) p.signal('SIGUSR2')
  assert.equal(p.children.length, 1)
  assert.equal(g.state, 'handing-over')
  const [child] = p.children
  assert.deepEqual(child?.spec.listeners, [{ fd: 7, key: 'tcp:127.0.0.1:0' }])
  assert.equal(child?.spec.generation, 2)
  assert.equal(child?.spec.parentPid, 100)
})

test('rolls back when the child exits before ready, then accepts the next handover', async (t) => {
  const { g, p, server } = await readyGraceful()
  t.after(() => server.close())
  const first = g.handover()
  p.children[0]?.exit(1)
  await assert.rejects(first, (err: unknown) => err instanceof HandoverError && err.code === 'ERR_GRACEFUL_CHILD_EXITED' && err.exitCode === 1)
  assert.equal(g.state, 'ready')
  assert.equal(g.lastHandover?.ok, false)
  assert.equal(server.listening, true, 'the old generation keeps serving')

  const second = g.handover()
  assert.equal(p.children.length, 2)
  p.children[1]?.events.onReady()
  assert.deepEqual(await second, { pid: 201, durationMs: 0 })
  assert.equal(p.children[1]?.released, true)
})

test('kills a child that is not ready within upgradeTimeout and keeps serving', async (t) => {
  const { g, p, server } = await readyGraceful({ upgradeTimeout: 5000 })
  t.after(() => server.close())
  const handover = g.handover('SIGUSR2')
  assert.equal([...p.timers.values()][0]?.ms, 5000)
  p.fireTimers()
  await assert.rejects(handover, (err: unknown) => err instanceof HandoverError && err.reason === 'timeout' && err.code === 'ERR_GRACEFUL_UPGRADE_TIMEOUT')
  assert.deepEqual(p.children[0]?.killed, ['SIGTERM'], 'a hung child gets to drain what it accepted')
  assert.equal(g.state, 'ready')
})

test('drains and exits 0 once the child is ready', async () => {
  const { g, p, server } = await readyGraceful()
  const handover = g.handover()
  p.children[0]?.events.onReady()
  await handover
  await once(server, 'close')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(server.listening, false)
  assert.deepEqual(p.exits, [0])
  assert.equal(g.state, 'exited')
  assert.equal(p.handlers.size, 0, 'signal handlers are removed on exit')
})

test('a shutdown during a handover kills the child first, then drains', async () => {
  const { g, p } = await readyGraceful({ pidFile: '/run/app.pid' })
  const handover = g.handover()
  p.signal('SIGTERM')
  await assert.rejects(handover, (err: unknown) => err instanceof HandoverError && err.reason === 'aborted')
  assert.deepEqual(p.children[0]?.killed, ['SIGTERM'])
  await waitUntil(() => p.exits.length > 0)
  assert.deepEqual(p.exits, [0])
  assert.deepEqual(p.removedPidFiles, ['/run/app.pid'])
})

test('a second SIGTERM during the drain exits at once with 128+15', async () => {
  const { p, server } = await readyGraceful({ drainTimeout: 60_000 })
  const address = server.address() as { port: number }
  // Hold a request in flight so the drain cannot finish.
  const req = http.get({ port: address.port, host: '127.0.0.1', path: '/hang' })
  req.on('error', () => {})
  server.removeAllListeners('request')
  server.on('request', () => {})
  // In flight once the server has parsed it (a connection alone is still idle).
  await once(server, 'request')
  p.signal('SIGTERM')
  p.signal('SIGTERM')
  assert.deepEqual(p.exits, [143])
  req.destroy()
})

test('handover before ready is refused with ERR_GRACEFUL_NOT_READY', async () => {
  const p = new FakePlatform()
  const g = new Graceful({ logger: false, autoReady: false }, p)
  await assert.rejects(g.handover(), { code: 'ERR_GRACEFUL_NOT_READY' })
  assert.equal(p.children.length, 0)
  g.close()
  assert.equal(p.handlers.size, 0)
})

test('a child of a previous generation reports ready on its pipe', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 3, parentPid: 50, ignored: [] }
  const g = new Graceful({ logger: false, signals: false }, p)
  const server = g.attach(http.createServer())
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await waitUntil(() => g.state === 'ready')
  assert.deepEqual(p.readyReports, [[9, 100]])
  assert.equal(g.generation, 3)
  assert.equal(p.handlers.size, 0, 'signals: false installs nothing')
})

async function waitUntil (fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

test('a supervised worker asks the supervisor to reload and drains when its lifeline breaks', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 2, parentPid: 50, supervisorPid: 50, worker: 0, ignored: [] }
  const g = new Graceful({ logger: false, pidFile: '/run/app.pid' }, p)
  const server = g.attach(http.createServer())
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await waitUntil(() => g.state === 'ready')
  assert.deepEqual(p.pidFiles, [], 'the supervisor owns the PID file')
  p.signal('SIGUSR2')
  assert.deepEqual(p.killed, [[50, 'SIGUSR2']])
  assert.equal(p.children.length, 0, 'a worker never re-executes itself')
  p.lifelines[0]?.()
  await waitUntil(() => p.exits.length > 0)
  assert.deepEqual(p.exits, [0])
})

test('a supervised worker asks over its channel for the sockets it did not inherit, and for reloads instead of signalling', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 1, parentPid: 50, supervisorPid: 50, worker: 0, channel: 1, ignored: [] }
  const asked: Array<[SocketSpec, number]> = []
  const reloads: string[] = []
  const handles: Array<{ close: () => void }> = []
  p.channel = {
    askSocket: async (socket, index) => {
      asked.push([socket, index])
      if (socket.kind === 'tcp' && socket.port === 1) throw Object.assign(new GracefulError('ERR_GRACEFUL_BIND', 'the supervisor cannot bind 127.0.0.1:1: EACCES'), { errno: 'EACCES' })
      // What the supervisor binds and sends: an unlistened TCP handle.
      const handle = (net as unknown as { _createServerHandle: (a: string, p: number, t: number) => { close: () => void } })._createServerHandle('127.0.0.1', 0, 4)
      handles.push(handle)
      return { handle, key: 'tcp:127.0.0.1:0' }
    },
    askReload: (trigger) => { reloads.push(trigger); return true }
  }
  const g = new Graceful({ logger: false }, p)
  const a = g.attach(http.createServer())
  const b = g.attach(http.createServer())
  t.after(() => { a.close(); b.close(); for (const h of handles) h.close() })
  a.listen(0, '127.0.0.1')
  b.listen(0, '127.0.0.1')
  await Promise.all([once(a, 'listening'), once(b, 'listening')])
  assert.deepEqual(asked.map(([, index]) => index), [0, 1], 'two servers on port 0 ask for two sockets')
  assert.deepEqual(asked[0]?.[0], { kind: 'tcp', host: '127.0.0.1', port: 0, ipv6Only: false })
  assert.notEqual((a.address() as net.AddressInfo).port, (b.address() as net.AddressInfo).port)
  await waitUntil(() => g.state === 'ready')

  // A server that closed and listens again asks for the socket it had (index 0), not a new one.
  await new Promise<void>((resolve) => a.close(() => resolve()))
  a.listen(0, '127.0.0.1')
  await once(a, 'listening')
  assert.equal(asked.at(-1)?.[1], 0)

  const refused = g.attach(http.createServer())
  refused.listen(1, '127.0.0.1')
  const [err] = await once(refused, 'error') as [GracefulError & { errno?: string, port?: number }]
  assert.equal(err.code, 'ERR_GRACEFUL_BIND')
  assert.equal(err.errno, 'EACCES')
  assert.equal(err.port, 1)

  p.signal('SIGUSR2')
  assert.deepEqual(reloads, ['SIGUSR2'])
  assert.deepEqual(p.killed, [], 'no signal to the supervisor: a worker running as another user may not send one')
  assert.equal(p.children.length, 0)
})

interface Logged { level: string, msg: string, obj: Record<string, unknown> }

function recordingLogger (): { logger: { info: (o: object, m?: string) => void, warn: (o: object, m?: string) => void, error: (o: object, m?: string) => void }, lines: Logged[] } {
  const lines: Logged[] = []
  const at = (level: string) => (obj: object, msg?: string): void => { lines.push({ level, msg: msg ?? '', obj: obj as Record<string, unknown> }) }
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

async function gracefulIn (context: FakePlatform['context'], options: ConstructorParameters<typeof Graceful>[0] = {}): Promise<{ g: Graceful, p: FakePlatform, server: http.Server, lines: Logged[] }> {
  const p = new FakePlatform()
  p.context = context
  const { logger, lines } = recordingLogger()
  const g = new Graceful({ logger, ...options }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  return { g, p, server, lines }
}

const coded = (lines: Logged[], code: string): Logged[] => lines.filter((l) => l.obj.code === code)

for (const kind of ['pid1', 'wrapper', 'systemd-simple'] as const) {
  test(`${kind}: the handover is refused at every signal with ERR_GRACEFUL_UNSAFE_CONTEXT, named once at start-up; SIGTERM still drains`, async () => {
    const { g, p, lines } = await gracefulIn({ kind, source: 'detected', evidence: 'fake evidence' })
    assert.equal(g.context.kind, kind)
    const startup = coded(lines, 'ERR_GRACEFUL_UNSAFE_CONTEXT')
    assert.equal(startup.length, 1, 'said once at start-up')
    assert.equal(startup[0]?.level, 'warn')
    p.signal('SIGUSR2')
    p.signal('SIGUSR2')
    await assert.rejects(g.handover(), { code: 'ERR_GRACEFUL_UNSAFE_CONTEXT' })
    assert.equal(p.children.length, 0, 'no next generation is started')
    assert.equal(g.state, 'ready', 'this process keeps serving')
    const refused = coded(lines, 'ERR_GRACEFUL_UNSAFE_CONTEXT').slice(1)
    assert.deepEqual(refused.map((l) => [l.level, l.obj.trigger]), [['error', 'SIGUSR2'], ['error', 'SIGUSR2'], ['error', 'api']])
    const fix = kind === 'systemd-simple' ? /Type=notify with NotifyAccess=all/ : /graceful-restart run/
    for (const line of refused) assert.match(line.msg, fix)
    p.signal('SIGTERM')
    await waitUntil(() => p.exits.length > 0)
    assert.deepEqual(p.exits, [0])
    assert.deepEqual(p.killed, [], 'a shutdown ends by exit(0), never by a signal')
  })
}

test('managed by PM2: SIGUSR2 is refused naming `pm2 reload <name>`; handover() rejects with ERR_GRACEFUL_MANAGED', async (t) => {
  const { g, p, server, lines } = await gracefulIn({ kind: 'pm2', source: 'detected', evidence: 'PM2 app', pm2: { name: 'api', mode: 'fork' } })
  t.after(() => server.close())
  assert.deepEqual(coded(lines, 'ERR_GRACEFUL_MANAGED'), [], 'a managed context is no warning at start-up')
  p.signal('SIGUSR2')
  await assert.rejects(g.handover(), { code: 'ERR_GRACEFUL_MANAGED' })
  assert.equal(p.children.length, 0)
  assert.equal(g.state, 'ready')
  const refused = coded(lines, 'ERR_GRACEFUL_MANAGED')
  assert.equal(refused.length, 2)
  for (const line of refused) {
    assert.equal(line.level, 'warn')
    assert.match(line.msg, /`pm2 reload api`/)
  }
})

for (const [kind, advice] of [['node-watch', /save the file/], ['tsx-watch', /save the file/], ['cluster', /primary replaces workers/]] as const) {
  test(`managed by ${kind}: SIGUSR2 is refused with ${String(advice)}`, async (t) => {
    const { g, p, server, lines } = await gracefulIn({ kind, source: 'detected', evidence: 'fake' })
    t.after(() => server.close())
    p.signal('SIGUSR2')
    assert.equal(p.children.length, 0)
    assert.equal(g.state, 'ready')
    assert.match(coded(lines, 'ERR_GRACEFUL_MANAGED')[0]?.msg ?? '', advice)
  })
}

test('under nodemon its restart signal drains and ends the process by that signal, however often it arrives', async () => {
  const { g, p, lines } = await gracefulIn({ kind: 'nodemon', source: 'detected', evidence: 'fake' })
  await assert.rejects(g.handover(), (err: unknown) => (err as { code?: string }).code === 'ERR_GRACEFUL_MANAGED' && /type `rs`/.test(String(err)))
  // nodemon signals the child, then its process tree, then the child again.
  p.signal('SIGUSR2')
  p.signal('SIGUSR2')
  assert.equal(p.children.length, 0, 'never a re-exec under nodemon')
  await waitUntil(() => p.exits.length > 0)
  assert.deepEqual(p.killed, [[100, 'SIGUSR2']], 're-raised once its handler is gone, so nodemon sees the exit it waits for')
  assert.deepEqual(p.exits, [0], 'the fallback when the app itself listens for the signal')
  assert.equal(p.handlers.size, 0, 'the handlers were removed before the signal was raised')
  assert.ok(lines.some((l) => l.obj.reason === 'SIGUSR2' && /drain finished/.test(l.msg)))
})

test('under nodemon SIGTERM is a plain shutdown: exit 0, no signal raised', async () => {
  const { p } = await gracefulIn({ kind: 'nodemon', source: 'detected', evidence: 'fake' })
  p.signal('SIGTERM')
  p.signal('SIGUSR2')
  await waitUntil(() => p.exits.length > 0)
  assert.deepEqual(p.killed, [])
  assert.deepEqual(p.exits, [0])
})

test('the context option overrides the detection', async (t) => {
  const forced = await gracefulIn({ kind: 'pid1', source: 'detected', evidence: 'fake' }, { context: 'standalone' })
  t.after(() => forced.server.close())
  assert.deepEqual(forced.g.context, { kind: 'standalone', source: 'option', evidence: 'named by the context option' })
  assert.deepEqual(forced.p.contextQueries, [], 'nothing is detected when the app named the context')
  forced.p.signal('SIGUSR2')
  assert.equal(forced.p.children.length, 1, 'handover allowed')

  const named = await gracefulIn({ kind: 'standalone', source: 'detected', evidence: 'fake' }, { context: 'pm2' })
  t.after(() => named.server.close())
  await assert.rejects(named.g.handover(), { code: 'ERR_GRACEFUL_MANAGED' })
  assert.match(coded(named.lines, 'ERR_GRACEFUL_MANAGED')[0]?.msg ?? '', /`pm2 reload <name>`/)
})

test('a supervised worker is always in the supervisor context; the detection is told so', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 2, parentPid: 50, supervisorPid: 50, worker: 0, ignored: [] }
  p.context = { kind: 'supervisor', source: 'detected', evidence: 'fake' }
  const g = new Graceful({ logger: false, context: 'standalone' }, p)
  t.after(() => g.close())
  assert.equal(g.context.kind, 'supervisor')
  assert.deepEqual(p.contextQueries, [{ supervised: true, previousGeneration: 50 }])
})

test('the ready event and the start-up context event name the context', async (t) => {
  const seen: Array<[string, unknown]> = []
  const onContext = (msg: unknown): void => { seen.push(['context', msg]) }
  const onReady = (msg: unknown): void => { seen.push(['ready', msg]) }
  diagnosticsChannel.subscribe(CHANNELS.context, onContext)
  diagnosticsChannel.subscribe(CHANNELS.ready, onReady)
  t.after(() => {
    diagnosticsChannel.unsubscribe(CHANNELS.context, onContext)
    diagnosticsChannel.unsubscribe(CHANNELS.ready, onReady)
  })
  const { server } = await gracefulIn({ kind: 'systemd-notify', source: 'detected', evidence: 'a systemd service' })
  t.after(() => server.close())
  assert.deepEqual(seen.map(([name]) => name), ['context', 'ready'])
  assert.deepEqual(seen[0]?.[1], { pid: 100, context: 'systemd-notify', source: 'detected', evidence: 'a systemd service' })
  assert.equal((seen[1]?.[1] as { context?: string }).context, 'systemd-notify')
})
