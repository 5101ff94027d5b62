// The supervisor on a fake clock and fake workers (fake-supervisor-os.ts): restarts with
// backoff, the crash loop, the kill timer of a stop, a second stop signal, a reload whose
// workers never get ready, and --max-draining's wait; each decided by moving the clock, not
// by waiting for it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { constants } from 'node:os'
import type { ReleaseHost } from '../../src/release/source.ts'
import { Supervisor } from '../../src/supervisor/supervisor.ts'
import { FakeClock, FakeSupervisorOs, fakeOptions, flush, type FakeWorker } from './fake-supervisor-os.ts'

async function started (overrides: Parameters<typeof fakeOptions>[2] = {}) {
  const os = new FakeSupervisorOs()
  const clock = new FakeClock()
  const options = fakeOptions(os, clock, overrides)
  const supervisor = new Supervisor(options)
  await supervisor.start()
  await flush()
  return { os, clock, options, supervisor }
}

/** Crashes the live worker of `slot` and returns the backoff the supervisor logged for it. */
async function crash (os: FakeSupervisorOs, log: string[], slot = 0): Promise<number> {
  const [worker] = os.alive(slot)
  assert.ok(worker !== undefined, `a worker in slot ${slot}`)
  const before = log.length
  worker.exit(1)
  await flush()
  const line = log.slice(before).find((l) => l.includes('exited unexpectedly'))
  assert.match(line ?? '', new RegExp(`worker ${slot} \\(pid ${worker.pid}\\) exited unexpectedly \\(code 1\\); restarting in \\d+ ms`))
  return Number(/restarting in (\d+) ms/.exec(line ?? '')?.[1])
}

test('a crashed worker is restarted after 100 ms, doubling per crash within a minute up to 10 s', async () => {
  const { os, clock, options, supervisor } = await started()
  const delays: number[] = []
  for (let i = 0; i < 9; i++) {
    const delay = await crash(os, options.log)
    delays.push(delay)
    assert.equal(supervisor.status().workers[0]?.state, 'restarting')
    assert.deepEqual(clock.pending(), [delay], 'the restart is the one timer set')
    await clock.advance(delay - 1)
    assert.equal(os.alive(0).length, 0, `no restart before ${delay} ms`)
    await clock.advance(1)
    assert.equal(os.alive(0).length, 1, `restarted at ${delay} ms`)
    assert.deepEqual(supervisor.status().workers.map((w) => [w.state, w.restarts]), [['ready', i + 1]])
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000])
  // The restart runs the release of the generation it replaces.
  assert.deepEqual(os.workers.map((w) => w.generation), Array(10).fill(1))
  assert.deepEqual(new Set(os.workers.map((w) => w.spec.launch)).size, 1)
})

test('a worker whose process cannot be started is logged with spawn\'s error, not as an exit, and restarted with backoff', async () => {
  const { os, clock, options, supervisor } = await started()
  os.onSpawn = (worker) => { queueMicrotask(() => worker.failToStart(Object.assign(new Error('spawn /opt/node EACCES'), { code: 'EACCES' }))) }
  assert.equal(await crash(os, options.log), 100)
  const before = options.log.length
  await clock.advance(100)
  assert.deepEqual(options.log.slice(before), ['graceful-restart[4242]: worker 0 could not be started (spawn /opt/node EACCES); restarting in 200 ms'])
  assert.equal(supervisor.status().workers[0]?.state, 'restarting')
  os.onSpawn = (worker) => { queueMicrotask(() => worker.ready()) }
  await clock.advance(200)
  assert.deepEqual(supervisor.status().workers.map((w) => [w.state, w.restarts]), [['ready', 2]])
})

test('crashes a minute apart are not a loop: each restart waits 100 ms again', async () => {
  const { os, clock, options, supervisor } = await started()
  for (let i = 0; i < 6; i++) {
    assert.equal(await crash(os, options.log), 100)
    await clock.advance(60_000)
  }
  assert.equal(supervisor.status().crashLoop, undefined)
  assert.ok(!options.log.some((l) => l.includes('CRASH LOOP')))
})

test('five crashes within a minute are a crash loop: logged once, counted in the status while it lasts', async () => {
  const { os, clock, options, supervisor } = await started({ workers: 2 })
  const first = clock.now()
  for (let i = 0; i < 4; i++) await clock.advance(await crash(os, options.log, 1))
  assert.equal(supervisor.status().crashLoop, undefined, 'four crashes are not a loop yet')
  await clock.advance(await crash(os, options.log, 1))
  assert.deepEqual(supervisor.status().crashLoop, { since: first, crashes: 5 })
  assert.deepEqual(options.log.filter((l) => l.includes('CRASH LOOP')), [
    'graceful-restart[4242]: CRASH LOOP: 5 worker crashes within 60 s; restarting with up to 10 s backoff'
  ])
  await clock.advance(await crash(os, options.log, 1))
  assert.deepEqual(supervisor.status().crashLoop, { since: first, crashes: 6 })
  assert.equal(options.log.filter((l) => l.includes('CRASH LOOP')).length, 1)
  // The healthy worker served through it all.
  assert.equal(os.alive(0).length, 1)
  assert.equal(supervisor.status().workers[0]?.restarts, 0)
})

test('the crash loop ends when a restarted worker is ready more than a minute after the last crash', async () => {
  const { os, clock, options, supervisor } = await started()
  for (let i = 0; i < 5; i++) await clock.advance(await crash(os, options.log))
  assert.notEqual(supervisor.status().crashLoop, undefined)
  os.onSpawn = () => {} // the next restart boots slowly
  await clock.advance(await crash(os, options.log))
  const [slow] = os.alive(0)
  await clock.advance(30_000)
  slow?.ready()
  await flush()
  assert.notEqual(supervisor.status().crashLoop, undefined, 'ready 30 s after the last crash: still a loop')
  await clock.advance(await crash(os, options.log))
  await clock.advance(61_000)
  os.alive(0)[0]?.ready()
  await flush()
  assert.equal(supervisor.status().crashLoop, undefined)
})

test('stop: SIGTERM to every worker; one still running drainTimeout + 5 s later gets SIGKILL and the exit code is 1', async () => {
  const { os, clock, options, supervisor } = await started({ workers: 2, drainTimeout: 10_000 })
  const [stuck, polite] = os.alive() as [FakeWorker, FakeWorker]
  stuck.onSignal = (signal) => { if (signal === 'SIGKILL') stuck.exit(null, 'SIGKILL') }
  polite.onSignal = () => {}
  const stopping = supervisor.stop('test')
  await flush()
  assert.deepEqual([stuck.signals, polite.signals], [['SIGTERM'], ['SIGTERM']])
  assert.equal(supervisor.status().state, 'stopping')
  polite.exit(0)
  await clock.advance(14_999)
  assert.deepEqual(stuck.signals, ['SIGTERM'])
  assert.deepEqual(options.exits, [])
  await clock.advance(1)
  assert.deepEqual(stuck.signals, ['SIGTERM', 'SIGKILL'])
  await stopping
  assert.deepEqual(options.exits, [1])
  assert.ok(options.log.includes(`graceful-restart[4242]: worker 0 (pid ${stuck.pid}) still running 15000 ms after SIGTERM: SIGKILL`))
  assert.ok(options.log.includes('graceful-restart[4242]: stopped (some workers had to be killed)'))
  assert.deepEqual([os.pidFiles.size, os.lastStatus, os.keptAlive, os.signalHandlers.get('SIGTERM')], [0, undefined, false, []])
})

test('a stop while a restart waits: no restart; every worker drained exits 0', async () => {
  const { os, clock, options, supervisor } = await started({ workers: 2 })
  await crash(os, options.log, 0)
  await supervisor.stop('test')
  await clock.advance(10_000)
  assert.deepEqual(os.alive(), [])
  assert.equal(os.workers.length, 2, 'the crashed worker was not restarted')
  assert.deepEqual(options.exits, [0])
})

for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) {
  test(`${signal} drains; ${signal} again kills every worker and exits 128 + its number`, async () => {
    const { os, options } = await started({ workers: 2 })
    for (const w of os.alive()) w.onSignal = (s) => { if (s === 'SIGKILL') w.exit(null, 'SIGKILL') }
    os.signal(signal)
    await flush()
    assert.ok(options.log.includes(`graceful-restart[4242]: ${signal}: draining 2 worker(s)`))
    assert.deepEqual(options.exits, [])
    os.signal(signal)
    assert.deepEqual(options.exits, [128 + constants.signals[signal]])
    assert.deepEqual(os.workers.map((w) => w.signals), [['SIGTERM', 'SIGKILL'], ['SIGTERM', 'SIGKILL']])
  })
}

test('a reload whose new workers are not ready within --upgrade-timeout fails; the old workers serve on', async () => {
  const { os, clock, supervisor } = await started({ workers: 2, upgradeTimeout: 3000 })
  const old = os.alive()
  os.onSpawn = () => {} // never ready
  const reload = supervisor.reload('test')
  reload.catch(() => {})
  await flush()
  assert.equal(os.alive().length, 4)
  await clock.advance(2999)
  assert.equal(supervisor.status().state, 'reloading')
  await clock.advance(1)
  await assert.rejects(reload, { code: 'ERR_GRACEFUL_UPGRADE_TIMEOUT', message: 'generation 2 not ready within 3000 ms' })
  assert.deepEqual(os.alive(), old)
  const status = supervisor.status()
  assert.deepEqual([status.state, status.generation, status.handovers, status.lastHandover?.ok, status.lastHandover?.durationMs], ['running', 1, { ok: 0, failed: 1 }, false, 3000])
  assert.deepEqual(status.workers.map((w) => [w.generation, w.state]), [[1, 'ready'], [1, 'ready']])
})

test('--max-draining 1: the next reload lets the draining generation finish for 2 s, then ends its drain and waits at most 5 s', async () => {
  const { os, clock, options, supervisor } = await started({ maxDraining: 1 })
  const [first] = os.alive() as [FakeWorker]
  first.onSignal = () => {} // drains a long-lived connection
  await supervisor.reload('one')
  assert.deepEqual(first.signals, ['SIGTERM'])
  await clock.advance(500)
  const second = supervisor.reload('two')
  await flush()
  assert.equal(os.workers.length, 2, 'generation 3 waits')
  assert.ok(options.log.includes(`graceful-restart[4242]: --max-draining 1: generation 1 first finishes draining (ended at once if still draining 2000 ms after it began)`))
  await clock.advance(1499)
  assert.deepEqual(first.signals, ['SIGTERM'])
  await clock.advance(1)
  assert.deepEqual(first.signals, ['SIGTERM', 'SIGWINCH'])
  await clock.advance(4999)
  assert.equal(os.workers.length, 2)
  await clock.advance(1)
  await second
  await flush()
  assert.deepEqual(os.workers.map((w) => w.generation), [1, 2, 3])
  // Generation 2 drained at once; generation 1 still holds its connection.
  assert.deepEqual(supervisor.status().workers.map((w) => [w.generation, w.state]), [[3, 'ready'], [1, 'draining']])
})

test('--max-draining: a draining generation that exits within its grace lets the reload go on at once', async () => {
  const { os, clock, supervisor } = await started({ maxDraining: 1 })
  const [first] = os.alive() as [FakeWorker]
  first.onSignal = () => {}
  await supervisor.reload('one')
  const second = supervisor.reload('two')
  await clock.advance(1000)
  first.exit(0)
  await flush()
  await second
  assert.deepEqual(first.signals, ['SIGTERM'])
  assert.deepEqual(os.workers.map((w) => w.generation), [1, 2, 3])
  assert.deepEqual(clock.pending(), [], 'no timer left behind')
})

test('a reload asked for while starting or stopping is refused with a code; one asked for during a reload joins it', async () => {
  const os = new FakeSupervisorOs()
  const clock = new FakeClock()
  let source: ReleaseHost | undefined
  const options = fakeOptions(os, clock, { sources: [{ start: (host) => { source = host }, stop: () => {}, status: () => ({}) }] })
  const supervisor = new Supervisor(options)
  await assert.rejects(supervisor.reload('early'), { code: 'ERR_GRACEFUL_NOT_READY', message: 'the supervisor is starting' })
  await supervisor.start()
  await flush()
  const first = supervisor.reload('a')
  assert.equal(supervisor.reload('b'), first)
  await first
  assert.deepEqual(supervisor.status().handovers, { ok: 1, failed: 0 })
  const stopped = supervisor.stop('test')
  await assert.rejects(supervisor.reload('SIGHUP'), { code: 'ERR_GRACEFUL_SHUTTING_DOWN', message: 'the supervisor is stopping' })
  await assert.rejects(source?.reload('--watch') ?? Promise.resolve(), { code: 'ERR_GRACEFUL_SHUTTING_DOWN' })
  await stopped
  assert.ok(options.log.includes('graceful-restart[4242]: SIGHUP ignored: the supervisor is stopping'))
  assert.deepEqual(os.workers.map((w) => w.generation), [1, 2], 'nothing started after the stop')
})
