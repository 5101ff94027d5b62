// The `watch` option in the state machine: when the watcher runs, what a settled change does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Graceful } from '../../src/lifecycle.ts'
import { FakePlatform, readyGraceful } from './fake-platform.ts'

const start = async (p: FakePlatform, options: ConstructorParameters<typeof Graceful>[0] = {}): ReturnType<typeof readyGraceful> =>
  await readyGraceful(p, { exit: false, ...options })

test('watches from ready until the drain, with paths taken from the logical working directory', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await start(p, { watch: ['.', '/etc/app/stamp'], watchDebounce: 50 })
  t.after(() => server.close())
  const [w] = p.watches
  assert.deepEqual(w?.options.paths, ['/srv', '/etc/app/stamp'])
  assert.equal(w?.options.debounceMs, 50)
  assert.equal(w?.running, true)
  const handover = w?.change()
  assert.equal(p.children.length, 1, 'a settled change starts one handover')
  p.children[0]?.events.onReady()
  await handover
  assert.equal(w?.running, false, 'a draining generation watches nothing')
  await g.shutdown()
})

test('a change during a running handover waits for it: nothing if it took over, a handover of its own if it failed', async (t) => {
  const p = new FakePlatform()
  const { g, server } = await start(p, { watch: 'current' })
  t.after(() => server.close())
  const byTheSignal = g.handover('SIGUSR2').catch(() => {})
  const byTheWatch = p.watches[0]?.change()
  assert.equal(p.children.length, 1, 'never two handovers at once')
  p.children[0]?.exit(1)
  await byTheSignal
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(p.children.length, 2, 'the change is handed over after the failed one')
  p.children[1]?.events.onReady()
  await byTheWatch
  assert.equal(g.state, 'draining')
})

test('under the supervisor the option is ignored (the supervisor watches)', async (t) => {
  const p = new FakePlatform()
  p.inheritance = { ...p.inheritance, supervisorPid: 1, readyFd: 5, parentPid: 1 }
  const { server } = await start(p, { watch: 'current' })
  t.after(() => server.close())
  assert.equal(p.watches.length, 0)
})

test('bad watch options are refused', () => {
  for (const watch of ['', [], [''], [1], 'a\0b']) {
    assert.throws(() => new Graceful({ watch: watch as string }, new FakePlatform()), { code: 'ERR_GRACEFUL_INVALID_OPTION' })
  }
  assert.throws(() => new Graceful({ watchDebounce: -1 }, new FakePlatform()), { code: 'ERR_GRACEFUL_INVALID_OPTION' })
})
