// NestJS wired to the core by hand, with enableShutdownHooks() left on (no gracefulNest):
// the core warns at ready, and when a release fails at boot after Nest closed the app on
// SIGUSR2, the old generation says so and exits 1 instead of pretending to serve.
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { get, RunningApp } from '@graceful-restart/adapter-contract'
import { readPidFile, waitFor } from '@graceful-restart/test-utils'

const fixture = fileURLToPath(new URL('../../test/fixtures/core-only.mjs', import.meta.url))

test('enableShutdownHooks() beside the core: a warning at ready; a release that fails at boot leaves no process and no PID file behind, exit 1', { timeout: 60_000 }, async (t) => {
  const app = await RunningApp.start(t, { fixture, timeoutMs: 30_000 })
  const first = app.pid
  assert.equal((await get(app.port, '/')).pid, first)
  const warning = await waitFor(() => app.started.lines.find((l) => l.includes('ERR_GRACEFUL_SIGNAL_LISTENER') && l.includes('"signal":"SIGUSR2"')),
    { timeoutMs: 10_000, what: 'the signal-listener warning' })
  assert.match(warning, /SIGUSR2 has another listener \(cleanup\) besides graceful-restart's handover/)
  assert.match(warning, /Fix: leave SIGUSR2 to graceful-restart/)
  assert.equal(app.started.lines.filter((l) => l.includes('ERR_GRACEFUL_SIGNAL_LISTENER') && l.includes('"signal":"SIGUSR2"')).length, 1, 'once')

  app.setBootMode('throw')
  const mark = app.mark
  process.kill(first, 'SIGUSR2')
  // Nest closed the app on the same SIGUSR2; the next generation then failed.
  const rollback = await app.waitEvent((e) => e.event === 'handover:rollback' && e.pid === first && e.serving === false, 'a rollback that no longer serves', { from: mark })
  assert.equal(rollback.reason, 'exit')
  assert.equal((await app.exitOf(first)).code, 1, 'the old generation exits 1')
  await app.started.waitForLine((l) => l.includes('ERR_GRACEFUL_SERVER_CLOSED')) // and says why
  assert.equal(readPidFile(app.pidFile), undefined, 'no PID file names a dead process')
  await assert.rejects(get(app.port, '/'), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED')
})
