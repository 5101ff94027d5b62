// A burst of handovers while long-lived streams keep every old generation draining: the
// cap (maxDraining) keeps the number of processes bounded, and the streams it cuts are
// counted in drain:end.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, processesWithMarker, readPidFile, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, events, handover, startApp, tempDir } from './app.ts'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

interface SseClients {
  /** Opens n streams; resolves once each got its first event. */
  open: (n: number) => Promise<void>
  /** Streams the server closed, by the pid that served them. */
  closedBy: Map<number, number>
  stop: () => void
}

// Like EventSource: a stream the server closes is opened again.
function sseClients (port: number): SseClients {
  const closedBy = new Map<number, number>()
  const requests = new Set<http.ClientRequest>()
  let stopped = false
  const connect = (onOpen: () => void): void => {
    if (stopped) return
    const req = http.get({ host: '127.0.0.1', port, path: '/sse', agent: false })
    requests.add(req)
    req.on('error', () => { requests.delete(req); setTimeout(() => connect(onOpen), 20) })
    req.on('response', (res) => {
      const pid = Number(res.headers['x-pid'])
      res.on('error', () => {})
      res.once('data', onOpen)
      res.on('close', () => {
        requests.delete(req)
        if (stopped) return
        closedBy.set(pid, (closedBy.get(pid) ?? 0) + 1)
        connect(() => {})
      })
    })
  }
  return {
    closedBy,
    open: async (n) => { await Promise.all(Array.from({ length: n }, async () => { await new Promise<void>((resolve) => connect(resolve)) })) },
    stop: () => {
      stopped = true
      for (const req of requests) req.destroy()
    }
  }
}

test('maxDraining 3: 6 handovers back to back with SSE streams open: at most 4 generations alive, the cut streams counted, 0 failed requests', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, { MAX_DRAINING: '3', DRAIN_TIMEOUT: '30000' })
  const sse = sseClients(app.port)
  t.after(() => sse.stop())
  let most = 0
  const sampler = setInterval(() => { most = Math.max(most, processesWithMarker(track.marker).length) }, 5)
  t.after(() => clearInterval(sampler))
  const keepAlive = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 0, durationMs: 60_000 })
  const fresh = startLoad({ port: app.port, keepAlive: false, clients: 8, slowEvery: 0, durationMs: 60_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })

  // 20 streams in all, 4 on each of the first five generations, so that every old
  // generation has something to drain until drainTimeout (30 s).
  const started = Date.now()
  const pids = [app.pid]
  for (let i = 0; i < 6; i++) {
    if (i < 5) await sse.open(4)
    pids.push(await handover(app))
  }
  const burstMs = Date.now() - started
  const reports = [await keepAlive.stop(), await fresh.stop()]
  clearInterval(sampler)
  most = Math.max(most, processesWithMarker(track.marker).length)

  const ends = events(app.started, 'drain:end').filter((e) => e.endedEarly !== undefined)
  t.diagnostic(`6 handovers in ${burstMs} ms; at most ${most} generations alive; drains ended early: ${JSON.stringify(ends.map((e) => ({ pid: e.pid, destroyed: e.destroyed, ...(e.endedEarly as object) })))}; SSE streams closed by pid: ${JSON.stringify(Object.fromEntries(sse.closedBy))}`)
  for (const r of reports) t.diagnostic(`plain requests: ${r.requests}, ${r.failed} failed`)
  assert.ok(most <= 4, `at most maxDraining + 1 generations alive, saw ${most}`)
  assert.deepEqual(ends.map((e) => e.pid), pids.slice(0, 3), 'the oldest three generations were ended, in order')
  for (const e of ends) {
    const active = (e.endedEarly as { active: number }).active
    assert.equal(active, sse.closedBy.get(e.pid as number) ?? 0, `pid ${String(e.pid)}: streams counted in drain:end = streams the clients saw closed`)
    assert.ok(active >= 4)
    assert.ok((e.destroyed as number) >= active)
  }
  for (const r of reports) assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
})

test('supervisor --max-draining 2: 4 reloads with SSE streams open: at most 3 worker generations alive, the cut streams counted, 0 failed requests', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const port = await freePort()
  const pidFile = path.join(dir, 'sup.pid')
  const started = track.startNode(CLI, {
    args: ['run', '--listen', `127.0.0.1:${port}`, '--pid-file', pidFile, '--max-draining', '2', '--drain-timeout', '30000', '--', process.execPath, FIXTURE],
    env: { PORT: String(port), HOST: '127.0.0.1', DRAIN_TIMEOUT: '30000' }
  })
  const supervisor = await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  await waitFor(async () => { try { return (await fetch(`http://127.0.0.1:${port}/`)).ok } catch { return false } }, { timeoutMs: 15_000, what: 'first worker serving' })
  const sse = sseClients(port)
  t.after(() => sse.stop())
  let most = 0
  const workers = (): number => processesWithMarker(track.marker).filter((pid) => pid !== supervisor).length
  const sampler = setInterval(() => { most = Math.max(most, workers()) }, 5)
  t.after(() => clearInterval(sampler))
  const load = startLoad({ port, keepAlive: true, clients: 8, slowEvery: 0, durationMs: 60_000 })
  t.after(async () => { await load.stop() })
  for (let i = 0; i < 4; i++) {
    if (i < 3) await sse.open(3)
    const code = await new Promise<number>((resolve) => {
      execFile(process.execPath, [CLI, 'reload', '--pid-file', pidFile, '--wait'], { timeout: 30_000 }, (err) => resolve(err === null ? 0 : 1))
    })
    assert.equal(code, 0)
  }
  const report = await load.stop()
  clearInterval(sampler)
  // Worker lines reach the supervisor's output as `[g1 w0 4242] {...}`.
  const ends = started.lines.map((l) => /^\[g(\d+) w\d+ (\d+)\] (\{.*\})$/.exec(l)).filter((m) => m !== null)
    .map((m): Record<string, unknown> & { generation: number, pid: number } => ({ ...JSON.parse(m[3] as string) as Record<string, unknown>, generation: Number(m[1]), pid: Number(m[2]) }))
    .filter((e) => e.event === 'drain:end' && e.endedEarly !== undefined)
  t.diagnostic(`at most ${most} workers alive; drains ended early: ${JSON.stringify(ends.map((e) => ({ generation: e.generation, destroyed: e.destroyed, ...(e.endedEarly as object) })))}; SSE streams closed by pid: ${JSON.stringify(Object.fromEntries(sse.closedBy))}; ${report.requests} requests, ${report.failed} failed`)
  assert.ok(most <= 3, `at most --max-draining + 1 workers alive, saw ${most}`)
  assert.deepEqual(ends.map((e) => e.generation), [1, 2])
  for (const e of ends) assert.equal((e.endedEarly as { active: number }).active, sse.closedBy.get(e.pid))
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
})
