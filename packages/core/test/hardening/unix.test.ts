// Unix socket paths are public names: only the process that owns one may remove it.
// test/integration/sockets.test.ts covers the standalone re-exec mode; this is the
// supervisor's case (`graceful-restart run --listen unix:/path`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { processesWithMarker, readPidFile, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, tempDir } from '../integration/app.ts'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

function cli (args: string[]): Promise<{ code: number, out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out: stdout + stderr })
    })
  })
}

test('under the supervisor a unix socket path survives reloads: a replaced worker does not unlink the path the supervisor owns', {
  timeout: 60_000
}, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  const pidFile = path.join(dir, 'sup.pid')
  const sup = track.startNode(CLI, {
    args: ['run', '--listen', `unix:${socketPath}`, '--workers', '1', '--pid-file', pidFile, '--upgrade-timeout', '5000', '--', process.execPath, FIXTURE],
    env: { SOCKET_PATH: socketPath }
  })
  await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'supervisor PID file' })
  await waitFor(() => sup.lines.find((l) => l.includes('"event":"ready"')), { timeoutMs: 10_000, what: 'a worker ready' })
  const load = startLoad({ socketPath, keepAlive: false, clients: 4, slowEvery: 10, slowMs: 100, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  for (let i = 0; i < 3; i++) {
    const r = await cli(['reload', '--pid-file', pidFile, '--wait'])
    assert.equal(r.code, 0, r.out)
    // The replaced worker drains and exits after the reload returns: that exit is when it
    // could unlink the path.
    await sup.waitForLine((l) => l.includes(`worker 0 of generation ${i + 1} `) && l.includes('drained and exited'), 15_000)
    assert.ok(fs.existsSync(socketPath), `the socket path is still there after reload ${i + 1}`)
  }
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 3)))
  assert.equal((await cli(['stop', '--pid-file', pidFile])).code, 0)
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'supervisor and workers gone' })
  assert.equal(fs.existsSync(socketPath), false, 'the supervisor removes its socket when it stops')
})
