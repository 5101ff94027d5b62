// Real PID namespaces (`unshare -pf --mount-proc`, what a container runtime gives the
// entrypoint). Where the old process's exit would end the namespace (the app as PID 1, or
// a wrapper as PID 1 that exits with it), `kill -USR2` is refused and the original process
// keeps serving under load; SIGTERM still drains and exits 0. The supervisor as PID 1
// reloads under load with nothing lost. The namespace shares the network, so 127.0.0.1
// reaches the servers inside it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, get, processesWithMarker, rounds, startLoad, tracker, waitFor, type LoadHandle, type Started, type Tracker } from '@graceful-restart/test-utils'
import { FIXTURE, tempDir } from './app.ts'
import { appEvents, appFiles, served, writeApp } from './managed-app.ts'

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))
const NODE = process.execPath

/** The tools a scenario needs, or why it cannot run here (a failure under CI). */
function missing (tools: string[], t: { skip: (msg: string) => void }): boolean {
  const absent = tools.filter((name) => spawnSync('sh', ['-c', `command -v ${name}`]).stdout.toString().trim() === '')
  let why = absent.length > 0 ? `${absent.join(', ')} not installed` : undefined
  if (why === undefined && process.getuid?.() !== 0) why = 'creating a PID namespace needs root'
  if (why === undefined && spawnSync('unshare', ['-pf', '--mount-proc', 'true']).status !== 0) why = 'unshare -pf --mount-proc fails here'
  if (why === undefined) return false
  if (process.env.CI !== undefined) assert.fail(`${why} (CI provides it)`)
  t.skip(why)
  return true
}

function argvOf (pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '')
  } catch {
    return []
  }
}

/** The outer pid of a marked process whose command line matches. */
function findOuter (track: Tracker, match: (argv: string[]) => boolean): Promise<number> {
  return waitFor(() => processesWithMarker(track.marker).find((pid) => match(argvOf(pid))), { timeoutMs: 10_000, what: 'the process inside the namespace' })
}

const isApp = (argv: string[]): boolean => /^node/.test(path.basename(argv[0] ?? '')) && argv.some((a) => a.endsWith('server.mjs'))

async function loads (port: number): Promise<LoadHandle[]> {
  return [
    startLoad({ port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 }),
    startLoad({ port, keepAlive: false, clients: 4, slowEvery: 0, durationMs: 30_000 })
  ]
}

interface Entrypoint {
  name: string
  tools: string[]
  /** What runs inside the namespace, in `dir` (which holds server.mjs and package.json). */
  command: string[]
  context: string
  /** Who gets the stop signal: PID 1 as `docker stop` does, or the app itself. */
  stop: 'pid1' | 'app'
}

const ENTRYPOINTS: Entrypoint[] = [
  { name: 'node server.js as PID 1', tools: ['unshare'], command: [NODE, 'server.mjs'], context: 'pid1', stop: 'pid1' },
  { name: 'tini -- node server.js', tools: ['unshare', 'tini'], command: ['tini', '--', NODE, 'server.mjs'], context: 'wrapper', stop: 'pid1' },
  { name: 'dumb-init node server.js', tools: ['unshare', 'dumb-init'], command: ['dumb-init', NODE, 'server.mjs'], context: 'wrapper', stop: 'pid1' },
  // npm passes a SIGTERM to the shell it runs the script in, not to node: `docker stop`
  // kills such an app without a drain (the README says so). The app's own SIGTERM drains.
  { name: 'npm start as PID 1', tools: ['unshare', 'npm'], command: ['npm', 'start'], context: 'wrapper', stop: 'app' }
]

for (const entry of ENTRYPOINTS) {
  test(`${entry.name}: kill -USR2 is refused with the fix logged, the original process serves on under load, SIGTERM drains and exits 0`, { timeout: 60_000 }, async (t) => {
    if (missing(entry.tools, t)) return
    const track = tracker(t)
    const dir = tempDir(t)
    const { file, lastPid } = appFiles(dir, 'server.mjs')
    writeApp(file, 'v1')
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts: { start: 'node server.mjs' } }))
    const port = await freePort()
    // npm runs `node` from PATH: the Node line under test.
    const env = { PORT: String(port), LAST_PID_FILE: lastPid, PATH: `${path.dirname(NODE)}:${process.env.PATH ?? ''}` }
    const ns = track.start('unshare', ['-pf', '--mount-proc', ...entry.command], { env, cwd: dir })
    const first = await waitFor(() => served(port), { timeoutMs: 20_000, what: `the app started by ${entry.name}` })
    const app = await findOuter(track, isApp)
    const startup = appEvents(ns, 'context')[0]
    assert.equal(startup?.context, entry.context)
    assert.equal(startup?.code, 'ERR_GRACEFUL_UNSAFE_CONTEXT', 'named at start-up')
    if (entry.context === 'pid1') assert.equal(first.pid, 1)

    const load = await loads(port)
    t.after(async () => { await Promise.all(load.map((l) => l.stop())) })
    await waitFor(() => load.every((l) => l.snapshot().ok > 50), { timeoutMs: 10_000, what: 'load running' })
    process.kill(app, 'SIGUSR2')
    await waitFor(() => appEvents(ns, 'handover:refused').length === 1, { timeoutMs: 10_000, what: 'the refusal' })
    const refusal = ns.lines.find((l) => l.includes('SIGUSR2 refused'))
    assert.match(refusal ?? '', /ERR_GRACEFUL_UNSAFE_CONTEXT/)
    assert.match(refusal ?? '', /graceful-restart run/, 'the log names the fix')
    // Serve on well past the point where a handover would have ended the namespace.
    const after = load.map((l) => l.snapshot().ok)
    await waitFor(() => load.every((l, i) => l.snapshot().ok > (after[i] ?? 0) + 200), { timeoutMs: 15_000, what: 'requests after the refusal' })
    const reports = await Promise.all(load.map((l) => l.stop()))
    for (const report of reports) {
      assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 3)))
      assert.deepEqual(Object.keys(report.byPid), [String(first.pid)], 'every request answered by the original process')
    }
    assert.equal(appEvents(ns, 'boot').length, 1, 'no second process was started')
    assert.equal(appEvents(ns, 'handover:start').length, 0)

    // SIGTERM with a request in flight: answered, then exit 0 through every wrapper.
    const slow = get(port, '/sleep?ms=800')
    await waitFor(() => appEvents(ns, 'request').length === 1, { timeoutMs: 10_000, what: 'the slow request in flight' })
    const pid1 = entry.stop === 'pid1' ? await findOuter(track, (argv) => argv.join(' ') === entry.command.join(' ')) : app
    process.kill(pid1, 'SIGTERM')
    const { status, pid } = await slow
    assert.deepEqual({ status, pid }, { status: 200, pid: first.pid })
    assert.deepEqual(await ns.exited, { code: 0, signal: null }, ns.lines.slice(-5).join('\n'))
    assert.equal(appEvents(ns, 'drain:end').length, 1)
    await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'nothing left' })
  })
}

test('the supervisor as PID 1 of a namespace: reloads under load fail nothing; SIGTERM stops it cleanly', { timeout: 120_000 }, async (t) => {
  if (missing(['unshare'], t)) return
  const track = tracker(t)
  const dir = tempDir(t)
  const port = await freePort()
  const ns: Started = track.start('unshare', ['-pf', '--mount-proc', NODE, CLI, 'run', '--listen', `127.0.0.1:${port}`, '--', NODE, FIXTURE],
    { env: { HOST: '127.0.0.1', PORT: String(port) }, cwd: dir })
  await waitFor(() => served(port), { timeoutMs: 20_000, what: 'a worker serving' })
  const supervisor = await findOuter(track, (argv) => argv[0] === NODE && argv[1] === CLI)
  const load = await loads(port)
  t.after(async () => { await Promise.all(load.map((l) => l.stop())) })
  const reloads = rounds(10)
  for (let i = 0; i < reloads; i++) {
    process.kill(supervisor, i % 2 === 0 ? 'SIGUSR2' : 'SIGHUP')
    await ns.waitForLine((l) => l.includes(`generation ${i + 2} ready`), 20_000)
  }
  const before = load.map((l) => l.snapshot().ok)
  await waitFor(() => load.every((l, i) => l.snapshot().ok > (before[i] ?? 0) + 50), { timeoutMs: 15_000, what: 'requests after the last reload' })
  const reports = await Promise.all(load.map((l) => l.stop()))
  for (const report of reports) assert.equal(report.failed, 0, JSON.stringify(report.errorSamples.slice(0, 3)))
  process.kill(supervisor, 'SIGTERM')
  assert.deepEqual(await ns.exited, { code: 0, signal: null }, ns.lines.slice(-5).join('\n'))
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'nothing left' })
})
