import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startLoad, tracker, processesWithMarker, waitFor, waitForAnswerFrom } from '@graceful-restart/test-utils'
import { arrived, events, handover, setMode, startApp, tempDir, tookOver, waitGone } from './app.ts'

// Only the hang case runs into upgradeTimeout, so only it gets a short one: a child that
// crashes at boot must be reported as crashed however slowly the machine starts it.
const failures = [
  { mode: 'throw', reason: 'exit', code: 'ERR_GRACEFUL_CHILD_EXITED', text: /exited before it was ready \(code 1\)/ },
  { mode: 'exit1', reason: 'exit', code: 'ERR_GRACEFUL_CHILD_EXITED', text: /exited before it was ready \(code 1\)/ },
  { mode: 'reject', reason: 'exit', code: 'ERR_GRACEFUL_CHILD_EXITED', text: /readiness check failed/ },
  { mode: 'hang', reason: 'timeout', code: 'ERR_GRACEFUL_UPGRADE_TIMEOUT', text: /not ready within 1500 ms/ }
]

for (const { mode, reason, code, text } of failures) {
  test(`a next generation that fails (${mode}) changes nothing: the old one serves, logs why, and hands over next time`, { timeout: 60_000 }, async (t) => {
    const track = tracker(t)
    const app = await startApp(track, tempDir(t), { UPGRADE_TIMEOUT: mode === 'hang' ? '1500' : '60000' })
    const load = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
    const fresh = startLoad({ port: app.port, keepAlive: false, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
    t.after(async () => { await load.stop(); await fresh.stop() })
    await waitForAnswerFrom([load, fresh], app.pid)

    setMode(app, mode)
    const oldPid = app.pid
    process.kill(oldPid, 'SIGUSR2')
    const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 15_000, what: 'rollback event' })
    assert.equal(rollback.reason, reason)
    assert.equal(rollback.code, code)
    // stderr and stdout are separate pipes: the log line may arrive after the event.
    await waitFor(() => app.started.lines.some((line) => text.test(line)), { timeoutMs: 5000, what: `the reason logged to stderr (${String(text)})` })
    const childPid = Number(rollback.childPid)
    await waitFor(() => !processesWithMarker(track.marker).includes(childPid), { timeoutMs: 5000, what: 'failed child reaped' })
    assert.deepEqual(processesWithMarker(track.marker), [oldPid], 'the failed child is gone, the old generation still runs')

    setMode(app, 'ok')
    const newPid = await handover(app)
    await waitGone([oldPid])
    await waitForAnswerFrom([load, fresh], newPid)
    const reports = [await load.stop(), await fresh.stop()]
    for (const r of reports) {
      assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
      assert.ok((r.byPid[String(oldPid)] ?? 0) > 0 && (r.byPid[String(newPid)] ?? 0) > 0)
    }
  })
}

test('10 SIGUSR2 within 100 ms start exactly one new generation', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t))
  const load = startLoad({ port: app.port, keepAlive: true, clients: 8, durationMs: 20_000 })
  t.after(async () => { await load.stop() })
  const oldPid = app.pid
  for (let i = 0; i < 10; i++) {
    process.kill(oldPid, 'SIGUSR2')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await tookOver({ ...app, pid: oldPid })
  await waitGone([oldPid])
  assert.equal(events(app.started, 'handover:spawn').length, 1)
  assert.equal(processesWithMarker(track.marker).length, 1)
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
})

test('SIGTERM lets the request in flight finish, exits 0 and leaves no process behind', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t))
  const started = Date.now()
  const pending = fetch(`http://127.0.0.1:${app.port}/sleep?ms=800&announce=1`)
  await arrived(app.started.lines, '/sleep')
  process.kill(app.pid, 'SIGTERM')
  const res = await pending
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('connection'), 'close', 'responses during the drain close their connection')
  assert.deepEqual(await res.json(), { pid: app.pid, version: 'v1' })
  assert.ok(Date.now() - started >= 800)
  const exit = await app.started.exited
  assert.deepEqual(exit, { code: 0, signal: null })
  assert.deepEqual(processesWithMarker(track.marker), [])
  await assert.rejects(fetch(`http://127.0.0.1:${app.port}/`), 'the listener is closed')
})

test('SIGTERM to a generation that handed over to a live one ends only the old one', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t), { SIGHUP_HANDOVER: '1' })
  const first = app.pid
  const second = await handover(app, 'SIGHUP')
  await waitGone([first])
  process.kill(second, 'SIGTERM')
  await waitGone([second])
  assert.deepEqual(processesWithMarker(track.marker), [])
})
