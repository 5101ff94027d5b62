// `graceful-restart reload|stop|status` against real processes: they never signal a process
// that did not write the PID file, and `reload --wait` reports the outcome in both modes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { freePort, isAlive, readPidFile, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, events, setMode, tempDir, waitGone } from './app.ts'
import { identityOf } from '../../src/identity.ts'
import { cli, supervise, type CliRun } from './supervised.ts'

const EXAMPLE = path.resolve(path.dirname(FIXTURE), '../../../../../examples/fastify/server.js')

// A victim that the test can always account for: alive, not a zombie, and no signal
// pending. kill(2) queues the signal before it returns, so once a CLI has exited, a signal
// it sent is either pending or has already ended the process: no waiting needed.
async function startVictim (t: { after: (fn: () => unknown) => unknown }): Promise<number> {
  const sleep = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.after(() => { sleep.kill('SIGKILL') })
  await once(sleep, 'spawn')
  return sleep.pid as number
}

function untouched (pid: number): boolean {
  if (!isAlive(pid)) return false
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return /^SigPnd:\s+0+$/m.test(status) && /^ShdPnd:\s+0+$/m.test(status)
}

function refusedNaming (r: CliRun, what: RegExp): void {
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.match(r.stderr, /ERR_GRACEFUL_STALE_PIDFILE/)
  assert.match(r.stderr, what)
  assert.match(r.stderr, /nothing was signalled/)
}

test('after a supervisor was SIGKILLed: a stale PID file, then its PID "reused" by a sleep: stop, reload and status refuse and name it; the next start replaces the files', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const first = await supervise(t, track, { dir })
  process.kill(first.pid, 'SIGKILL')
  await waitGone([first.pid])
  assert.equal(readPidFile(first.pidFile), first.pid, 'a SIGKILLed supervisor leaves its PID file behind')

  // No process has the PID.
  for (const command of ['stop', 'reload', 'status']) {
    refusedNaming(await cli([command, '--pid-file', first.pidFile]), new RegExp(`names PID ${first.pid}, but no process has that PID`))
  }

  // The PID is reused by an unrelated process: both files now name it, as they would.
  const victim = await startVictim(t)
  const status = JSON.parse(fs.readFileSync(`${first.pidFile}.json`, 'utf8')) as { pid: number }
  fs.writeFileSync(first.pidFile, `${victim}\n`)
  fs.writeFileSync(`${first.pidFile}.json`, JSON.stringify({ ...status, pid: victim }))
  for (const command of ['stop', 'reload', 'status']) {
    refusedNaming(await cli([command, '--pid-file', first.pidFile]), new RegExp(`PID ${victim} \\("sleep 300"\\); it started after the process that wrote the file`))
    assert.ok(untouched(victim), `${command}: the sleep got no signal`)
  }
  // Only the PID file rewritten (the status still describes the dead supervisor), or no
  // status at all (a PID file from elsewhere): nothing vouches for the PID either.
  fs.writeFileSync(`${first.pidFile}.json`, JSON.stringify(status))
  refusedNaming(await cli(['stop', '--pid-file', first.pidFile]), new RegExp(`names PID ${victim} \\("sleep 300"\\), but .*sup\\.pid\\.json describes PID ${first.pid}`))
  fs.rmSync(`${first.pidFile}.json`)
  refusedNaming(await cli(['reload', '--pid-file', first.pidFile]), /\("sleep 300"\), but .*sup\.pid\.json is missing/)
  // A status file of an earlier release, which recorded no identity, vouches for nothing.
  const { identity, ...older } = status as { identity?: unknown }
  assert.ok(identity !== undefined)
  fs.writeFileSync(`${first.pidFile}.json`, JSON.stringify({ ...older, pid: victim }))
  refusedNaming(await cli(['stop', '--pid-file', first.pidFile]), /\("sleep 300"\), but .*records no identity/)
  assert.ok(untouched(victim), 'the sleep survived every command')

  // The next start replaces the stale files; the commands work again.
  const second = await supervise(t, track, { dir })
  assert.notEqual(second.pid, victim)
  const shown = await cli(['status', '--pid-file', second.pidFile])
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, new RegExp(`supervisor  pid ${second.pid} \\(running\\)`))
  const stopped = await cli(['stop', '--pid-file', second.pidFile])
  assert.equal(stopped.code, 0, stopped.stderr)
  assert.equal(fs.existsSync(second.pidFile), false)
  assert.equal(fs.existsSync(`${second.pidFile}.json`), false)
  const gone = await cli(['status', '--pid-file', second.pidFile])
  assert.equal(gone.code, 3)
  assert.match(gone.stdout, /not running \(no PID file/)
  assert.ok(untouched(victim))
})

test('stop --timeout: a process still there at the timeout fails with ERR_GRACEFUL_STOP_TIMEOUT (exit 1) and is left running', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  // A process that takes SIGTERM and goes on, as one draining a long request would.
  const stubborn = track.start(process.execPath, ['-e', "process.on('SIGTERM', () => console.log('SIGTERM')); console.log('ready'); setInterval(() => {}, 1000)"])
  await stubborn.waitForLine((l) => l === 'ready')
  const pidFile = path.join(dir, 'app.pid')
  fs.writeFileSync(pidFile, `${stubborn.pid}\n`)
  fs.writeFileSync(`${pidFile}.json`, JSON.stringify({ kind: 'generation', pid: stubborn.pid, identity: identityOf(stubborn.pid), reloadSignal: 'SIGUSR2', generation: 1, startedAt: Date.now() }))
  const r = await cli(['stop', '--pid-file', pidFile, '--timeout', '200'])
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.equal(r.stderr, `graceful-restart: ERR_GRACEFUL_STOP_TIMEOUT: PID ${stubborn.pid} still running after --timeout\n`)
  await stubborn.waitForLine((l) => l === 'SIGTERM')
  assert.ok(isAlive(stubborn.pid), 'stop sends SIGTERM once and never kills')
})

// The names the writers used before O_EXCL temporaries: `.FILE.<pid>.tmp`.
function plantAtOldNames (dir: string, files: string[], pid: number, victim: string): void {
  for (const file of files) fs.symlinkSync(victim, path.join(dir, `.${path.basename(file)}.${pid}.tmp`))
}

test('the supervisor: symlinks planted at the temporary names of its PID and status files are never written through', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const s = await supervise(t, track, { dir })
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious\n')
  plantAtOldNames(dir, [s.pidFile, `${s.pidFile}.json`], s.pid, victim)
  const reloaded = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
  assert.equal(reloaded.code, 0, reloaded.stdout + reloaded.stderr)
  assert.match(reloaded.stdout, /^generation 2 ready in \d+ ms \(workers \d+\)$/m)
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched')
  assert.equal((await cli(['stop', '--pid-file', s.pidFile])).code, 0)
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n')
})

test('re-exec mode, the Fastify example: reload --wait exits 0 with the new PID, 1 with the reason after a release that throws at boot', { timeout: 90_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const port = await freePort()
  const pidFile = path.join(dir, 'app.pid')
  const mode = path.join(dir, 'mode')
  // The release: the example as it is, unless the mode file says this release is broken.
  const boot = path.join(dir, 'boot.mjs')
  fs.writeFileSync(boot, `import fs from 'node:fs'
if (fs.existsSync(${JSON.stringify(mode)}) && fs.readFileSync(${JSON.stringify(mode)}, 'utf8').trim() === 'throw') throw new Error('release broken at boot')
await import(${JSON.stringify(EXAMPLE)})
`)
  track.startNode(boot, { env: { PORT: String(port), HOST: '127.0.0.1', PID_FILE: pidFile } })
  const first = await waitFor(() => readPidFile(pidFile), { timeoutMs: 15_000, what: 'first generation ready' })
  const load = startLoad({ port, keepAlive: true, clients: 4, durationMs: 60_000 })
  t.after(async () => { await load.stop() })

  const good = await cli(['reload', '--pid-file', pidFile, '--wait'])
  assert.equal(good.code, 0, good.stdout + good.stderr)
  const [, generation, pid] = /^generation (\d+) ready in \d+ ms \(pid (\d+)\)$/m.exec(good.stdout) ?? []
  assert.equal(generation, '2')
  assert.equal(Number(pid), readPidFile(pidFile), 'the PID it prints is the one the PID file names')
  assert.notEqual(Number(pid), first)
  const second = Number(pid)
  const answer = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
  assert.equal(answer.headers.get('x-pid'), String(second))
  const shown = await cli(['status', '--pid-file', pidFile])
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, new RegExp(`app         pid ${second}, generation 2 \\(re-exec mode\\)`))
  assert.match(shown.stdout, /last {8}generation 2 ready in \d+ ms/)

  // A rollback rewrites both files: links planted at their old temporary names stay untouched.
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious\n')
  plantAtOldNames(dir, [pidFile, `${pidFile}.json`], second, victim)
  fs.writeFileSync(mode, 'throw')
  const bad = await cli(['reload', '--pid-file', pidFile, '--wait'])
  assert.equal(bad.code, 1, bad.stdout + bad.stderr)
  assert.match(bad.stdout, /^reload failed: next generation exited before it was ready \(code 1\)$/m)
  assert.equal(readPidFile(pidFile), second, 'the running generation keeps the PID file')
  const still = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
  assert.equal(still.headers.get('x-pid'), String(second), 'and keeps serving')
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n')
  assert.match((await cli(['status', '--pid-file', pidFile])).stdout, /last {8}generation 3 FAILED in \d+ ms, .*exited before it was ready/)

  const report = await load.stop()
  t.diagnostic(`${report.requests} requests during the two reloads, ${report.failed} failed`)
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
  const stopped = await cli(['stop', '--pid-file', pidFile])
  assert.equal(stopped.code, 0, stopped.stderr)
  assert.equal(fs.existsSync(pidFile), false)
  assert.equal(fs.existsSync(`${pidFile}.json`), false, 'the last generation takes its status with it')
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n')
})

test('re-exec mode: a reload --wait whose signal a running handover absorbed waits for a handover of its own', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const pidFile = path.join(dir, 'app.pid')
  const gate = path.join(dir, 'gate')
  const started = track.startNode(FIXTURE, {
    env: { PID_FILE: pidFile, BOOT_MODE_FILE: path.join(dir, 'mode'), GATE_FILE: gate, NODE_DEBUG: 'graceful-restart' }
  })
  const first = await waitFor(() => readPidFile(pidFile), { timeoutMs: 15_000, what: 'first generation ready' })
  setMode({ dir }, 'gate') // the next generations become ready only once the gate file exists
  const a = cli(['reload', '--pid-file', pidFile, '--wait'])
  await waitFor(() => events(started, 'handover:spawn').some((e) => e.pid === first), { timeoutMs: 10_000, what: 'handover A running' })
  const b = cli(['reload', '--pid-file', pidFile, '--wait'])
  await started.waitForLine((line) => line.includes('handover already running; request ignored'), 10_000)
  fs.writeFileSync(gate, '')
  const [ra, rb] = await Promise.all([a, b])
  assert.equal(ra.code, 0, ra.stdout + ra.stderr)
  assert.equal(rb.code, 0, rb.stdout + rb.stderr)
  const [, genA, pidA] = /^generation (\d+) ready in \d+ ms \(pid (\d+)\)$/m.exec(ra.stdout) ?? []
  const [, genB, pidB] = /^generation (\d+) ready in \d+ ms \(pid (\d+)\)$/m.exec(rb.stdout) ?? []
  assert.equal(genA, '2')
  assert.equal(genB, '3', 'B reports a generation started after its signal, not the one that absorbed it')
  assert.notEqual(pidA, pidB)
  assert.equal(readPidFile(pidFile), Number(pidB))
})
