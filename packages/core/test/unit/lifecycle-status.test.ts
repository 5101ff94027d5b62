// The status beside the PID file in re-exec mode (control-status.ts) and the systemd reload
// notifications, driven through the state machine with a fake platform.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor } from '@graceful-restart/test-utils'
import { Graceful } from '../../src/lifecycle.ts'
import { FakePlatform, readyGraceful } from './fake-platform.ts'

const ready = async (p: FakePlatform, options: ConstructorParameters<typeof Graceful>[0] = {}): ReturnType<typeof readyGraceful> =>
  await readyGraceful(p, { pidFile: '/run/app.pid', ...options })

test('the first generation writes its status before its PID file', async (t) => {
  const p = new FakePlatform()
  p.clock = 5000
  const { server } = await ready(p)
  t.after(() => server.close())
  assert.deepEqual(p.statuses, [{
    pidFile: '/run/app.pid',
    status: { generation: 1, startedAt: 5000, reloadSignal: 'SIGUSR2', lastHandover: undefined, context: 'standalone' },
    pidFilesBefore: 0
  }])
  assert.deepEqual(p.pidFiles, [['/run/app.pid', 100]])
})

test('a handover stamps its start on CLOCK_MONOTONIC: to systemd (RELOADING=1) and to the child', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await ready(p)
  t.after(() => server.close())
  p.monotonic = 7_000_000
  void g.handover().catch(() => {})
  assert.deepEqual(p.notified.at(-1), ['RELOADING=1', 'MONOTONIC_USEC=7000000'])
  assert.equal(p.children[0]?.spec.handoverStartedUs, 7_000_000, 'passed to the child (spawn.ts puts it in GRACEFUL_RESTART_HANDOVER_STARTED)')
  assert.equal(p.children[0]?.spec.env.KEEP, '1', 'the rest of the environment is passed on')
  // A signal absorbed by the running handover is stamped anew: systemd waits for a
  // RELOADING=1 later than its own signal, and the running handover's READY=1 ends it.
  p.monotonic = 7_500_000
  p.signal('SIGUSR2')
  assert.equal(p.children.length, 1)
  assert.deepEqual(p.notified.at(-1), ['RELOADING=1', 'MONOTONIC_USEC=7500000'])
})

test('under systemd the next generation starts only once RELOADING=1 was taken; a reload it absorbed gets a READY=1 after its own', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await ready(p)
  t.after(() => server.close())
  let take: () => void = () => {}
  p.systemd = new Promise((resolve) => { take = resolve })
  const handover = g.handover()
  assert.equal(p.children.length, 0, 'not before systemd took RELOADING=1')
  take()
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(p.children.length, 1)
  p.monotonic += 1000
  p.signal('SIGUSR2')
  p.children[0]?.events.onReady()
  await handover
  assert.deepEqual(p.notified.slice(-3), [['RELOADING=1', 'MONOTONIC_USEC=1000000'], ['RELOADING=1', 'MONOTONIC_USEC=1001000'], ['READY=1']])
  await g.shutdown('test').catch(() => {})
})

test('a shutdown while systemd is being told aborts the handover before any child exists', async () => {
  const p = new FakePlatform()
  const { g } = await ready(p)
  p.systemd = new Promise(() => {})
  const handover = g.handover()
  const shutdown = g.shutdown('test')
  await assert.rejects(handover, { reason: 'aborted' })
  assert.equal(p.children.length, 0)
  // This systemd never takes STOPPING=1 either: the exit waits for it 5 s at most.
  await waitFor(() => [...p.timers.values()].some((timer) => timer.ms === 5000) ? true : undefined, { timeoutMs: 2000, what: 'the bounded wait for STOPPING=1' })
  assert.deepEqual(p.exits, [])
  p.fireTimers()
  await shutdown
  assert.deepEqual(p.exits, [0])
})

test('the last generation exits only once systemd took STOPPING=1', async () => {
  const p = new FakePlatform()
  const { g } = await ready(p)
  let take: () => void = () => {}
  p.systemd = new Promise((resolve) => { take = resolve })
  const shutdown = g.shutdown('SIGTERM')
  await waitFor(() => p.notified.some((args) => args.includes('STOPPING=1')) && p.timers.size > 0 ? true : undefined, { timeoutMs: 2000, what: 'STOPPING=1 sent, the exit waiting' })
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(p.exits, [], 'not before systemd took it: an exit would drop a message still queued')
  take()
  await shutdown
  assert.deepEqual(p.exits, [0])
  assert.equal(p.timers.size, 0, 'the bound is cleared once the message went out')
})

test('a rollback records the failed handover in the status, rewrites the PID file after it, and tells systemd READY=1', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await ready(p)
  t.after(() => server.close())
  p.monotonic = 9_000_000
  const attempt = g.handover()
  p.pidFiles.push(['/run/app.pid', 200]) // the child wrote it, then failed
  p.children[0]?.exit(1)
  await assert.rejects(attempt)
  const last = p.statuses.at(-1)
  assert.equal(last?.status.lastHandover?.ok, false)
  assert.equal(last?.status.lastHandover?.generation, 2)
  assert.equal(last?.status.lastHandover?.startedMonoUs, 9_000_000)
  assert.match(last?.status.lastHandover?.reason ?? '', /exited before it was ready \(code 1\)/)
  assert.equal(last?.pidFilesBefore, 2, 'the status is written before the PID file names this process again')
  assert.deepEqual(p.pidFiles.at(-1), ['/run/app.pid', 100])
  assert.deepEqual(p.notified.at(-1), ['READY=1', 'STATUS=handover failed, still serving: next generation exited before it was ready (code 1)'])
})

test('a next generation writes its status (the handover it ends) only once its parent took the report', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { sockets: [], readyFd: 9, generation: 4, parentPid: 50, handoverStartedUs: 2_000_000, ignored: [] }
  p.monotonic = 2_350_000
  const { server } = await ready(p)
  t.after(() => server.close())
  assert.deepEqual(p.pidFiles, [['/run/app.pid', 100]])
  assert.equal(p.statuses.length, 0, 'the parent may still reject the report (timed out): no status yet')
  p.lifelines[0]?.()
  assert.equal(p.statuses.length, 1)
  const status = p.statuses[0]?.status
  assert.equal(status?.generation, 4)
  assert.deepEqual({ ...status?.lastHandover, at: 0 }, { ok: true, generation: 4, at: 0, durationMs: 350, startedMonoUs: 2_000_000 })
})

test('the last generation removes its status with its PID file; a supervised worker never writes one', async (t) => {
  const p = new FakePlatform()
  const { g } = await ready(p)
  await g.shutdown('test')
  assert.deepEqual(p.removedPidFiles, ['/run/app.pid'])
  assert.deepEqual(p.removedStatuses, ['/run/app.pid'])

  const w = new FakePlatform()
  w.inheritance = { sockets: [], readyFd: 9, generation: 2, parentPid: 50, supervisorPid: 50, worker: 0, ignored: [] }
  const { server } = await ready(w)
  t.after(() => server.close())
  w.lifelines[0]?.()
  assert.deepEqual(w.statuses, [])
  assert.deepEqual(w.notified.filter((args) => args.includes('RELOADING=1')), [])
})

test('the status names the signal that starts a handover, or none', async (t) => {
  for (const [signals, expected] of [
    [{ SIGUSR2: null, SIGHUP: 'handover' }, 'SIGHUP'],
    [{ SIGHUP: 'handover' }, 'SIGUSR2'],
    [false, null]
  ] as const) {
    const p = new FakePlatform()
    const { server } = await ready(p, { signals })
    t.after(() => server.close())
    assert.equal(p.statuses[0]?.status.reloadSignal, expected, JSON.stringify(signals))
  }
})

test('a handover refused because of where the process runs is recorded at once, for reload --wait; the status names the context', async (t) => {
  const p = new FakePlatform()
  p.context = { kind: 'pid1', source: 'detected', evidence: 'fake' }
  const { g, server } = await ready(p)
  t.after(() => server.close())
  p.monotonic = 9_000_000
  await assert.rejects(g.handover('SIGUSR2'), { code: 'ERR_GRACEFUL_UNSAFE_CONTEXT' })
  const last = p.statuses.at(-1)?.status
  assert.equal(last?.context, 'pid1')
  assert.equal(last?.lastHandover?.ok, false)
  assert.equal(last?.lastHandover?.startedMonoUs, 9_000_000)
  assert.match(last?.lastHandover?.reason ?? '', /^ERR_GRACEFUL_UNSAFE_CONTEXT: .*graceful-restart run/)
  assert.equal(p.children.length, 0)
})
