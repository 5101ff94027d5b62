import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { startLoad, tracker } from '@graceful-restart/test-utils'
import { FIXTURE, handover, startApp, tempDir, waitGone } from './app.ts'


// A release directory holds a tiny entry point that reports its own version and runs the app.
function release (root: string, version: string): string {
  const dir = path.join(root, 'releases', version)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'server.mjs'),
    `process.env.APP_VERSION = ${JSON.stringify(version)}\nawait import(${JSON.stringify(FIXTURE)})\n`)
  return dir
}

function switchCurrent (root: string, version: string): void {
  // Deploy tools swap the link atomically: a new link renamed over the old one.
  const tmp = path.join(root, 'current.tmp')
  fs.rmSync(tmp, { force: true })
  fs.symlinkSync(path.join('releases', version), tmp)
  fs.renameSync(tmp, path.join(root, 'current'))
}

// A new connection each time: a pooled one may still reach the draining generation.
async function version (port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
  return ((await res.json()) as { version: string }).version
}

for (const how of ['from inside current', 'through current by path']) {
  test(`a symlinked deploy (started ${how}) switches to the new release on handover`, { timeout: 60_000 }, async (t) => {
    const track = tracker(t)
    const root = tempDir(t)
    release(root, 'v1')
    release(root, 'v2')
    release(root, 'v3')
    switchCurrent(root, 'v1')
    const current = path.join(root, 'current')
    const app = how === 'from inside current'
      ? await startApp(track, root, { PWD: current }, 'server.mjs', { cwd: current })
      : await startApp(track, root, { PWD: '/' }, path.join(current, 'server.mjs'), { cwd: '/' })
    assert.equal(await version(app.port), 'v1')
    const load = startLoad({ port: app.port, keepAlive: true, clients: 8, durationMs: 30_000 })
    t.after(async () => { await load.stop() })

    for (const next of ['v2', 'v3']) {
      switchCurrent(root, next)
      const old = app.pid
      await handover(app)
      assert.equal(await version(app.port), next)
      await waitGone([old])
    }
    const report = await load.stop()
    assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
  })
}
