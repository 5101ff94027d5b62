// `graceful-restart run` without --listen: a worker's listen() asks the supervisor over its
// IPC channel; the supervisor binds the address once, keeps it, and every later worker
// inherits it. Real processes, real sockets on loopback.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, isAlive, processesWithMarker, rounds, startLoad, tracker, waitFor, waitForAnswerFrom, type Tracker } from '@graceful-restart/test-utils'
import { events, FIXTURE, tempDir } from './app.ts'
import { CLI, cli, reloadBySignal as reload, stopAndCheckNothingLeft, supervise as superviseApp } from './supervised.ts'

const EXAMPLES = fileURLToPath(new URL('../../../../../examples/', import.meta.url))

/** `command` without --listen: its workers ask for their sockets. New workers get 15 s to be ready. */
function supervise (t: { after: (fn: () => unknown) => unknown }, track: Tracker, dir: string, command: string[], env: Record<string, string>, args: string[] = []) {
  return superviseApp(t, track, { listen: false, dir, command, env, args: ['--upgrade-timeout', '15000', ...args] })
}

for (const adapter of ['fastify', 'express', 'koa']) {
  test(`the ${adapter} example under \`run\` without --listen: reloads under load fail no request; stop leaves nothing`, { timeout: 180_000 }, async (t) => {
    const track = tracker(t)
    const dir = tempDir(t)
    const port = await freePort()
    const s = await supervise(t, track, dir, [process.execPath, path.join(EXAMPLES, adapter, 'server.js')], { PORT: String(port), HOST: '127.0.0.1' })
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
  const s = await supervise(t, track, dir, [process.execPath, FIXTURE], { HOST: '127.0.0.1', APP_IPC: '1' }, ['--workers', '2'])
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
  assert.match(text.stdout, new RegExp(`^listener {4}tcp:127\\.0\\.0\\.1:0 on 127\\.0\\.0\\.1:${port} {2}asked for by worker \\d of generation 1`, 'm'))
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
  const s = await supervise(t, track, dir, [process.execPath, FIXTURE], { SOCKET_PATH: socketPath }, ['--socket-mode', '0600'])
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
