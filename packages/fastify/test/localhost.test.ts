// Fastify's default host 'localhost' binds one server per address localhost resolves to.
// The secondary servers must be handed over and drained like the main one, or the
// address they serve goes dark after the first handover. This machine's localhost is
// 127.0.0.1 only, so the fixture (FAKE_DUAL_LOCALHOST) resolves it to 127.0.0.1 and ::1.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { RunningApp, get } from '@graceful-restart/adapter-contract'
import { startLoad } from '@graceful-restart/test-utils'

const fixture = fileURLToPath(new URL('../../test/fixtures/app.mjs', import.meta.url))

test('with host localhost, every address it resolves to is handed over and drained (secondary servers included)', { timeout: 60_000 }, async (t) => {
  const app = await RunningApp.start(t, { fixture, env: { HOST: 'localhost', FAKE_DUAL_LOCALHOST: '1' } })
  const listening = app.events().find((e) => e.event === 'listening' && e.pid === app.pid)
  const hosts = (listening?.addresses as Array<{ address: string, port: number }>).map((a) => `${a.address}:${a.port}`).sort()
  assert.deepEqual(hosts, [`127.0.0.1:${app.port}`, `::1:${app.port}`])

  const load = { port: app.port, clients: 4, slowEvery: 10, slowMs: 200, durationMs: 50_000 }
  const loads = [
    startLoad({ ...load, host: '127.0.0.1', keepAlive: true }),
    startLoad({ ...load, host: '::1', keepAlive: true }),
    startLoad({ ...load, host: '::1', keepAlive: false })
  ]
  const replaced: number[] = []
  for (let i = 0; i < 3; i++) {
    const mark = app.mark
    const { from, to } = await app.handover()
    replaced.push(from)
    const ready = app.events(mark).find((e) => e.event === 'ready' && e.pid === to)
    assert.deepEqual(ready?.listeners, ['tcp:localhost:0', `tcp:[::1]:${app.port}`], 'ready once both servers listen')
    assert.equal(app.events(mark).filter((e) => e.event === 'listener:inherited' && e.pid === to).length, 2)
    for (const host of ['127.0.0.1', '::1']) {
      await app.answeredBy(to, from, () => get(app.port, '/', { host }))
    }
  }
  for (const pid of replaced) assert.equal((await app.exitOf(pid)).code, 0)
  const reports = await Promise.all(loads.map((l) => l.stop()))
  for (const [i, r] of reports.entries()) {
    t.diagnostic(`load ${i}: ${r.requests} requests, ${r.failed} failed, pids ${Object.keys(r.byPid).length}`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
    assert.ok(r.slow.every((s) => s.status === 200))
  }
})
