// `graceful-restart run --user`: the supervisor (root) binds and writes its files, the
// workers run unprivileged. Needs root: skipped outside CI when not root, fails under CI.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { MARKER_ENV, processesWithMarker, readPidFile, rounds, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, tempDir } from './app.ts'
import { findSetpriv, parseGroups, parsePasswd } from '../../src/supervisor/credentials.ts'
import { CLI, reloadBySignal, supervise, SupervisorExited } from './supervised.ts'

function asRoot (t: { skip: (msg: string) => void }): boolean {
  if (process.getuid?.() !== 0) {
    if (process.env.CI !== undefined) assert.fail('these tests need root (CI runs as root)')
    t.skip('not root: --user needs root')
    return false
  }
  // Supplementary groups need setpriv (util-linux, essential on Debian): CI must have it.
  if (findSetpriv() === undefined && process.env.CI !== undefined) assert.fail('setpriv (util-linux) is missing')
  return true
}

/** A privileged port nothing listens on: 80 if it is free (it usually is), else another below 1024. */
async function privilegedPort (): Promise<number> {
  // 80 first in the README's run; in a random order where CI runs suites side by side (the
  // scaled re-runs on other Node lines), so two of them rarely probe the same port at once.
  const others = [8, 180, 280, 380, 480, 580, 680, 780, 880, 980]
  const candidates = process.env.GR_TEST_SCALE === undefined ? [80, ...others] : [80, ...others].sort(() => Math.random() - 0.5)
  for (const port of candidates) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free privileged port on 127.0.0.1')
}

/**
 * Starts a supervisor on a free privileged port. CI runs the suite on several Node lines side
 * by side, so another run may bind the port between the probe and the supervisor's bind: the
 * supervisor then exits with ERR_GRACEFUL_ADDRESS_IN_USE, and the next port is tried.
 */
async function superviseOnPrivilegedPort<S> (start: (port: number) => Promise<S>): Promise<{ s: S, port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await privilegedPort()
    try {
      return { s: await start(port), port }
    } catch (err) {
      if (attempt === 5 || !(err instanceof SupervisorExited) || !err.output.includes('ERR_GRACEFUL_ADDRESS_IN_USE')) throw err
    }
  }
}

/** Real, effective, saved and filesystem ids, and the supplementary groups, from /proc. */
function ids (pid: number): { uid: string, gid: string, groups: string } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): string => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).join(' ')
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') }
}

function environ (pid: number): Record<string, string> {
  return Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
}

test('run --user nobody --listen 127.0.0.1:80: workers run as nobody, reloads under load fail nothing, a worker reloads over its channel', { timeout: 120_000 }, async (t) => {
  if (!asRoot(t)) return
  const track = tracker(t)
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o755)
  const { s, port } = await superviseOnPrivilegedPort(async (port) => await supervise(t, track, {
    listen: false, dir, args: ['--workers', '2', '--upgrade-timeout', '15000', '--user', 'nobody', '--listen', `127.0.0.1:${port}`], env: { PORT: String(port), HOST: '127.0.0.1' }
  }))
  const nobody = parsePasswd(fs.readFileSync('/etc/passwd', 'utf8')).find((a) => a.name === 'nobody')
  assert.ok(nobody !== undefined, 'this system has a nobody user')
  // initgroups(nobody, gid): the gid, and every group that lists nobody as a member. Without
  // setpriv the workers get spawn's uid and gid and no supplementary group at all.
  const groups = findSetpriv() === undefined
    ? []
    : [...new Set([nobody.gid, ...parseGroups(fs.readFileSync('/etc/group', 'utf8')).filter((g) => g.members.includes('nobody')).map((g) => g.gid)])]
  const check = (): void => {
    // The serving workers: draining ones may exit between the status read and /proc's.
    const serving = s.status()?.workers.filter((w) => w.state === 'ready') ?? []
    assert.equal(serving.length, 2, 'two workers serve')
    for (const w of serving) {
      assert.deepEqual(ids(w.pid), { uid: Array(4).fill(nobody.uid).join(' '), gid: Array(4).fill(nobody.gid).join(' '), groups: groups.join(' ') }, `worker ${w.pid}`)
      const env = environ(w.pid)
      assert.deepEqual([env.HOME, env.USER], [nobody.home, 'nobody'])
    }
  }
  check()
  assert.equal(ids(s.pid).uid, '0 0 0 0', 'the supervisor keeps its own identity')
  assert.deepEqual(s.status()?.sockets.map((x) => [x.key, x.source]), [[`tcp:127.0.0.1:${port}`, 'listen']])

  const keepAlive = startLoad({ port, keepAlive: true, clients: 8, slowEvery: 25, slowMs: 300, durationMs: 100_000 })
  const fresh = startLoad({ port, keepAlive: false, clients: 8, slowEvery: 25, slowMs: 300, durationMs: 100_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const n = rounds(10)
  for (let i = 0; i < n; i++) {
    // The first reload comes from a worker: it may not signal root's supervisor, so SIGUSR2
    // makes it ask over its channel.
    await reloadBySignal(s, i === 0 ? { pid: s.status()?.workers[0]?.pid, signal: 'SIGUSR2' } : {})
  }
  // The worker asked for the first reload.
  await s.started.waitForLine((l) => /worker 0 of generation 1 \(pid \d+\): SIGUSR2: starting generation 2/.test(l))
  check()
  for (const [name, r] of [['keep-alive', await keepAlive.stop()], ['new connection per request', await fresh.stop()]] as const) {
    t.diagnostic(`--user nobody, port ${port}, ${n} reloads, ${name}: ${r.requests} requests, ${r.failed} failed`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  }
  process.kill(s.pid, 'SIGTERM')
  assert.deepEqual(await s.started.exited, { code: 0, signal: null })
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
})

test('--socket-mode and --socket-group apply to --listen unix:PATH before any worker exists; bad values are refused', { timeout: 60_000 }, async (t) => {
  if (!asRoot(t)) return
  const track = tracker(t)
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o755)
  const group = parseGroups(fs.readFileSync('/etc/group', 'utf8')).find((g) => g.gid !== 0)
  assert.ok(group !== undefined)
  const socketPath = path.join(dir, 'app.sock')
  // A worker that never gets ready: the socket's mode is already set without it.
  fs.writeFileSync(path.join(dir, 'mode'), 'hang')
  const pidFile = path.join(dir, 'sup.pid')
  const sup = track.startNode(CLI, {
    args: ['run', '--pid-file', pidFile, '--user', 'nobody', '--listen', `unix:${socketPath}`, '--socket-mode', '0660', '--socket-group', group.name, '--', process.execPath, FIXTURE],
    env: { SOCKET_PATH: socketPath, BOOT_MODE_FILE: path.join(dir, 'mode') }
  })
  await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  const stat = fs.statSync(socketPath)
  assert.equal(stat.isSocket(), true)
  assert.equal(stat.mode & 0o777, 0o660)
  assert.equal(stat.gid, group.gid)
  assert.equal(stat.uid, 0, 'the supervisor (root) owns the path')
  process.kill(sup.pid, 'SIGTERM')
  await sup.exited
  assert.equal(fs.existsSync(socketPath), false)

  for (const args of [['--user', 'no-such-user-here'], ['--user', 'nobody', '--group', 'no-such-group-here'], ['--group', 'nogroup'],
    ['--socket-mode', 'rw-rw----'], ['--socket-mode', '01777'], ['--socket-group', 'no-such-group-here']]) {
    const r = spawnSync(process.execPath, [CLI, 'run', ...args, '--', 'node', 'x.js'], { encoding: 'utf8', timeout: 10_000 })
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /ERR_GRACEFUL_INVALID_OPTION/)
  }
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
})

test('a supervisor that may not bind an address a worker asks for: the worker\'s listen() fails with ERR_GRACEFUL_BIND (EACCES)', { timeout: 60_000 }, async (t) => {
  if (!asRoot(t)) return
  const unprivilegedFrom = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
  if (unprivilegedFrom <= 80) {
    t.skip(`ip_unprivileged_port_start is ${unprivilegedFrom}: anyone may bind port 80 here`)
    return
  }
  const setpriv = findSetpriv()
  if (setpriv === undefined) {
    t.skip('setpriv not installed')
    return
  }
  // The supervisor below runs as nobody and spawns process.execPath: nobody must be able to
  // reach it (a Node unpacked under a 0700 directory is not; its workers would never start).
  const reach = spawnSync(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e',
    'require("node:child_process").execFileSync(process.execPath, ["--version"])'], { encoding: 'utf8', timeout: 10_000 })
  assert.equal(reach.status, 0, `nobody cannot spawn ${process.execPath} (is a parent directory 0700?): ${reach.stderr}`)
  const track = tracker(t)
  const dir = tempDir(t)
  fs.chmodSync(dir, 0o777)
  const port = await privilegedPort()
  // The supervisor itself runs as nobody here, started through setpriv (which keeps the
  // pid); the tracker still finds it and its workers by their marker.
  const sup = spawn(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, CLI, 'run', '--', process.execPath, FIXTURE], {
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, PORT: String(port), HOST: '127.0.0.1', [MARKER_ENV]: track.marker },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise((resolve) => sup.once('exit', resolve))
  let out = ''
  sup.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  sup.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
  await waitFor(() => out.includes(`listens on tcp:127.0.0.1:${port}: the supervisor cannot bind 127.0.0.1:${port}: EACCES`) &&
    out.includes("code: 'ERR_GRACEFUL_BIND'") && out.includes("errno: 'EACCES'"), { timeoutMs: 15_000, what: () => `the worker's coded error in\n${out}` })
  sup.kill('SIGTERM')
  await exited
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
})
