// Each generation starts with the configuration on disk now, as a fresh deploy would:
// `node --env-file`, an app that loads its .env itself (dotenv + the envFile option), and
// the supervisor's --env-file. A variable of the real environment wins over the file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, readPidFile, startLoad, tracker, waitFor, type LoadReport } from '@graceful-restart/test-utils'
import { FIXTURE, events, handover, startApp, tempDir } from './app.ts'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

async function value (port: number, name: string): Promise<{ pid: number, value: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/var?name=${name}`, { headers: { connection: 'close' } })
  return await res.json() as { pid: number, value: string | null }
}

/** Keep-alive and new-connection load on port until stop() is awaited. */
function load (t: { after: (fn: () => unknown) => unknown }, port: number): () => Promise<LoadReport[]> {
  const loads = [
    startLoad({ port, keepAlive: true, clients: 8, slowEvery: 20, slowMs: 200, durationMs: 60_000 }),
    startLoad({ port, keepAlive: false, clients: 8, slowEvery: 20, slowMs: 200, durationMs: 60_000 })
  ]
  t.after(async () => { for (const l of loads) await l.stop() })
  return async () => await Promise.all(loads.map(async (l) => await l.stop()))
}

function assertNoFailure (t: { diagnostic: (msg: string) => void }, label: string, reports: LoadReport[]): void {
  for (const r of reports) {
    t.diagnostic(`${label}: ${r.requests} requests, ${r.failed} failed`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  }
}

// The environment of the test runner must not decide what the app sees.
const CLEAN = { APP_VERSION: undefined, REAL_VAR: undefined, DOTENV_FILE: undefined }

for (const flavour of ['node --env-file', 'dotenv + envFile'] as const) {
  test(`${flavour}: each handover reads .env again; the real environment still wins; 0 failed requests`, { timeout: 60_000 }, async (t) => {
    const track = tracker(t)
    const dir = tempDir(t)
    const envFile = path.join(dir, '.env')
    fs.writeFileSync(envFile, 'APP_VERSION=v1\nREAL_VAR=from-file\nFILE_ONLY=1\n')
    const app = await startApp(track, dir, {
      ...CLEAN, REAL_VAR: 'from-shell', ...(flavour === 'dotenv + envFile' ? { DOTENV_FILE: envFile } : {})
    }, FIXTURE, flavour === 'node --env-file' ? { execArgv: [`--env-file=${envFile}`] } : {})
    assert.equal((await value(app.port, 'APP_VERSION')).value, 'v1')
    assert.equal((await value(app.port, 'REAL_VAR')).value, 'from-shell', 'as Node and dotenv do, the real environment wins')
    const stop = load(t, app.port)
    // Two handovers: the second one starts from a generation that was itself started by a handover.
    for (const version of ['v2', 'v3']) {
      fs.writeFileSync(envFile, `APP_VERSION=${version}\nREAL_VAR=from-file-${version}\n${version === 'v2' ? 'FILE_ONLY=1\n' : ''}`)
      const pid = await handover(app)
      const seen = await value(app.port, 'APP_VERSION')
      assert.deepEqual(seen, { pid, value: version }, 'the new generation sees the new value')
      assert.equal((await value(app.port, 'REAL_VAR')).value, 'from-shell')
    }
    assert.equal((await value(app.port, 'FILE_ONLY')).value, null, 'a variable removed from the file is gone')
    const diffs = events(app.started, 'handover:env')
    assert.deepEqual(diffs.map((d) => d.changed), [['APP_VERSION'], ['APP_VERSION']])
    assert.deepEqual(diffs.map((d) => d.removed), [[], ['FILE_ONLY']])
    assert.ok(!app.started.lines.some((l) => l.includes('from-file')), 'values are never logged')
    assertNoFailure(t, flavour, await stop())
  })
}

test('supervisor --env-file: each reload reads it again, the real environment still wins; 0 failed requests', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const envFile = path.join(dir, 'app.env')
  fs.writeFileSync(envFile, 'APP_VERSION=v1\nREAL_VAR=from-file\n')
  const port = await freePort()
  const pidFile = path.join(dir, 'sup.pid')
  const started = track.startNode(CLI, {
    args: ['run', '--listen', `127.0.0.1:${port}`, '--pid-file', pidFile, '--env-file', envFile, '--', process.execPath, FIXTURE],
    env: { ...CLEAN, PORT: String(port), HOST: '127.0.0.1', REAL_VAR: 'from-shell' }
  })
  await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  await waitFor(async () => { try { return (await value(port, 'APP_VERSION')).value === 'v1' } catch { return false } }, { timeoutMs: 15_000, what: 'first worker serving' })
  assert.equal((await value(port, 'REAL_VAR')).value, 'from-shell')
  const stop = load(t, port)
  for (const version of ['v2', 'v3']) {
    fs.writeFileSync(envFile, `APP_VERSION=${version}\nREAL_VAR=from-file-${version}\n`)
    const reload = await new Promise<{ code: number, out: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'reload', '--pid-file', pidFile, '--wait'], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : 1, out: stdout + stderr })
      })
    })
    assert.equal(reload.code, 0, reload.out)
    assert.equal((await value(port, 'APP_VERSION')).value, version)
    assert.equal((await value(port, 'REAL_VAR')).value, 'from-shell')
  }
  assert.equal(started.lines.filter((l) => l.includes('environment: changed APP_VERSION')).length, 2, started.lines.join('\n'))
  assertNoFailure(t, 'supervisor', await stop())
})
