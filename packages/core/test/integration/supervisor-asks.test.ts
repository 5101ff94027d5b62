// `graceful-restart run` without --listen: a worker's listen() asks the supervisor over its
// IPC channel; the supervisor binds the address once, keeps it, and every later worker
// inherits it. Real processes, real sockets on loopback.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, isAlive, processesWithMarker, readPidFile, rounds, startLoad, tracker, waitFor, waitForAnswerFrom, type Started, type Tracker } from '@graceful-restart/test-utils'
import { events, FIXTURE, tempDir } from './app.ts'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const EXAMPLES = fileURLToPath(new URL('../../../../../examples/', import.meta.url))

interface Status {
  pid: number
  generation: number
  workers: Array<{ slot: number, pid: number, generation: number, state: string, restarts: number }>
  lastHandover?: { ok: boolean, generation: number, reason?: string }
  sockets: Array<{ key: string, source: string, address?: string, askedBy?: string }>
}

interface Supervised { pid: number, pidFile: string, started: Started, status: () => Status | undefined }

function cli (args: string[]): Promise<{ code: number, out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr })
    })
  })
}

async function supervise (track: Tracker, dir: string, command: string[], env: Record<string, string>, args: string[] = []): Promise<Supervised> {
  const pidFile = path.join(dir, 'sup.pid')
  const started = track.startNode(CLI, { args: ['run', '--pid-file', pidFile, '--upgrade-timeout', '15000', ...args, '--', ...command], env })
  const status = (): Status | undefined => {
    try { return JSON.parse(fs.readFileSync(`${pidFile}.json`, 'utf8')) as Status } catch { return undefined }
  }
  const pid = await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  const workers = args.includes('--workers') ? Number(args[args.indexOf('--workers') + 1]) : 1
  await waitFor(() => status()?.workers.filter((w) => w.state === 'ready').length === workers,
    { timeoutMs: 20_000, what: () => `workers ready\n${started.lines.slice(-20).join('\n')}` })
  return { pid, pidFile, started, status }
}

/**
 * SIGHUP to the supervisor; resolves once the next generation took over. Never more than
 * --max-draining (3) generations draining: beyond that the oldest drain is ended at once, by
 * design, and a reload every 200 ms would cut the slow requests it still serves.
 */
async function reload (s: Supervised): Promise<void> {
  await waitFor(() => new Set(s.status()?.workers.filter((w) => w.state === 'draining').map((w) => w.generation)).size < 3,
    { timeoutMs: 30_000, intervalMs: 10, what: 'fewer than 3 generations draining' })
  const next = (s.status()?.generation ?? 0) + 1
  process.kill(s.pid, 'SIGHUP')
  const last = await waitFor(() => {
    const h = s.status()?.lastHandover
    return h?.generation === next ? h : undefined
  }, { timeoutMs: 30_000, intervalMs: 10, what: `generation ${next}` })
  assert.equal(last.ok, true, last.reason)
}

async function stopAndCheckNothingLeft (track: Tracker, s: Supervised, port?: number): Promise<void> {
  const stop = await cli(['stop', '--pid-file', s.pidFile])
  assert.equal(stop.code, 0, stop.out)
  assert.deepEqual(await s.started.exited, { code: 0, signal: null })
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
  assert.equal(fs.existsSync(s.pidFile), false)
  if (port !== undefined) {
    const refused = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1')
      c.once('connect', () => { c.destroy(); resolve(false) })
      c.once('error', () => resolve(true))
    })
    assert.ok(refused, `port ${port} is free again`)
  }
}

for (const adapter of ['fastify', 'express', 'koa']) {
  test(`the ${adapter} example under \`run\` without --listen: reloads under load fail no request; stop leaves nothing`, { timeout: 180_000 }, async (t) => {
    const track = tracker(t)
    const dir = tempDir(t)
    const port = await freePort()
    const s = await supervise(track, dir, [process.execPath, path.join(EXAMPLES, adapter, 'server.js')], { PORT: String(port), HOST: '127.0.0.1' })
    assert.deepEqual(s.status()?.sockets.map((x) => [x.key, x.source]), [[`tcp:127.0.0.1:${port}`, 'worker']])
    const keepAlive = startLoad({ port, keepAlive: true, clients: 4, slowEvery: 25, slowMs: 300, durationMs: 150_000 })
    const fresh = startLoad({ port, keepAlive: false, clients: 4, slowEvery: 25, slowMs: 300, durationMs: 150_000 })
    t.after(async () => { await keepAlive.stop(); await fresh.stop() })
    const n = rounds(20)
    for (let i = 0; i < n; i++) {
      await reload(s)
      // Each new worker answers new connections before the next reload: the kernel, not the
      // test's timing, would otherwise decide which workers ever see traffic.
      const worker = s.status()?.workers.find((w) => w.state === 'ready')
      assert.ok(worker !== undefined, 'a ready worker after the reload')
      await waitForAnswerFrom(fresh, worker.pid)
    }
    const reports = [await keepAlive.stop(), await fresh.stop()]
    for (const [name, r] of [['keep-alive', reports[0]], ['new connection per request', reports[1]]] as const) {
      t.diagnostic(`${adapter}, ${n} reloads, ${name}: ${r?.requests} requests, ${r?.failed} failed, ${Object.keys(r?.byPid ?? {}).length} workers answered`)
      assert.equal(r?.failed, 0, JSON.stringify(r?.errorSamples.slice(0, 5)))
    }
    assert.ok(Object.keys(reports[1]?.byPid ?? {}).length >= Math.min(n, 5), 'new workers served')
    assert.equal(s.status()?.generation, n + 1)
    assert.equal(s.status()?.sockets.length, 1, 'bound once, for every generation')
    await stopAndCheckNothingLeft(track, s, port)
  })
}

test('listen(0) under two workers: one port for all of them, kept across a reload and a crash restart; the app\'s own IPC is left alone', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const s = await supervise(track, dir, [process.execPath, FIXTURE], { HOST: '127.0.0.1', APP_IPC: '1' }, ['--workers', '2'])
  const ports = (): number[] => s.started.lines.flatMap((line) => {
    const m = /"event":"listening".*"port":(\d+)/.exec(line)
    return m === null ? [] : [Number(m[1])]
  })
  const [socket] = s.status()?.sockets ?? []
  assert.equal(socket?.key, 'tcp:127.0.0.1:0', 'named as the app asked: every worker asks for port 0 again')
  assert.equal(socket?.source, 'worker')
  assert.match(socket?.askedBy ?? '', /^worker \d of generation 1 \(pid \d+\)$/)
  const port = Number(/:(\d+)$/.exec(socket?.address ?? '')?.[1])
  assert.deepEqual([...new Set(ports())], [port], 'both first workers serve the one port the supervisor got')

  await reload(s)
  const victim = s.status()?.workers[0]?.pid as number
  process.kill(victim, 'SIGKILL')
  await waitFor(() => { const w = s.status()?.workers[0]; return w !== undefined && w.pid !== victim && w.state === 'ready' }, { timeoutMs: 15_000, what: 'worker 0 restarted' })
  assert.equal(ports().length, 5, 'two first workers, two after the reload, one restarted')
  assert.deepEqual([...new Set(ports())], [port])
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
  assert.equal(res.status, 200)

  const text = await cli(['status', '--pid-file', s.pidFile])
  assert.match(text.out, new RegExp(`^listener {4}tcp:127\\.0\\.0\\.1:0 on 127\\.0\\.0\\.1:${port} {2}asked for by worker \\d of generation 1`, 'm'))
  // The app's process.send() reached the supervisor, which ignored it; none of the
  // supervisor's messages reached the app's process.on('message').
  assert.deepEqual(events(s.started, 'app-message'), [])
  assert.ok(isAlive(s.pid))
  await stopAndCheckNothingLeft(track, s, port)
})

test('a unix socket a worker asks for belongs to the supervisor: replaced workers never unlink it, and it goes when the supervisor stops', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  const s = await supervise(track, dir, [process.execPath, FIXTURE], { SOCKET_PATH: socketPath }, ['--socket-mode', '0600'])
  assert.deepEqual(s.status()?.sockets.map((x) => [x.key, x.source]), [[`unix:${socketPath}`, 'worker']])
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600)
  const load = startLoad({ socketPath, keepAlive: false, clients: 4, slowEvery: 10, slowMs: 100, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const first = s.status()?.workers.map((w) => w.pid) ?? []
  for (let i = 0; i < 3; i++) await reload(s)
  // Once the replaced workers are gone, the path they served is still there.
  await waitFor(() => first.every((pid) => !isAlive(pid)), { timeoutMs: 15_000, what: 'the first workers exited' })
  assert.ok(fs.statSync(socketPath).isSocket())
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 3)))
  await stopAndCheckNothingLeft(track, s)
  assert.equal(fs.existsSync(socketPath), false, 'the supervisor removes the path it bound')
})

test('a bind the supervisor cannot do: the worker\'s listen() fails with a coded error and never hangs; the supervisor stays up', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const holder = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => holder.once('listening', resolve))
  t.after(() => holder.close())
  const port = (holder.address() as net.AddressInfo).port

  const pidFile = path.join(dir, 'sup.pid')
  const sup = track.startNode(CLI, { args: ['run', '--pid-file', pidFile, '--', process.execPath, FIXTURE], env: { PORT: String(port), HOST: '127.0.0.1' } })
  await sup.waitForLine((l) => l.includes(`listens on tcp:127.0.0.1:${port}: the supervisor cannot bind 127.0.0.1:${port}: EADDRINUSE`), 15_000)
  await sup.waitForLine((l) => l.includes("code: 'ERR_GRACEFUL_ADDRESS_IN_USE'"), 15_000)
  await sup.waitForLine((l) => l.includes("errno: 'EADDRINUSE'"), 5_000)
  await sup.waitForLine((l) => /worker 0 \(pid \d+\) exited unexpectedly \(code 1\)/.test(l), 15_000)
  process.kill(sup.pid, 'SIGTERM')
  assert.equal((await sup.exited).code, 0)
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
})
