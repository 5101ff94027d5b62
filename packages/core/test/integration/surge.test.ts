// `graceful-restart run --surge K`: reloads in steps of K, never more than N + K worker
// processes (draining ones included), never fewer than N ready; a step that fails leaves a
// mixed set serving, which status shows, and which the next reload replaces whole.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { rounds, startLoad, tracker, waitFor, type Tracker } from '@graceful-restart/test-utils'
import { FIXTURE, tempDir } from './app.ts'
import { cli, supervise as superviseApp, type Status } from './supervised.ts'
import { startSampler } from './worker-sampler.ts'

/** The app (the fixture, or a script in `cwd`) with `args`; new workers get 20 s to be ready, old ones 10 s to drain. */
function supervise (t: { after: (fn: () => unknown) => unknown }, track: Tracker, args: string[], env: Record<string, string> = {}, app: { script: string, cwd?: string } = { script: FIXTURE }) {
  return superviseApp(t, track, {
    args: ['--upgrade-timeout', '20000', '--drain-timeout', '10000', ...args],
    command: [process.execPath, app.script],
    env: { ...(app.cwd === undefined ? {} : { PWD: app.cwd }), ...env },
    cwd: app.cwd
  })
}

// A deploy directory: releases/vN/server.mjs runs the fixture; `current` names one release.
function releases (root: string, versions: string[]): (version: string) => void {
  for (const version of versions) {
    fs.mkdirSync(path.join(root, 'releases', version), { recursive: true })
    fs.writeFileSync(path.join(root, 'releases', version, 'server.mjs'), `await import(${JSON.stringify(FIXTURE)})\n`)
  }
  return (version) => {
    fs.rmSync(path.join(root, 'current.tmp'), { force: true })
    fs.symlinkSync(path.join('releases', version), path.join(root, 'current.tmp'))
    fs.renameSync(path.join(root, 'current.tmp'), path.join(root, 'current'))
  }
}

function releaseOf (pid: number): string {
  return path.basename(fs.readlinkSync(`/proc/${pid}/cwd`))
}

function environOf (pid: number): Record<string, string> {
  return Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}

test('--workers 4 --surge 1: reloads under load fail no request; sampled every 10 ms, never more than 5 workers alive nor fewer than 4 ready', { timeout: 300_000 }, async (t) => {
  const track = tracker(t)
  const s = await supervise(t, track, ['--workers', '4', '--surge', '1'])
  const sampler = startSampler({ marker: track.marker, exclude: [s.pid], statusFile: s.statusFile, intervalMs: 10 })
  const keepAlive = startLoad({ port: s.port, keepAlive: true, clients: 8, slowEvery: 25, slowMs: 300, durationMs: 280_000 })
  const fresh = startLoad({ port: s.port, keepAlive: false, clients: 8, slowEvery: 25, slowMs: 300, durationMs: 280_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const n = rounds(20)
  const durations: number[] = []
  for (let i = 0; i < n; i++) {
    const r = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    durations.push(Number(/in (\d+) ms/.exec(r.stdout)?.[1]))
  }
  const report = await sampler.stop({ mostAlive: 5, fewestReady: 4 })
  const loads = [await keepAlive.stop(), await fresh.stop()]
  durations.sort((a, b) => a - b)
  const steps = s.started.lines.map((l) => /took over \(step \d.*; ready in (\d+) ms(?: after (\d+) ms waiting)?/.exec(l)).filter((m) => m !== null)
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
  t.diagnostic(`${n} reloads, each ${durations[0]}-${durations.at(-1)} ms (median ${durations[Math.floor(n / 2)]}); per step: new worker ready in ${median(steps.map((m) => Number(m[1])))} ms, ` +
    `waited ${median(steps.map((m) => Number(m[2] ?? 0)))} ms for the drained one to exit (medians)`)
  t.diagnostic(`${report.samples} samples (gap median ${report.medianGapMs} ms, longest ${report.longestGapMs} ms, ${report.reniced ? 'sampler thread at nice -15' : 'sampler at normal priority'}, ${report.undecided} met an unreadable environment): ` +
    `most alive ${report.mostAlive}, fewest ready ${report.fewestReady}, alive histogram ${JSON.stringify(report.aliveHistogram)}; ` +
    `requests ${loads.map((l) => `${l.requests} (${l.failed} failed)`).join(' + ')}`)
  for (const l of loads) assert.equal(l.failed, 0, JSON.stringify(l.errorSamples.slice(0, 5)))
  assert.ok(report.mostAlive <= 5, `more than 5 workers alive: ${report.breaches.join('; ')}`)
  assert.ok(report.fewestReady >= 4, `fewer than 4 ready: ${report.breaches.join('; ')}`)
  // The sampler does see the surge (so the bound above is not met by a blind sampler).
  assert.ok((report.aliveHistogram[5] ?? 0) > 0, JSON.stringify(report.aliveHistogram))
  const status = s.status()
  assert.deepEqual(status?.workers.filter((w) => w.state === 'ready').map((w) => w.generation), [n + 1, n + 1, n + 1, n + 1])
  assert.equal(status?.roll?.state, 'done')
  assert.equal(status?.roll?.steps, 4)
  assert.equal(s.started.lines.filter((l) => /generation \d+: \d\/4 workers took over \(step \d/.test(l)).length, 4 * n)
})

test('a release whose 3rd worker crashes at boot: the roll stops at 2/4, 4 workers keep serving, status says what happened; crash restarts run their own release; the next reload replaces all', { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  // A symlinked deploy (the release directory) with an env file (its settings).
  const deploy = releases(dir, ['v1', 'v2', 'v3'])
  deploy('v1')
  const envFile = path.join(dir, 'release.env')
  fs.writeFileSync(envFile, 'APP_VERSION=v1\n')
  const s = await supervise(t, track, ['--workers', '4', '--surge', '1', '--env-file', envFile], {}, { script: 'server.mjs', cwd: path.join(dir, 'current') })
  assert.ok(s.status()?.workers.every((w) => releaseOf(w.pid) === 'v1'))
  let load = startLoad({ port: s.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 60_000 })
  let fresh = startLoad({ port: s.port, keepAlive: false, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 60_000 })
  t.after(async () => { await load.stop(); await fresh.stop() })

  // v2: worker index 2, the third one the roll starts, exits at boot.
  deploy('v2')
  fs.writeFileSync(envFile, 'APP_VERSION=v2\nCRASH_WORKER=2\n')
  const r = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.match(r.stdout, /reload failed: worker 2 of generation 2 exited before it was ready \(code 1\) \(roll stopped at 2\/4; serving: 2 on generation 2, 2 on generation 1\)/)
  for (const l of [await load.stop(), await fresh.stop()]) {
    t.diagnostic(`failed roll: ${l.requests} requests, ${l.failed} failed`)
    assert.equal(l.failed, 0, JSON.stringify(l.errorSamples.slice(0, 5)))
  }
  // The workers that took over drained their predecessors; wait until those are gone.
  const mixed = await waitFor(() => { const st = s.status(); return st?.workers.length === 4 ? st : undefined }, { timeoutMs: 20_000, what: 'the drained workers to exit' })
  assert.deepEqual(mixed?.workers.map((w) => [w.slot, w.generation, w.state]), [[0, 2, 'ready'], [1, 2, 'ready'], [2, 1, 'ready'], [3, 1, 'ready']])
  assert.deepEqual(mixed?.roll && { state: mixed.roll.state, replaced: mixed.roll.replaced, serving: mixed.roll.serving }, {
    state: 'stopped', replaced: 2, serving: [{ generation: 2, workers: 2 }, { generation: 1, workers: 2 }]
  })
  const text = await cli(['status', '--pid-file', s.pidFile])
  assert.match(text.stdout, /^roll {8}2\/4 on g2 \(2 on g1\), 1 at a time: STOPPED after \d+ ms: worker 2 of generation 2 exited before it was ready \(code 1\)$/m)
  assert.match(text.stdout, /last {8}generation 2 FAILED in \d+ ms/)
  assert.match(text.stdout, /handovers ok 0, failed 1/)
  const json = JSON.parse((await cli(['status', '--pid-file', s.pidFile, '--json'])).stdout) as Status
  assert.equal(json.roll?.state, 'stopped')

  // A crash restart starts the worker's own release: `current` and the env file say v2 now,
  // a generation 1 worker comes back as v1 (its directory and settings), a generation 2 one as v2.
  for (const [slot, version] of [[3, 'v1'], [0, 'v2']] as const) {
    const victim = mixed?.workers.find((w) => w.slot === slot) as Status['workers'][number]
    process.kill(victim.pid, 'SIGKILL')
    const back = await waitFor(() => s.status()?.workers.find((w) => w.slot === slot && w.pid !== victim.pid && w.state === 'ready'), { timeoutMs: 15_000, what: `worker ${slot} restarted` })
    assert.equal(back.generation, victim.generation)
    assert.equal(back.restarts, 1)
    assert.equal(environOf(back.pid).APP_VERSION, version)
    assert.equal(releaseOf(back.pid), version)
    assert.equal(environOf(back.pid).GRACEFUL_RESTART_GENERATION, String(victim.generation))
  }

  // v3 works: the next reload replaces all four, the two already on generation 2 included.
  deploy('v3')
  fs.writeFileSync(envFile, 'APP_VERSION=v3\n')
  load = startLoad({ port: s.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 60_000 })
  fresh = startLoad({ port: s.port, keepAlive: false, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 60_000 })
  const ok = await cli(['reload', '--pid-file', s.pidFile, '--wait'])
  assert.equal(ok.code, 0, ok.stdout + ok.stderr)
  assert.match(ok.stdout, /generation 3 ready in \d+ ms/)
  for (const l of [await load.stop(), await fresh.stop()]) {
    t.diagnostic(`next reload: ${l.requests} requests, ${l.failed} failed`)
    assert.equal(l.failed, 0, JSON.stringify(l.errorSamples.slice(0, 5)))
  }
  const after = s.status()
  assert.deepEqual(after?.workers.filter((w) => w.state === 'ready').map((w) => w.generation), [3, 3, 3, 3])
  assert.equal(after?.roll?.state, 'done')
  assert.ok(after?.workers.filter((w) => w.state === 'ready').every((w) => environOf(w.pid).APP_VERSION === 'v3' && releaseOf(w.pid) === 'v3'))
  // The roll replaced the oldest first: the generation 1 workers (slots 2, 3), then 0 and 1.
  const steps = s.started.lines.filter((l) => /generation 3: \d\/4 workers took over/.test(l)).map((l) => Number(/worker (\d) pid/.exec(l)?.[1]))
  assert.deepEqual(steps, [2, 3, 0, 1])
})

test('--surge must be an integer from 1 to --workers', { timeout: 30_000 }, async () => {
  for (const args of [['--workers', '2', '--surge', '3'], ['--workers', '2', '--surge', '0'], ['--surge', 'x']]) {
    const r = await cli(['run', ...args, '--', 'node'])
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /ERR_GRACEFUL_INVALID_OPTION/)
  }
})
