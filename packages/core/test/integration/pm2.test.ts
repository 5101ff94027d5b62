// PM2 (real, fork mode, its own PM2_HOME): a manual `kill -USR2` is refused, so PM2 keeps
// tracking the process it started; `pm2 restart`, `pm2 reload` and `pm2 delete` work as
// PM2 users expect, with no crash loop, and nothing is left after `pm2 kill`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { MARKER_ENV, eventLines, freePort, isAlive, processesWithMarker, tracker, waitFor, type Tracker } from '@graceful-restart/test-utils'
import { tempDir } from './app.ts'
import { appFiles, portFree, served, writeApp } from './managed-app.ts'

const require = createRequire(import.meta.url)
const PM2 = path.join(path.dirname(require.resolve('pm2/package.json')), 'bin', 'pm2')

interface Pm2App { pid: number, name: string, pm2_env: { status: string, restart_time: number, pm_id: number } }

// PM2 looks for a newer version over the network unless told not to (as in bench/).
const QUIET = { PM2_DISABLE_VERSION_CHECK: 'true' }

async function pm2 (track: Tracker, home: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  // On first use it also checks unless this file exists.
  fs.mkdirSync(home, { recursive: true })
  if (!fs.existsSync(path.join(home, 'touch'))) fs.writeFileSync(path.join(home, 'touch'), String(Date.now()))
  const run = track.startNode(PM2, { args, env: { PM2_HOME: home, ...QUIET, ...env } })
  const { code } = await run.exited
  const output = run.lines.join('\n')
  assert.equal(code, 0, `pm2 ${args.join(' ')}: ${output}`)
  return output
}

/**
 * `pm2 jlist` into a file: it exits right after writing, and on Node 24+ a write to a pipe
 * is cut short by that exit (a file is written synchronously).
 */
function list (track: Tracker, home: string): Pm2App[] {
  const file = path.join(home, 'jlist.json')
  const fd = fs.openSync(file, 'w')
  const env: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: home, ...QUIET, [MARKER_ENV]: track.marker }
  delete env.NODE_TEST_CONTEXT
  try {
    const run = spawnSync(process.execPath, [PM2, 'jlist'], { env, stdio: ['ignore', fd, 'pipe'], timeout: 30_000 })
    assert.equal(run.status, 0, `pm2 jlist: ${String(run.stderr)}`)
  } finally {
    fs.closeSync(fd)
  }
  const out = fs.readFileSync(file, 'utf8')
  return JSON.parse(out.slice(out.indexOf('['))) as Pm2App[]
}

/** JSON lines the app printed, from PM2's log file. */
function logged (file: string, name: string): Array<Record<string, unknown>> {
  let text = ''
  try { text = fs.readFileSync(file, 'utf8') } catch {}
  return eventLines(text.split('\n'), name)
}

test('PM2 fork mode: kill -USR2 is refused and PM2 keeps tracking the app; restart, reload and delete work; nothing left after pm2 kill', { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const home = path.join(dir, 'pm2')
  t.after(async () => {
    // Stop the daemon the PM2 way first; the tracker then SIGKILLs whatever survived.
    await pm2(track, home, ['kill']).catch(() => {})
  })
  const { file, lastPid } = appFiles(dir, 'server.mjs')
  const port = await freePort()
  writeApp(file, 'v1')
  await pm2(track, home, ['start', file, '--name', 'grt'], { PORT: String(port), LAST_PID_FILE: lastPid })
  const out = path.join(home, 'logs', 'grt-out.log')
  const err = path.join(home, 'logs', 'grt-error.log')
  const first = await waitFor(() => served(port), { timeoutMs: 20_000, what: 'the app under PM2' })
  const ready = await waitFor(() => logged(out, 'ready').find((e) => e.pid === first.pid), { timeoutMs: 10_000, what: 'ready event' })
  assert.equal(ready.context, 'pm2')

  process.kill(first.pid, 'SIGUSR2')
  const refusal = await waitFor(() => logged(out, 'handover:refused').find((e) => e.pid === first.pid), { timeoutMs: 10_000, what: 'the refusal' })
  assert.equal(refusal.code, 'ERR_GRACEFUL_MANAGED')
  await waitFor(() => fs.readFileSync(err, 'utf8').includes('`pm2 reload grt`'), { timeoutMs: 10_000, what: 'the refusal naming pm2 reload in the error log' })
  assert.deepEqual(await served(port), { pid: first.pid, version: 'v1' }, 'the same process still serves')
  assert.equal(logged(out, 'boot').length, 1, 'no second process was started')
  let [app] = list(track, home)
  assert.equal(app?.pid, first.pid, 'PM2 still tracks the process it started')
  assert.equal(app?.pm2_env.status, 'online')
  assert.equal(app?.pm2_env.restart_time, 0, 'no restart, no crash loop')

  const pids = [first.pid]
  for (const [command, version] of [['restart', 'v2'], ['reload', 'v3']] as const) {
    writeApp(file, version)
    await pm2(track, home, [command, 'grt'])
    const now = await waitFor(async () => {
      const answer = await served(port)
      return answer?.version === version ? answer : undefined
    }, { timeoutMs: 20_000, what: `${version} after pm2 ${command}` })
    assert.ok(!pids.includes(now.pid))
    await waitFor(() => !isAlive(pids.at(-1) ?? 0), { timeoutMs: 10_000, what: 'the old process to exit' })
    pids.push(now.pid)
    ;[app] = list(track, home)
    assert.equal(app?.pid, now.pid, `PM2 tracks the process after pm2 ${command}`)
    assert.equal(app?.pm2_env.status, 'online')
    // Not unstable_restarts: PM2 counts any exit within min_uptime (1 s) of a start, a
    // restart asked for included. A crash loop shows as restarts nobody asked for.
    assert.equal(app?.pm2_env.restart_time, pids.length - 1, 'exactly the restarts asked for')
  }
  const drained = logged(out, 'drain:end').map((e) => e.pid)
  assert.deepEqual(drained, pids.slice(0, 2), 'each replaced process drained (SIGINT from PM2)')

  await pm2(track, home, ['delete', 'grt'])
  await waitFor(() => !isAlive(pids.at(-1) ?? 0), { timeoutMs: 10_000, what: 'the app to exit on pm2 delete' })
  assert.deepEqual(list(track, home), [])
  assert.ok(await portFree(port), 'the port is free after pm2 delete')
  await pm2(track, home, ['kill'])
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 15_000, what: 'nothing left after pm2 kill' })
})
