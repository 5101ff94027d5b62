// --watch / the `watch` option with real processes: a symlink deploy switched under
// keep-alive load is served by the new release with no failed request, and a deploy that
// writes many files gives one reload.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { readPidFile, rounds, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, events, startApp, tempDir, versionOf } from './app.ts'
import { cli, supervise } from './supervised.ts'

function release (root: string, version: string): void {
  const dir = path.join(root, 'releases', version)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'server.mjs'),
    `process.env.APP_VERSION = ${JSON.stringify(version)}\nawait import(${JSON.stringify(FIXTURE)})\n`)
}

function switchCurrent (root: string, version: string): void {
  const tmp = path.join(root, 'current.tmp')
  fs.rmSync(tmp, { force: true })
  fs.symlinkSync(path.join('releases', version), tmp)
  fs.renameSync(tmp, path.join(root, 'current'))
}

/** Switches `current` and resolves with the ms until a new connection is answered by that release. */
async function deploy (root: string, port: number, version: string): Promise<number> {
  switchCurrent(root, version)
  const t0 = performance.now()
  await waitFor(async () => (await versionOf(port)) === version, { timeoutMs: 30_000, intervalMs: 10, what: `${version} to answer` })
  return Math.round(performance.now() - t0)
}

/**
 * Writes 20 files 20 ms apart, as a deploy copying a build does: spread over longer than a
 * handover takes, so that only the debounce keeps it to one reload.
 */
async function writeTwenty (dir: string, name: (i: number) => string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    fs.writeFileSync(path.join(dir, name(i)), `// build 2, file ${i}\n`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function summary (ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  return `switch to first answer from the new release: ${sorted.join(', ')} ms (median ${sorted[Math.floor(sorted.length / 2)]})`
}

function symlinkDeploy (t: { after: (fn: () => unknown) => unknown }, n: number): string {
  const root = tempDir(t)
  for (let i = 1; i <= n; i++) release(root, `v${i}`)
  switchCurrent(root, 'v1')
  return root
}

test('re-exec mode, watch: ["."]: a symlink deploy switched under keep-alive load is served by each new release, nothing fails', { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const n = rounds(5)
  const root = symlinkDeploy(t, n + 1)
  const current = path.join(root, 'current')
  const app = await startApp(track, root, { PWD: current, WATCH: '.', WATCH_DEBOUNCE: '100' }, 'server.mjs', { cwd: current })
  const load = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 20, slowMs: 200, durationMs: 90_000 })
  t.after(async () => { await load.stop() })
  const took: number[] = []
  for (let i = 2; i <= n + 1; i++) took.push(await deploy(root, app.port, `v${i}`))
  const report = await load.stop()
  const handovers = events(app.started, 'handover:start')
  t.diagnostic(`${summary(took)}; ${report.requests} requests, ${report.failed} failed, ${handovers.length} handovers`)
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
  assert.equal(handovers.length, n, 'one handover per switch')
  assert.ok(handovers.every((e) => e.trigger === 'watch'))
})

test('re-exec mode: 20 files written in one deploy give one handover', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const dist = path.join(dir, 'dist')
  fs.mkdirSync(dist)
  const app = await startApp(track, dir, { PWD: dir, WATCH: 'dist', WATCH_DEBOUNCE: process.env.WATCH_DEBOUNCE ?? '300' }, FIXTURE, { cwd: dir })
  const first = app.pid
  await writeTwenty(dist, (i) => `chunk-${i}.js`)
  const second = await waitFor(() => { const p = readPidFile(app.pidFile); return p !== first ? p : undefined }, { timeoutMs: 20_000, what: 'the handover after the deploy' })
  // One more, separate change: had the 20 files given two handovers, this would be the third.
  await waitFor(() => events(app.started, 'ready').some((e) => e.pid === second), { timeoutMs: 10_000, what: 'the new generation ready' })
  fs.writeFileSync(path.join(dist, 'chunk-0.js'), '// build 3\n')
  await waitFor(() => { const p = readPidFile(app.pidFile); return p !== second && p !== first ? p : undefined }, { timeoutMs: 20_000, what: 'the handover after the second deploy' })
  const changes = events(app.started, 'release:change')
  t.diagnostic(`release changes seen: ${changes.length}, handovers: ${events(app.started, 'handover:start').length}`)
  assert.equal(changes.length, 2)
  assert.equal(events(app.started, 'handover:start').length, 2)
})

test('supervisor --watch .: a symlink deploy under keep-alive load, then 20 files written in one deploy give one reload', { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const n = rounds(5)
  const root = symlinkDeploy(t, n + 1)
  const current = path.join(root, 'current')
  const { port, pidFile, started: sup, status } = await supervise(t, track, {
    dir: root,
    args: ['--workers', '2', '--watch', '.', '--watch-debounce', process.env.WATCH_DEBOUNCE ?? '300'],
    command: [process.execPath, 'server.mjs'],
    env: { PWD: current },
    cwd: current
  })
  const load = startLoad({ port, keepAlive: true, clients: 8, slowEvery: 20, slowMs: 200, durationMs: 90_000 })
  t.after(async () => { await load.stop() })
  const took: number[] = []
  for (let i = 2; i <= n + 1; i++) took.push(await deploy(root, port, `v${i}`))
  await waitFor(() => status()?.generation === n + 1 && status()?.workers.every((w) => w.state === 'ready'), { timeoutMs: 20_000, what: `generation ${n + 1} alone` })
  const report = await load.stop()

  // A deploy in place: 20 files into the running release.
  await writeTwenty(current, (i) => `asset-${i}.js`)
  await waitFor(() => status()?.generation === n + 2, { timeoutMs: 20_000, what: 'the reload after 20 files' })
  // A separate change after it: had the 20 files given two reloads, this would be the third.
  took.push(await deploy(root, port, 'v1'))
  // The status file follows the reload's end, a moment after the new workers answer.
  await waitFor(() => { const s = status(); return s !== undefined && s.generation >= n + 3 && s.state === 'running' && s.workers.every((w) => w.state === 'ready') }, { timeoutMs: 20_000, what: 'the last reload ended' })
  const reloads = sup.lines.filter((l) => l.includes('--watch: ') && l.includes('changed; reloading'))
  t.diagnostic(`${summary(took)}; ${report.requests} requests, ${report.failed} failed, ${reloads.length} reloads`)
  assert.equal(status()?.generation, n + 3)
  assert.equal(reloads.length, n + 2)
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 5)))
  const text = (await cli(['status', '--pid-file', pidFile])).stdout
  assert.match(text, /watching {4}.*current; changed \d+s ago, reloaded/)
})
