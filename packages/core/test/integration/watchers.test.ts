// File watchers as developers run them (real nodemon, node --watch, tsx watch; default
// settings): each edit is served by a new process running the new code, never two app
// processes at once, a manual `kill -USR2` starts no orphan, and nothing is left after the
// watcher stops.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import { isAlive, freePort, processesWithMarker, rounds, tracker, waitFor, type Started, type Tracker } from '@graceful-restart/test-utils'
import { tempDir } from './app.ts'
import { appEvents, appFiles, portFree, served, writeApp } from './managed-app.ts'

const require = createRequire(import.meta.url)
const NODEMON = require.resolve('nodemon/bin/nodemon.js')
const TSX = path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'cli.mjs')

interface Watcher {
  name: string
  file: string
  start: (track: Tracker, file: string, env: Record<string, string>, cwd: string) => Started
  /** Whether to send a manual SIGUSR2 between edits (nodemon's own restart signal is SIGUSR2). */
  manualSignal: boolean
  context: string
}

const WATCHERS: Watcher[] = [
  {
    name: 'nodemon',
    file: 'server.mjs',
    start: (track, file, env, cwd) => track.startNode(NODEMON, { args: [path.basename(file)], env, cwd }),
    manualSignal: false,
    context: 'nodemon'
  },
  {
    name: 'node --watch',
    file: 'server.mjs',
    start: (track, file, env, cwd) => track.startNode(path.basename(file), { execArgv: ['--watch'], env, cwd }),
    manualSignal: true,
    context: 'node-watch'
  },
  {
    name: 'tsx watch',
    file: 'server.ts',
    start: (track, file, env, cwd) => track.startNode(TSX, { args: ['watch', path.basename(file)], env, cwd }),
    manualSignal: true,
    context: 'tsx-watch'
  }
]

/** The marked processes that run the app itself (not the watcher, not its helpers). */
function appProcesses (track: Tracker, watcher: Started, booted: Set<number>): number[] {
  return processesWithMarker(track.marker).filter((pid) => pid !== watcher.pid && booted.has(pid))
}

for (const w of WATCHERS) {
  const edits = rounds(5)
  test(`${w.name}: ${edits} edits each served by a new process with the new code${w.manualSignal ? ', a manual SIGUSR2 between them refused' : ''}; nothing left after it stops`, { timeout: 120_000 }, async (t) => {
    const track = tracker(t)
    const dir = tempDir(t)
    const { file, lastPid } = appFiles(dir, w.file)
    const port = await freePort()
    writeApp(file, 'v1')
    const watcher = w.start(track, file, { PORT: String(port), LAST_PID_FILE: lastPid }, dir)
    const booted = new Set<number>()
    const pids: number[] = []
    for (let i = 1; i <= edits + 1; i++) {
      const version = `v${i}`
      const now = await waitFor(async () => {
        const answer = await served(port)
        return answer?.version === version ? answer : undefined
      }, { timeoutMs: 20_000, what: `${version} served under ${w.name}` })
      for (const boot of appEvents(watcher, 'boot')) booted.add(boot.pid as number)
      assert.ok(!pids.includes(now.pid), `${version} runs in a new process`)
      const boot = appEvents(watcher, 'boot').find((e) => e.pid === now.pid)
      assert.equal(boot?.previousAlive, false, `the process before ${now.pid} was gone when it booted`)
      const ready = appEvents(watcher, 'ready').find((e) => e.pid === now.pid)
      assert.equal(ready?.context, w.context)
      if (pids.length > 0) await waitFor(() => !isAlive(pids.at(-1) ?? 0), { timeoutMs: 10_000, what: 'the previous app process to be gone' })
      pids.push(now.pid)
      assert.deepEqual(appProcesses(track, watcher, booted), [now.pid], 'one app process')

      if (w.manualSignal) {
        process.kill(now.pid, 'SIGUSR2')
        const refusal = await waitFor(() => appEvents(watcher, 'handover:refused').find((e) => e.pid === now.pid),
          { timeoutMs: 10_000, what: 'the refusal' })
        assert.equal(refusal.code, 'ERR_GRACEFUL_MANAGED')
        // The log line comes on stderr, the event on stdout: two pipes, no order between them.
        await watcher.waitForLine((l) => l.includes('SIGUSR2 refused') && l.includes('save the file'))
        assert.deepEqual(await served(port), { pid: now.pid, version }, 'the same process still serves')
        assert.equal(appEvents(watcher, 'handover:start').length, 0, 'no handover started')
        for (const b of appEvents(watcher, 'boot')) booted.add(b.pid as number)
        assert.deepEqual(appProcesses(track, watcher, booted), [now.pid], 'no orphan')
      }
      if (i <= edits) writeApp(file, `v${i + 1}`)
    }
    assert.equal(appEvents(watcher, 'boot').length, edits + 1, 'one process per version, none besides')

    watcher.child.kill('SIGTERM')
    await watcher.exited
    await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 15_000, what: `nothing left after ${w.name} stopped` })
    assert.ok(await portFree(port), 'the port is free')
  })
}
