// `graceful-restart run` under test: the CLI as a user runs it, a supervisor started on an
// app and waited for until its workers are ready, its status file, a reload by signal, and
// a stop that must leave nothing behind.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, processesWithMarker, readPidFile, waitFor, type Started, type Tracker } from '@graceful-restart/test-utils'
import type { SocketStatus, SupervisorStatus, WorkerStatus } from '../../src/supervisor/status.ts'
import { FIXTURE, tempDir } from './app.ts'

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface CliRun { code: number, stdout: string, stderr: string }

/** Runs `graceful-restart ARGS`; resolves with its exit code and output (never rejects). */
export function cli (args: string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

/** The status file as this release writes it: every worker listed has started, so it has a pid. */
export type Status = Omit<SupervisorStatus, 'workers' | 'sockets'> & { workers: Array<WorkerStatus & { pid: number }>, sockets: SocketStatus[] }

export function readStatus (file: string): Status | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Status
  } catch {
    return undefined
  }
}

export interface SuperviseOptions {
  /** Flags of `run`; `--pid-file` is added, and `--listen 127.0.0.1:PORT` unless `listen` is false. */
  args?: string[]
  /** false: no --listen, the workers ask for their sockets (and no PORT or HOST in their environment). */
  listen?: boolean
  /** The app; default: the http-app fixture. */
  command?: string[]
  /** Added to the environment; PORT and HOST (with --listen) and BOOT_MODE_FILE (DIR/mode) come first. */
  env?: Record<string, string>
  cwd?: string
  execArgv?: string[]
  /** Where the PID file goes; default: a fresh temporary directory. */
  dir?: string
}

export interface Supervised {
  dir: string
  /** The --listen port; undefined without one. */
  port: number | undefined
  pidFile: string
  statusFile: string
  pid: number
  started: Started
  status: () => Status | undefined
}

type TestContext = { after: (fn: () => unknown) => unknown }

/** The supervisor exited before it was up; `output` is all it printed. */
export class SupervisorExited extends Error {
  readonly output: string
  constructor (output: string) {
    super(`the supervisor exited at start:\n${output.split('\n').slice(-20).join('\n')}`)
    this.output = output
  }
}

/** Starts a supervisor; resolves once its PID file names it and its status shows all `--workers` ready. */
export async function supervise (t: TestContext, track: Tracker, opts: SuperviseOptions & { listen: false }): Promise<Supervised>
export async function supervise (t: TestContext, track: Tracker, opts?: SuperviseOptions): Promise<Supervised & { port: number }>
export async function supervise (t: TestContext, track: Tracker, opts: SuperviseOptions = {}): Promise<Supervised> {
  const args = opts.args ?? []
  const dir = opts.dir ?? tempDir(t)
  const port = opts.listen === false ? undefined : await freePort()
  const pidFile = path.join(dir, 'sup.pid')
  const statusFile = `${pidFile}.json`
  const started = track.startNode(CLI, {
    args: ['run', ...(port === undefined ? [] : ['--listen', `127.0.0.1:${port}`]), '--pid-file', pidFile, ...args, '--', ...opts.command ?? [process.execPath, FIXTURE]],
    env: { ...(port === undefined ? {} : { PORT: String(port), HOST: '127.0.0.1' }), BOOT_MODE_FILE: path.join(dir, 'mode'), ...opts.env },
    cwd: opts.cwd,
    execArgv: opts.execArgv
  })
  const status = (): Status | undefined => readStatus(statusFile)
  const workers = args.includes('--workers') ? Number(args[args.indexOf('--workers') + 1]) : 1
  // A supervisor that exits at start (a bad flag, an address in use) ends the wait at once,
  // with its whole output: 'exit' may come before the pipes' last lines, so read them to the end.
  let exitedWith: string | undefined
  void started.exited.then(async () => {
    await started.waitForLine(() => false, 5_000).catch(() => {})
    exitedWith = started.lines.join('\n')
  })
  const alive = (): true => {
    if (exitedWith !== undefined) throw new SupervisorExited(exitedWith)
    return true
  }
  // The supervisor's own PID: a stale file of an earlier one in the same directory is not it.
  await waitFor(() => alive() && readPidFile(pidFile) === started.pid, { timeoutMs: 20_000, what: () => `supervisor PID file\n${started.lines.slice(-20).join('\n')}` })
  await waitFor(() => { const s = alive() && status(); return s !== undefined && s.pid === started.pid && s.workers.filter((w) => w.state === 'ready').length === workers },
    { timeoutMs: 20_000, what: () => `workers ready\n${started.lines.slice(-20).join('\n')}` })
  return { dir, port, pidFile, statusFile, pid: started.pid, started, status }
}

/**
 * Sends `signal` (SIGHUP to the supervisor unless told otherwise); resolves once the next
 * generation took over. Never more than --max-draining (3) generations draining: beyond that
 * the oldest drain is ended at once, by design, and back-to-back reloads would cut the slow
 * requests it still serves.
 */
export async function reloadBySignal (s: Supervised, to: { pid?: number, signal?: NodeJS.Signals } = {}): Promise<void> {
  await waitFor(() => new Set(s.status()?.workers.filter((w) => w.state === 'draining').map((w) => w.generation)).size < 3,
    { timeoutMs: 30_000, intervalMs: 10, what: 'fewer than 3 generations draining' })
  const next = (s.status()?.generation ?? 0) + 1
  process.kill(to.pid ?? s.pid, to.signal ?? 'SIGHUP')
  const last = await waitFor(() => {
    const h = s.status()?.lastHandover
    return h?.generation === next ? h : undefined
  }, { timeoutMs: 30_000, intervalMs: 10, what: `generation ${next}` })
  assert.equal(last.ok, true, last.reason)
}

/** `graceful-restart stop`: exit 0, no process of the test left, the PID file gone (and `port` free again). */
export async function stopAndCheckNothingLeft (track: Tracker, s: Supervised, port?: number): Promise<void> {
  const stop = await cli(['stop', '--pid-file', s.pidFile])
  assert.equal(stop.code, 0, stop.stdout + stop.stderr)
  assert.deepEqual(await s.started.exited, { code: 0, signal: null })
  await waitFor(() => processesWithMarker(track.marker).length === 0, { timeoutMs: 10_000, what: 'no process left' })
  assert.equal(fs.existsSync(s.pidFile), false)
  if (port !== undefined) {
    const refused = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1')
      c.once('connect', () => { c.destroy(); resolve(false) })
      c.once('error', () => resolve(true))
    })
    assert.ok(refused, `port ${port} is free again`)
  }
}
