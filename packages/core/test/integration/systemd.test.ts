import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, processesWithMarker, readPidFile, startLoad, tracker, waitFor, waitForAnswerFrom } from '@graceful-restart/test-utils'
import { FIXTURE, handover, setMode, startApp, tempDir, waitGone } from './app.ts'

const EXAMPLES = fileURLToPath(new URL('../../../../../examples/systemd/', import.meta.url))
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

function tool (name: string, t: { skip: (msg: string) => void }): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`]).stdout.toString().trim()
  if (found !== '') return found
  if (process.env.CI !== undefined) assert.fail(`${name} is missing (CI installs it)`)
  t.skip(`${name} not installed`)
  return undefined
}

test('the example unit files pass systemd-analyze verify', { timeout: 60_000 }, async (t) => {
  const analyze = tool('systemd-analyze', t)
  if (analyze === undefined) return
  const dir = tempDir(t)
  // Point the units at paths that exist here; everything else is verified as written.
  for (const name of ['app.service', 'app-supervised.service', 'app.socket']) {
    const text = fs.readFileSync(path.join(EXAMPLES, name), 'utf8')
      .replaceAll('/usr/bin/node', process.execPath)
      .replaceAll('/srv/app/current/node_modules/@graceful-restart/core/dist/src/cli/main.js', CLI)
      .replaceAll('/srv/app/current', dir)
    fs.writeFileSync(path.join(dir, name), text)
  }
  fs.writeFileSync(path.join(dir, 'server.js'), '')
  for (const name of ['app.service', 'app-supervised.service', 'app.socket']) {
    const r: { stdout: string, stderr: string } = spawnSync(analyze, ['verify', '--man=no', path.join(dir, name)], { encoding: 'utf8', cwd: dir })
    const problems: string[] = (r.stderr + r.stdout).split('\n').filter((l: string) => l.includes(name) || /error|invalid|unknown/i.test(l))
      // Verifying needs neither a running systemd nor the app's dependencies; ignore what a
      // container without systemd as PID 1 cannot know.
      .filter((l: string) => !/Failed to (connect|setup|initialize)|systemd-journald|System has not been booted|sockets\.target|multi-user\.target|network\.target/.test(l))
    assert.deepEqual(problems, [], `${name}: ${r.stderr}`)
  }
})

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n)

// The datagrams the receiver printed (Python repr, so "\n" appears as backslash-n), in order.
function messages (received: string): string[] {
  return received.split('\n').filter((l) => l.startsWith("'")).map((l) => l.slice(1, -1))
}

test('sd_notify: each generation that becomes ready tells systemd READY=1 and its MAINPID; a handover is RELOADING=1 (with MONOTONIC_USEC) then READY=1, also when it rolls back', { timeout: 60_000 }, async (t) => {
  if (tool('systemd-notify', t) === undefined) return
  if (tool('python3', t) === undefined) return
  const track = tracker(t)
  const dir = tempDir(t)
  const socket = path.join(dir, 'notify.sock')
  // Node has no unix datagram sockets; a few lines of Python stand in for systemd's end.
  const receiver = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    print(repr(s.recv(4096).decode()), flush=True)
`, socket], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { receiver.kill('SIGKILL') })
  let received = ''
  receiver.stdout.on('data', (chunk: Buffer) => { received += chunk.toString() })
  await waitFor(() => received.includes('bound'), { timeoutMs: 10_000, what: 'receiver bound' })
  const app = await startApp(track, dir, { NOTIFY_SOCKET: socket })
  await waitFor(() => received.includes(`READY=1\\nMAINPID=${app.pid}`), { timeoutMs: 10_000, what: `READY=1 MAINPID=${app.pid} in ${received}` })
  const first = app.pid
  const signalled = monotonicUs()
  const second = await handover(app)
  await waitFor(() => received.includes(`READY=1\\nMAINPID=${second}`), { timeoutMs: 10_000, what: `MAINPID=${second} in ${received}` })
  // What Type=notify-reload waits for: RELOADING=1 stamped after systemd's signal, then READY=1.
  let sent = messages(received)
  const reloading = sent.findIndex((m) => m.startsWith('RELOADING=1\\nMONOTONIC_USEC='))
  assert.ok(reloading >= 0, sent.join(' | '))
  assert.ok(Number(/MONOTONIC_USEC=(\d+)/.exec(sent[reloading] ?? '')?.[1]) >= signalled, 'stamped after the signal, on the same clock')
  assert.ok(reloading < sent.findIndex((m) => m.startsWith(`READY=1\\nMAINPID=${second}`)), `RELOADING=1 before the new generation's READY=1: ${sent.join(' | ')}`)
  await waitGone([first])

  // A release that throws at boot: the old generation ends the reload itself and says why.
  setMode(app, 'throw')
  const before = sent.length
  const again = monotonicUs()
  process.kill(second, 'SIGUSR2')
  await waitFor(() => messages(received).slice(before).some((m) => m.startsWith('READY=1\\nSTATUS=handover failed')), { timeoutMs: 20_000, what: `READY=1 after the rollback in ${received}` })
  sent = messages(received).slice(before).filter((m) => m !== 'BARRIER=1')
  assert.match(sent[0] ?? '', /^RELOADING=1\\nMONOTONIC_USEC=\d+$/)
  assert.ok(Number(/MONOTONIC_USEC=(\d+)/.exec(sent[0] ?? '')?.[1]) >= again)
  assert.equal(sent[1], 'READY=1\\nSTATUS=handover failed, still serving: next generation exited before it was ready (code 1)')
  assert.equal(sent.some((m) => m.includes('MAINPID=')), false, 'the main PID stays')
  process.kill(second, 'SIGTERM')
  await waitFor(() => received.includes('STOPPING=1'), { timeoutMs: 10_000, what: 'STOPPING=1' })
})

test('supervisor mode with systemd socket activation: the supervisor adopts the socket and its workers serve it', { timeout: 60_000 }, async (t) => {
  const activate = tool('systemd-socket-activate', t)
  if (activate === undefined) return
  const track = tracker(t)
  const dir = tempDir(t)
  const port = await freePort()
  const pidFile = path.join(dir, 'sup.pid')
  const vars = { PORT: String(port), HOST: '127.0.0.1', GR_TEST_MARKER: track.marker, PATH: process.env.PATH ?? '' }
  const activated = spawn(activate, ['-l', `127.0.0.1:${port}`, ...Object.entries(vars).map(([k, v]) => `-E${k}=${v}`),
    process.execPath, CLI, 'run', '--workers', '2', '--pid-file', pidFile, '--', process.execPath, FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { activated.kill('SIGKILL') })
  let stderr = ''
  let stdout = ''
  activated.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  activated.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  await waitFor(() => stderr.includes('Listening on'), { timeoutMs: 10_000, what: 'systemd-socket-activate listening' })
  // The first connection starts the supervisor; a worker answers it on the same socket.
  const first = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
  assert.equal(first.status, 200)
  const supervisor = await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  assert.equal(supervisor, activated.pid, 'the supervisor runs as the activated process')
  assert.match(stderr, new RegExp(`on tcp:127\\.0\\.0\\.1:${port}`))
  // The supervisor labels each worker's lines `[g<generation> w<slot> <pid>]`.
  const generationOf = (pid: number): number | undefined => {
    const label = new RegExp(`^\\[g(\\d+) w\\d+ ${pid}\\]`, 'm').exec(`${stdout}\n${stderr}`)
    return label === null ? undefined : Number(label[1])
  }
  const load = startLoad({ port, keepAlive: true, clients: 8, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  await waitForAnswerFrom(load, (pid) => generationOf(pid) === 1, { what: 'a worker of generation 1' })
  for (let generation = 2; generation <= 4; generation++) {
    process.kill(supervisor, 'SIGHUP')
    await waitFor(() => stderr.includes(`generation ${generation} ready`), { timeoutMs: 15_000, what: `generation ${generation}` })
    // Ready is the supervisor's side; the reload is over for the clients once a worker of
    // the new generation answers them. Only then the next reload: the kernel, not the
    // product, would decide whether generation N or N + 1 takes the connections that
    // generation N - 1 closes.
    await waitForAnswerFrom(load, (pid) => generationOf(pid) === generation, { what: `a worker of generation ${generation}` })
  }
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
  const served = [...new Set(Object.keys(report.byPid).map((pid) => generationOf(Number(pid))))].sort()
  assert.deepEqual(served, [1, 2, 3, 4], `requests reached workers of every generation (pids ${JSON.stringify(report.byPid)})`)
  process.kill(supervisor, 'SIGTERM')
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 15_000, what: 'everything stopped' })
})
