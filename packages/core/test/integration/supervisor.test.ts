import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { get, isAlive, processesWithMarker, readPidFile, rounds, startLoad, tracker, waitFor, waitForAnswerFrom, type Tracker } from '@graceful-restart/test-utils'
import { FIXTURE, arrived, setMode, waitGone } from './app.ts'
import { CLI, cli, stopAndCheckNothingLeft, supervise as superviseApp } from './supervised.ts'

/** The fixture as N workers; a new generation gets 3 s to be ready unless the test says otherwise. */
function supervise (t: { after: (fn: () => unknown) => unknown }, track: Tracker, workers: number, extraArgs: string[] = []) {
  return superviseApp(t, track, { args: ['--workers', String(workers), ...(extraArgs.includes('--upgrade-timeout') ? [] : ['--upgrade-timeout', '3000']), ...extraArgs] })
}

const RELOADS = rounds(50)
const ROLLING_RELOADS = rounds(20)

test(`${RELOADS} reloads of the supervisor under load fail no request and keep its PID; stop leaves nothing behind`, { timeout: 180_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 1)
  const keepAlive = startLoad({ port: s.port, keepAlive: true, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 190_000 })
  const fresh = startLoad({ port: s.port, keepAlive: false, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 190_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const durations: number[] = []
  const workerOf = (generation: number): number | undefined => s.status()?.workers.find((w) => w.generation === generation && w.state === 'ready')?.pid
  const workers = [workerOf(1) as number]
  await waitForAnswerFrom([keepAlive, fresh], workers)
  for (let i = 0; i < RELOADS; i++) {
    const r = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    durations.push(Number(/in (\d+) ms/.exec(r.stdout)?.[1]))
    // The reload is over for the clients when the new worker answers them: only then the
    // next one (the kernel decides which worker takes which connection).
    const worker = await waitFor(() => workerOf(i + 2), { timeoutMs: 5000, what: `the worker of generation ${i + 2} in the status file` })
    workers.push(worker)
    await waitForAnswerFrom([keepAlive, fresh], worker)
  }
  assert.equal(readPidFile(s.pidFile), s.pid, 'the supervisor PID never changes')
  assert.equal(s.status()?.generation, RELOADS + 1)
  const reports = [await keepAlive.stop(), await fresh.stop()]
  for (const r of reports) {
    t.diagnostic(`${r.requests} requests, ${r.failed} failed, ${Object.keys(r.byPid).length} workers answered`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
    assert.deepEqual(workers.filter((pid) => r.byPid[String(pid)] === undefined), [], 'every generation\'s worker answered')
    assert.ok(r.slow.every((x) => x.status === 200))
  }
  durations.sort((a, b) => a - b)
  t.diagnostic(`reload (signal to new workers ready): median ${durations[durations.length >> 1]} ms, max ${durations.at(-1)} ms`)
  await stopAndCheckNothingLeft(track, s)
})

test(`--workers 2: ${ROLLING_RELOADS} rolling reloads never drop below two ready workers and fail no request`, { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2)
  const keepAlive = startLoad({ port: s.port, keepAlive: true, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 130_000 })
  const fresh = startLoad({ port: s.port, keepAlive: false, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 130_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  let minReady = 2
  const watch = setInterval(() => {
    const ready = s.status()?.workers.filter((w) => w.state === 'ready' || w.state === 'draining').length
    if (ready !== undefined) minReady = Math.min(minReady, ready)
  }, 5)
  t.after(() => clearInterval(watch))
  for (let i = 0; i < ROLLING_RELOADS; i++) {
    const r = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
  }
  clearInterval(watch)
  assert.equal(minReady, 2)
  for (const r of [await keepAlive.stop(), await fresh.stop()]) {
    t.diagnostic(`${r.requests} requests, ${r.failed} failed`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  }
})

// A worker that crashes at boot must be reported as such whatever the machine's load: the
// supervisor waits for it far longer than it can take to start. The hang case below gets a
// short --upgrade-timeout of its own.
test('a new generation crashing at boot changes nothing, and status says what happened', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2, ['--upgrade-timeout', '60000'])
  const load = startLoad({ port: s.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const before = s.status()?.workers.map((w) => w.pid)
  setMode(s, 'throw')
  const r = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /reload failed: worker \d of generation 2 exited before it was ready \(code 1\)/)
  const text = await cli(['status', '--pid-file', s.pidFile])
  assert.equal(text.code, 0)
  assert.match(text.stdout, /last {8}generation 2 FAILED in \d+ ms, .* exited before it was ready/)
  assert.match(text.stdout, /handovers ok 0, failed 1/)
  assert.deepEqual(s.status()?.workers.map((w) => w.pid), before, 'the old workers keep serving')
  setMode(s, 'ok')
  assert.equal((await cli(['reload', '--pid-file', s.pidFile, '--wait'])).code, 0)
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
})

test('a new generation that never becomes ready is stopped at --upgrade-timeout; the old workers serve on', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2)
  const load = startLoad({ port: s.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const before = s.status()?.workers.map((w) => w.pid)
  setMode(s, 'hang')
  const hung = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
  assert.equal(hung.code, 1)
  assert.match(hung.stdout, /not ready within 3000 ms/)
  assert.deepEqual(s.status()?.workers.map((w) => w.pid), before, 'the old workers keep serving')
  setMode(s, 'ok')
  assert.equal((await cli(['reload', '--pid-file', s.pidFile, '--wait'])).code, 0)
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
})

test('a worker that dies is restarted with backoff; a crash loop is reported', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2)
  const victim = s.status()?.workers[0]?.pid as number
  process.kill(victim, 'SIGKILL')
  await waitFor(() => { const w = s.status()?.workers[0]; return w !== undefined && w.pid !== victim && w.state === 'ready' && w.restarts === 1 }, { timeoutMs: 10_000, what: 'worker 0 restarted' })

  setMode(s, 'exit1')
  process.kill(s.status()?.workers[1]?.pid as number, 'SIGKILL')
  await waitFor(() => s.status()?.crashLoop !== undefined, { timeoutMs: 20_000, what: 'crash loop reported' })
  const text = await cli(['status', '--pid-file', s.pidFile])
  assert.match(text.stdout, /crash loop {2}\d+ worker crashes/)
  await s.started.waitForLine((l) => l.includes('CRASH LOOP'))
  // The healthy worker kept serving through the loop.
  const res = await fetch(`http://127.0.0.1:${s.port}/`, { headers: { connection: 'close' } })
  assert.equal(res.status, 200)
})

test('SIGTERM to the supervisor drains its workers (the request in flight completes) and exits 0', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2)
  const pending = fetch(`http://127.0.0.1:${s.port}/sleep?ms=700&announce=1`)
  await arrived(s.started.lines, '/sleep')
  process.kill(s.pid, 'SIGTERM')
  assert.equal((await pending).status, 200)
  assert.deepEqual(await s.started.exited, { code: 0, signal: null })
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('SIGQUIT (STOPSIGNAL SIGQUIT, nginx\'s graceful quit) drains and stops like SIGTERM, without a core dump', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 1)
  // A connection the worker already accepted (a first response came back on it), then a
  // slow request on it: sent before the drain starts, so the worker must answer it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  assert.equal((await get(s.port, '/', { agent })).status, 200)
  const pending = get(s.port, '/sleep?ms=700', { agent })
  process.kill(s.pid, 'SIGQUIT')
  assert.equal((await pending).status, 200)
  assert.deepEqual(await s.started.exited, { code: 0, signal: null })
  await s.started.waitForLine((l) => l.includes('SIGQUIT: draining 1 worker(s)')) // 'exit' may come before the pipes' last lines
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('a SIGKILLed supervisor leaves no orphaned worker behind', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, 2)
  const workers = s.status()?.workers.map((w) => w.pid) ?? []
  assert.equal(workers.length, 2)
  process.kill(s.pid, 'SIGKILL')
  await waitGone(workers, 15_000)
  assert.ok(workers.every((pid) => !isAlive(pid)))
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('--listen on an address already in use fails at start with ERR_GRACEFUL_ADDRESS_IN_USE; no worker serves some other port', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const holder = net.createServer().listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.after(() => holder.close())
  const port = (holder.address() as net.AddressInfo).port
  // libuv defers a TCP bind's EADDRINUSE to listen(): unchecked, the supervisor started and
  // its workers listened on the unbound socket, which the kernel gave a random port.
  for (const address of [`127.0.0.1:${port}`, String(port)]) {
    const sup = track.startNode(CLI, { args: ['run', '--listen', address, '--', process.execPath, FIXTURE], env: { PORT: String(port), HOST: '127.0.0.1' } })
    assert.deepEqual(await sup.exited, { code: 1, signal: null }, sup.lines.join('\n'))
    assert.match(sup.lines.join('\n'), new RegExp(`ERR_GRACEFUL_ADDRESS_IN_USE: cannot bind (127\\.0\\.0\\.1|\\[::\\]):${port}: EADDRINUSE`))
  }
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('bad command lines get a coded error and exit code 2', { timeout: 30_000 }, async () => {
  for (const args of [['run'], ['run', '--workers', '0', '--', 'node'], ['run', '--listen', 'nope:x', '--', 'node'], ['frobnicate'], ['status']]) {
    const r = await cli(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /ERR_GRACEFUL_INVALID_OPTION/)
  }
})
