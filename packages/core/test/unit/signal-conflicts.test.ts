// Another listener for a routed signal (NestJS's enableShutdownHooks(), say): a warning
// once per signal, and a rollback that finds its servers closed exits 1 instead of
// pretending to serve.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import { Graceful } from '../../src/lifecycle.ts'
import { HandoverError } from '../../src/errors.ts'
import { signalConflicts } from '../../src/signal-conflicts.ts'
import { FakePlatform } from './fake-platform.ts'

interface Logged { level: string, msg: string, data: Record<string, unknown> }

function capture (): { logger: { info: (o: object, m?: string) => void, warn: (o: object, m?: string) => void, error: (o: object, m?: string) => void }, logged: Logged[] } {
  const logged: Logged[] = []
  const at = (level: string) => (data: object, msg?: string): void => { logged.push({ level, msg: msg ?? '', data: data as Record<string, unknown> }) }
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, logged }
}

async function start (p: FakePlatform, options: ConstructorParameters<typeof Graceful>[0] = {}): Promise<{ g: Graceful, server: http.Server, logged: Logged[] }> {
  const { logger, logged } = capture()
  const g = new Graceful({ logger, ...options }, p)
  const server = g.attach(http.createServer((_req, res) => res.end('ok')))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  await g.ready()
  return { g, server, logged }
}

const conflicts = (logged: Logged[]): Logged[] => logged.filter((l) => l.data.code === 'ERR_GRACEFUL_SIGNAL_LISTENER')

test('at ready, another listener of a routed signal is reported once per signal, with the risk and the fix', async (t) => {
  const p = new FakePlatform()
  const nestCleanup = function cleanup (): void {}
  for (const signal of ['SIGUSR2', 'SIGTERM', 'SIGHUP']) p.otherListeners.set(signal, [nestCleanup])
  const { g, server, logged } = await start(p, { signals: { SIGINT: 'ignore' } })
  t.after(() => server.close())
  p.otherListeners.set('SIGINT', [nestCleanup])

  const found = conflicts(logged)
  assert.deepEqual(found.map((l) => [l.level, l.data.signal, l.data.listeners]), [
    ['warn', 'SIGUSR2', ['cleanup']],
    ['warn', 'SIGTERM', ['cleanup']]
  ], 'SIGHUP is not routed and SIGINT is ignored: neither is ours to defend')
  const [usr2, term] = found
  assert.match(usr2?.msg ?? '', /SIGUSR2 has another listener \(cleanup\) besides graceful-restart's handover/)
  assert.match(usr2?.msg ?? '', /a release that fails at boot leaves nothing serving/)
  assert.match(usr2?.msg ?? '', /Fix: leave SIGUSR2 to graceful-restart/)
  assert.match(term?.msg ?? '', /requests in flight are cut off/)

  // The handover start checks again; nothing new to say.
  const handover = g.handover('SIGUSR2')
  p.children[0]?.events.onReady()
  await handover
  assert.equal(conflicts(logged).length, 2, 'each signal once per process')
})

test('no warning when the routed signals have only our handlers', async (t) => {
  const p = new FakePlatform()
  const { server, logged } = await start(p)
  t.after(() => server.close())
  assert.deepEqual(conflicts(logged), [])
  assert.deepEqual(signalConflicts(new Map([['SIGUSR2', 'handover']]), (s) => p.signalListeners(s)), [])
})

test('a listener added after ready is reported when the handover starts', async (t) => {
  const p = new FakePlatform()
  const { g, server, logged } = await start(p)
  t.after(() => server.close())
  assert.deepEqual(conflicts(logged), [])
  p.otherListeners.set('SIGUSR2', [() => {}])
  const handover = g.handover('SIGUSR2')
  assert.deepEqual(conflicts(logged).map((l) => [l.data.signal, l.data.listeners]), [['SIGUSR2', ['anonymous']]])
  p.children[0]?.exit(1)
  await assert.rejects(handover)
})

test('a rollback whose servers another SIGUSR2 listener closed exits 1 and leaves no PID file naming anyone', async () => {
  const p = new FakePlatform()
  const { g, server, logged } = await start(p, { pidFile: '/run/app.pid' })
  // What enableShutdownHooks() does on SIGUSR2: close the app at once.
  p.otherListeners.set('SIGUSR2', [function cleanup () { server.close() }])
  p.signal('SIGUSR2')
  const child = p.children[0]
  assert.ok(child !== undefined)
  assert.equal(server.listening, false)
  p.writePidFile('/run/app.pid', child.pid) // the child wrote it, then crashed
  const handover = g.handover() // joins the running one
  child.exit(1)
  await assert.rejects(handover, (err: unknown) => err instanceof HandoverError && err.code === 'ERR_GRACEFUL_CHILD_EXITED')
  await waitUntil(() => p.exits.length > 0)

  assert.deepEqual(p.exits, [1], 'exits non-zero: nothing of this generation serves')
  assert.equal(g.state, 'exited')
  const rollback = logged.find((l) => l.msg.startsWith('handover failed'))
  assert.equal(rollback?.data.serving, false, 'the rollback says it does not serve')
  const report = logged.find((l) => l.data.code === 'ERR_GRACEFUL_SERVER_CLOSED')
  assert.equal(report?.level, 'error')
  assert.deepEqual(report?.data.listeners, ['tcp:127.0.0.1:0'])
  assert.deepEqual(p.pidFileRemovals, [['/run/app.pid', child.pid], ['/run/app.pid', 100]], 'neither the failed child nor this generation is left named')
  assert.equal(p.pidFiles.filter(([, pid]) => pid === 100).length, 1, 'the PID file was not rewritten to name this generation')
})

test('a rollback whose servers still listen keeps serving, as before', async (t) => {
  const p = new FakePlatform()
  p.otherListeners.set('SIGUSR2', [function harmless () {}])
  const { g, server } = await start(p, { pidFile: '/run/app.pid' })
  t.after(() => server.close())
  const handover = g.handover()
  p.children[0]?.exit(1)
  await assert.rejects(handover)
  assert.equal(g.state, 'ready')
  assert.deepEqual(p.exits, [])
  assert.deepEqual(p.pidFileRemovals, [])
})

async function waitUntil (pred: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  assert.ok(pred(), 'condition not reached')
}
