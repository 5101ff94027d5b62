// The roll's order and bounds against a fake supervisor: workers are promises the test
// settles, so every interleaving (ready, crash, drain ending) is chosen, not waited for.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNELS } from '../../src/diagnostics.ts'
import { GracefulError } from '../../src/errors.ts'
import { pinLaunch } from '../../src/supervisor/release.ts'
import { resolveWorkers, Roll, type RollHost, type RollWorker } from '../../src/supervisor/roll.ts'
import { nodeClock, type SupervisorClock } from '../../src/supervisor/clock.ts'
import { formatStatus, type SupervisorStatus } from '../../src/supervisor/status.ts'
import { Supervisor } from '../../src/supervisor/supervisor.ts'
import { FakeClock, flush } from './fake-supervisor-os.ts'

interface FakeWorker extends RollWorker {
  pid: number
  isReady: boolean
  gone: boolean
  becomeReady: () => void
  exit: () => void
}

let nextPid = 1000

function fakeWorker (slot: number, generation: number, ready = false): FakeWorker {
  let resolveReady: () => void = () => {}
  let rejectReady: (err: Error) => void = () => {}
  let resolveExit: () => void = () => {}
  const w: FakeWorker = {
    slot,
    generation,
    pid: nextPid++,
    isReady: ready,
    gone: false,
    ready: new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject }),
    exited: new Promise<void>((resolve) => { resolveExit = resolve }),
    becomeReady: () => { w.isReady = true; resolveReady() },
    exit: () => {
      if (w.gone) return
      w.gone = true
      if (!w.isReady) rejectReady(new GracefulError('ERR_GRACEFUL_CHILD_EXITED', `worker ${slot} of generation ${generation} exited before it was ready (code 1)`))
      resolveExit()
    }
  }
  w.ready.catch(() => {})
  if (ready) resolveReady()
  return w
}

/** A supervisor of N slots whose every process the test sees; tracks the most processes alive and the fewest ready. */
class FakeSupervisor implements RollHost<FakeWorker> {
  readonly slots = new Map<number, FakeWorker>()
  readonly incoming = new Set<FakeWorker>()
  readonly drainingSet = new Set<FakeWorker>()
  readonly started: FakeWorker[] = []
  readonly logs: string[] = []
  mostAlive = 0
  fewestReady = Infinity
  stopped = false
  /** Called after each new worker started: the test decides what it does. */
  onStart: (w: FakeWorker) => void = (w) => { queueMicrotask(() => w.becomeReady()) }
  /** Called when an old worker is told to drain. */
  onDrain: (w: FakeWorker) => void = (w) => { queueMicrotask(() => w.exit()) }

  readonly workers: number
  readonly surge: number | undefined
  readonly upgradeTimeout: number
  readonly clock: SupervisorClock

  constructor (workers: number, surge: number | undefined, generation = 1, upgradeTimeout = 60_000, clock: SupervisorClock = nodeClock) {
    this.workers = workers
    this.surge = surge
    this.upgradeTimeout = upgradeTimeout
    this.clock = clock
    for (let slot = 0; slot < workers; slot++) this.slots.set(slot, fakeWorker(slot, generation, true))
    this.#observe()
  }

  rolling = 2

  #observe (): void {
    const all = [...this.slots.values(), ...this.incoming, ...this.drainingSet]
    this.mostAlive = Math.max(this.mostAlive, all.filter((w) => !w.gone).length)
    this.fewestReady = Math.min(this.fewestReady, all.filter((w) => !w.gone && w.isReady && !this.drainingSet.has(w)).length)
  }

  serving = (): FakeWorker[] => [...this.slots.values()]
  draining = (): FakeWorker[] => [...this.drainingSet]
  start = (slot: number): FakeWorker => {
    const w = fakeWorker(slot, this.rolling)
    this.incoming.add(w)
    this.started.push(w)
    void w.exited.then(() => this.#observe())
    this.#observe()
    this.onStart(w)
    return w
  }

  takeOver = (w: FakeWorker): void => {
    this.incoming.delete(w)
    const old = this.slots.get(w.slot)
    this.slots.set(w.slot, w)
    if (old !== undefined && !old.gone) {
      this.drainingSet.add(old)
      void old.exited.then(() => { this.drainingSet.delete(old); this.#observe() })
      this.onDrain(old)
    }
    this.#observe()
  }

  discard = async (ws: readonly FakeWorker[]): Promise<void> => {
    for (const w of ws) w.exit()
    await Promise.all(ws.map((w) => w.exited))
    for (const w of ws) this.incoming.delete(w)
  }

  stopping = (): boolean => this.stopped
  log = (message: string): void => { this.logs.push(message) }

  generations (): number[] {
    return [...this.slots.values()].sort((a, b) => a.slot - b.slot).map((w) => w.generation)
  }
}

test('--workers 4 --surge 1: four steps, one slot each in slot order, never more than 5 processes nor fewer than 4 ready', async () => {
  const host = new FakeSupervisor(4, 1)
  const roll = new Roll(host, 2, 'test')
  assert.deepEqual(await roll.run(), { ok: true })
  assert.deepEqual(host.started.map((w) => w.slot), [0, 1, 2, 3])
  assert.deepEqual(host.generations(), [2, 2, 2, 2])
  assert.equal(host.mostAlive, 5)
  assert.equal(host.fewestReady, 4)
  const status = roll.status()
  assert.equal(status.state, 'done')
  assert.equal(status.steps, 4)
  assert.equal(status.replaced, 4)
  assert.deepEqual(status.serving, [{ generation: 2, workers: 4 }])
  assert.match(host.logs[1] ?? '', /^generation 2: 2\/4 workers took over \(step 2: worker 1 pid \d+ for pid \d+; ready in \d+ ms/)
})

test('a step waits until the workers it replaced exited: a draining worker still counts', async () => {
  const host = new FakeSupervisor(4, 1)
  const drains: FakeWorker[] = []
  host.onDrain = (w) => { drains.push(w) }
  const done = new Roll(host, 2, 'test').run()
  await until(() => drains.length === 1)
  await settleTicks()
  assert.equal(host.started.length, 1, 'the second step waits for the first drain')
  drains[0]?.exit()
  await until(() => drains.length === 2)
  assert.equal(host.started.length, 2)
  host.onDrain = (w) => { queueMicrotask(() => w.exit()) }
  drains[1]?.exit()
  assert.deepEqual(await done, { ok: true })
  assert.equal(host.mostAlive, 5)
})

test('surge 2 of 5 workers: steps of 2, 2, 1; the last one may start beside one draining worker', async () => {
  const host = new FakeSupervisor(5, 2)
  const steps: Array<Record<string, unknown>> = []
  const onStep = (msg: unknown): void => { steps.push(msg as Record<string, unknown>) }
  diagnosticsChannel.subscribe(CHANNELS.rollStep, onStep)
  try {
    assert.deepEqual(await new Roll(host, 2, 'test').run(), { ok: true })
  } finally {
    diagnosticsChannel.unsubscribe(CHANNELS.rollStep, onStep)
  }
  assert.deepEqual(steps.map((s) => s.slots), [[0, 1], [2, 3], [4]])
  assert.deepEqual(steps.map((s) => s.replaced), [2, 4, 5])
  assert.ok(steps.every((s) => s.generation === 2 && s.workers === 5 && Array.isArray(s.drained)))
  assert.ok(host.mostAlive <= 7)
})

test('without surge: one step of all N, started even while earlier workers still drain', async () => {
  const host = new FakeSupervisor(3, undefined)
  const lingering = fakeWorker(9, 0, true)
  host.drainingSet.add(lingering)
  const result = await new Roll(host, 2, 'test').run()
  assert.deepEqual(result, { ok: true })
  assert.equal(host.started.length, 3)
  assert.equal(host.mostAlive, 3 + 3 + 1)
  lingering.exit()
})

test('a new worker crashing at boot in step 3 stops the roll: 2 new and 2 old keep serving; the next roll replaces all 4', async () => {
  const host = new FakeSupervisor(4, 1)
  host.onStart = (w) => { queueMicrotask(() => (host.started.length === 3 ? w.exit() : w.becomeReady())) }
  const ends: Array<Record<string, unknown>> = []
  const onEnd = (msg: unknown): void => { ends.push(msg as Record<string, unknown>) }
  diagnosticsChannel.subscribe(CHANNELS.rollEnd, onEnd)
  const roll = new Roll(host, 2, 'test')
  let result
  try {
    result = await roll.run()
  } finally {
    diagnosticsChannel.unsubscribe(CHANNELS.rollEnd, onEnd)
  }
  assert.equal(result.ok, false)
  assert.match(result.ok ? '' : result.error.message, /worker 2 of generation 2 exited before it was ready/)
  assert.deepEqual(host.generations(), [2, 2, 1, 1])
  assert.equal(host.incoming.size, 0)
  assert.equal(host.fewestReady, 4)
  const status = roll.status()
  assert.equal(status.state, 'stopped')
  assert.equal(status.replaced, 2)
  assert.deepEqual(status.serving, [{ generation: 2, workers: 2 }, { generation: 1, workers: 2 }])
  assert.match(status.reason ?? '', /exited before it was ready/)
  assert.deepEqual(ends.map((e) => [e.ok, e.replaced, e.steps, e.code]), [[false, 2, 2, 'ERR_GRACEFUL_CHILD_EXITED']])

  // The next reload starts over: the oldest first, then the workers of the stopped roll.
  host.rolling = 3
  host.onStart = (w) => { queueMicrotask(() => w.becomeReady()) }
  host.started.length = 0
  assert.deepEqual(await new Roll(host, 3, 'test').run(), { ok: true })
  assert.deepEqual(host.started.map((w) => w.slot), [2, 3, 0, 1])
  assert.deepEqual(host.generations(), [3, 3, 3, 3])
})

test('a new worker that exits after its ready report, before its step took over, fails the step', async () => {
  const host = new FakeSupervisor(4, 2)
  host.onStart = (w) => {
    if (w.slot === 0) queueMicrotask(() => { w.becomeReady(); setImmediate(() => w.exit()) })
    // Worker 1 gets ready only after worker 0 is gone.
    if (w.slot === 1) void host.started[0]?.exited.then(() => setImmediate(() => w.becomeReady()))
  }
  const result = await new Roll(host, 2, 'test').run()
  assert.equal(result.ok, false)
  assert.match(result.ok ? '' : result.error.message, /worker 0 of generation 2 \(pid \d+\) exited after it was ready, before it took over/)
  assert.deepEqual(host.generations(), [1, 1, 1, 1])
  assert.ok(host.started.every((w) => w.gone))
})

test('a step not ready within upgradeTimeout stops the roll and stops the step\'s workers', async () => {
  const clock = new FakeClock()
  const host = new FakeSupervisor(2, 1, 1, 30, clock)
  host.onStart = () => {}
  const roll = new Roll(host, 2, 'test')
  let settled = false
  const running = roll.run().finally(() => { settled = true })
  await flush()
  await clock.advance(29)
  assert.equal(settled, false, 'still waiting 29 ms in')
  await clock.advance(1)
  await flush()
  const result = await running
  assert.equal(result.ok, false)
  assert.equal(result.ok ? undefined : result.error.code, 'ERR_GRACEFUL_UPGRADE_TIMEOUT')
  assert.ok(host.started.every((w) => w.gone))
  assert.deepEqual(host.generations(), [1, 1])
})

test('an old worker that crashed (its restart pending) is replaced without a drain; a stopping supervisor ends the roll', async () => {
  const host = new FakeSupervisor(3, 1)
  host.slots.get(0)?.exit()
  let stopAfter = 2
  host.onStart = (w) => {
    if (--stopAfter === 0) host.stopped = true
    queueMicrotask(() => w.becomeReady())
  }
  const roll = new Roll(host, 2, 'test')
  const result = await roll.run()
  assert.equal(result.ok, false)
  assert.equal(result.ok ? undefined : result.error.code, 'ERR_GRACEFUL_SHUTTING_DOWN')
  assert.deepEqual(host.generations(), [2, 1, 1], 'the step that was running when the stop came does not take over')
})

test('status shows where a roll stands: rolling, done, or stopped with the mix that serves', async () => {
  const host = new FakeSupervisor(4, 1, 4)
  host.rolling = 5
  let release: () => void = () => {}
  host.onStart = (w) => {
    if (host.started.length <= 2) queueMicrotask(() => w.becomeReady())
    else release = () => w.becomeReady()
  }
  const roll = new Roll(host, 5, 'test')
  const done = roll.run()
  await until(() => host.started.length === 3)
  const now = roll.status().startedAt + 3000
  const text = (r: ReturnType<typeof roll.status>): string => formatStatus({ ...baseStatus(), roll: r }, true, now)
  assert.match(text(roll.status()), /^roll {8}2\/4 on g5 \(2 on g4\), 1 at a time: rolling for 3s$/m)
  release()
  host.onStart = (w) => { queueMicrotask(() => w.exit()) }
  const result = await done
  assert.equal(result.ok, false)
  assert.match(text(roll.status()), /^roll {8}3\/4 on g5 \(1 on g4\), 1 at a time: STOPPED after \d+ ms: worker 3 of generation 5 exited before it was ready \(code 1\)$/m)
  assert.match(text({ ...roll.status(), state: 'done', replaced: 4, serving: [{ generation: 5, workers: 4 }], durationMs: 1234 }), /^roll {8}4\/4 on g5, 1 at a time: done in 1234 ms$/m)
  assert.doesNotMatch(formatStatus(baseStatus(), true, now), /^roll/m)
})

function baseStatus (): SupervisorStatus {
  return {
    kind: 'supervisor', pid: 1, identity: { start: '1' }, reloadSignal: 'SIGUSR2', state: 'running', startedAt: 0, generation: 4,
    command: ['node', 'app.js'], listeners: [], workers: [], lastHandover: undefined, handovers: { ok: 0, failed: 0 }, crashLoop: undefined
  }
}

test('workers and surge are validated like the other options', () => {
  assert.deepEqual(resolveWorkers(4, undefined), { workers: 4, surge: undefined })
  assert.deepEqual(resolveWorkers(4, 4), { workers: 4, surge: 4 })
  for (const [workers, surge] of [[4, 0], [4, 5], [4, 1.5], [4, '1'], [0, undefined], [2.5, 1]] as const) {
    assert.throws(() => resolveWorkers(workers, surge), (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_INVALID_OPTION', `${workers} / ${surge}`)
  }
  assert.throws(() => new Supervisor({ ...supervisorOptions(), workers: 2, surge: 3 }), /option "surge" must be an integer from 1 to workers \(2\), got 3/)
})

test('a generation\'s release is pinned: the working directory through its symlink, and paths under it', () => {
  const realpath = (p: string): string => p.replace('/srv/app/current', '/srv/app/releases/v7')
  assert.deepEqual(pinLaunch({ execPath: '/usr/bin/node', args: ['--max-old-space-size=256', 'server.js', '/srv/app/current/worker.js', '/srv/app/current'], cwd: '/srv/app/current' }, realpath), {
    execPath: '/usr/bin/node', args: ['--max-old-space-size=256', 'server.js', '/srv/app/releases/v7/worker.js', '/srv/app/releases/v7'], cwd: '/srv/app/releases/v7'
  })
  const plain = { execPath: '/usr/bin/node', args: ['server.js'], cwd: '/srv/app' }
  assert.equal(pinLaunch(plain, (p) => p), plain)
  assert.equal(pinLaunch(plain, () => { throw new Error('ENOENT') }), plain)
})

function supervisorOptions (): ConstructorParameters<typeof Supervisor>[0] {
  return {
    command: ['node', 'app.js'],
    listen: [],
    workers: 1,
    pidFile: undefined,
    statusFile: undefined,
    upgradeTimeout: 1000,
    drainTimeout: 1000,
    reloadSignals: [],
    cwd: '/',
    env: {},
    envFiles: [],
    maxDraining: 3,
    systemd: [],
    stdout: process.stdout,
    stderr: process.stderr,
    exit: () => {}
  }
}

async function settleTicks (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

async function until (fn: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !fn(); i++) await new Promise<void>((resolve) => setImmediate(resolve))
  assert.ok(fn(), 'condition never held')
}
