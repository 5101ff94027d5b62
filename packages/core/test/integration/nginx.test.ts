import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { freePort, readPidFile, rounds, startLoad, startNginx, tool, tracker, waitFor } from '@graceful-restart/test-utils'
import { handover, tempDir, waitGone } from './app.ts'
import { EXAMPLES, nginxSite } from './examples.ts'

const APP = path.join(EXAMPLES, 'fastify', 'server.js')

test('behind nginx (examples/nginx/app.conf): handovers under keep-alive and new-connection load with POSTs fail no request', { timeout: 180_000 }, async (t) => {
  if (tool('nginx', t) === undefined) return
  const track = tracker(t)
  const dir = tempDir(t)
  const appPort = await freePort()
  const front = await freePort()
  const pidFile = path.join(dir, 'app.pid')
  track.startNode(APP, { env: { PORT: String(appPort), HOST: '127.0.0.1', PID_FILE: pidFile } })
  const app = { pidFile, pid: await waitFor(() => readPidFile(pidFile), { timeoutMs: 15_000, what: 'the Fastify example ready' }) }
  const nginx = await startNginx(t, { http: nginxSite(front, appPort) })
  await waitFor(async () => {
    try { return (await fetch(`http://127.0.0.1:${front}/`)).status === 200 } catch { return false }
  }, { timeoutMs: 10_000, what: 'nginx proxying to the app' })

  // 1 request in 5 is a POST of 20 kB (nginx spools it to a temp file first), 1 in 25 takes
  // 300 ms, so handovers meet requests in flight, idle pooled connections and POSTs.
  const load = { port: front, slowEvery: 25, slowMs: 300, postEvery: 5, durationMs: 150_000 }
  const keepAlive = startLoad({ ...load, keepAlive: true, clients: 16 })
  const fresh = startLoad({ ...load, keepAlive: false, clients: 8 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  await waitFor(() => keepAlive.snapshot().ok > 100 && fresh.snapshot().ok > 50, { timeoutMs: 20_000, what: 'load flowing through nginx' })

  const n = rounds(10)
  const pids = [app.pid]
  const started = Date.now()
  for (let i = 0; i < n; i++) {
    const old = app.pid
    pids.push(await handover(app))
    // The old generation's pooled connections move to the new one (handoffIdleConnections,
    // the example's default) or close (nginx's keepalive_timeout, a busy connection's
    // Connection: close) before the next deploy: every round meets that moment.
    await waitGone([old])
    // Traffic reached the new generation through nginx before the next round.
    await waitFor(() => (keepAlive.snapshot().byPid[String(app.pid)] ?? 0) > 20, { timeoutMs: 20_000, what: `requests served by ${app.pid}` })
  }
  const handoversMs = Date.now() - started
  const reports = { 'keep-alive': await keepAlive.stop(), 'new connection': await fresh.stop() }
  for (const [name, r] of Object.entries(reports)) {
    t.diagnostic(`through nginx, ${name} clients: ${r.requests} requests (${r.posts.requests} POSTs), ${r.failed} failed ${JSON.stringify(r.failures)}, ${n} handovers in ${handoversMs} ms`)
  }
  for (const r of Object.values(reports)) {
    assert.equal(r.failed, 0, `${JSON.stringify(r.errorSamples.slice(0, 5))}\nnginx log:\n${nginx.errorLog()}`)
    assert.ok(r.posts.requests > 0)
    assert.ok(r.slow.length > 0 && r.slow.every((s) => s.status === 200))
  }
  // Every generation served, the last one included.
  for (const pid of pids) assert.ok((reports['keep-alive'].byPid[String(pid)] ?? 0) + (reports['new connection'].byPid[String(pid)] ?? 0) > 0, `generation ${pid} served nothing`)
  assert.doesNotMatch(nginx.errorLog(), /\[(error|crit|alert|emerg)\]/)
})
