/**
 * Helpers for tests that start real processes. A restart test's processes outlive the
 * child we spawned (the child hands over to a grandchild and exits), so we find them by
 * a marker in their environment rather than by parentage, and we only wait with a
 * timeout: a hung test must fail, not hang CI. Linux only (/proc).
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'

/** The env var that tags every process a test started, grandchildren included. */
export const MARKER_ENV = 'GR_TEST_MARKER'

const DEFAULT_LINE_TIMEOUT_MS = 10_000
// After 'exit', output may still sit in the pipes; wait this long for it before telling
// waitForLine callers the line will never come. Not until the pipes close: a grandchild
// that inherited them can keep them open for as long as it lives.
const OUTPUT_GRACE_MS = 200

export interface Started {
  child: ChildProcess
  pid: number
  /** stdout and stderr lines so far, in arrival order (the two pipes are not ordered relative to each other). */
  lines: string[]
  /** Resolves with the first line (past or future) matching pred; rejects on timeout (default 10 s) or when the process exited without it. */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>
  /** The child's own exit ('exit', not 'close': inherited pipes may stay open in grandchildren). */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface StartNodeOptions {
  args?: string[]
  /** Merged over process.env; undefined removes a variable. */
  env?: Record<string, string | undefined>
  cwd?: string
  execArgv?: string[]
  /** Defaults to newMarker(). */
  marker?: string
}

export function newMarker (): string {
  return `gr-${process.pid}-${randomBytes(6).toString('hex')}`
}

/** Runs `node [execArgv] script [args]` with output collected line by line. */
export function startNode (script: string, opts: StartNodeOptions = {}): Started {
  const { args = [], execArgv = [], ...rest } = opts
  return startProcess(process.execPath, [...execArgv, script, ...args], rest)
}

export type StartProcessOptions = Omit<StartNodeOptions, 'args' | 'execArgv'>

/**
 * Runs any program (a process manager, `unshare`, `tini`) the way startNode runs node:
 * marked, output collected line by line.
 */
export function startProcess (command: string, args: string[], opts: StartProcessOptions = {}): Started {
  const marker = opts.marker ?? newMarker()
  const env: Record<string, string | undefined> = { ...process.env }
  // `node --test` sets this for the test file; a child node that inherits it and loads
  // node:test would talk the runner's protocol on stdout instead of printing.
  delete env.NODE_TEST_CONTEXT
  for (const [key, value] of Object.entries(opts.env ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  env[MARKER_ENV] = marker

  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    cwd: opts.cwd
  })
  // Once spawned, 'error' only reports a failed child.kill(); unhandled it would crash the test.
  child.on('error', noop)
  const pid = child.pid
  if (pid === undefined) {
    // spawn() failed synchronously; the 'error' event that follows is swallowed above.
    throw new Error(`startProcess: could not spawn ${command} ${args.join(' ')}`)
  }

  const verbose = Boolean(process.env.GR_TEST_VERBOSE)
  const lines: string[] = []
  const lineListeners = new Set<(line: string) => void>()
  const endListeners = new Set<() => void>()
  let outputDone = false

  const addLine = (line: string): void => {
    lines.push(line)
    if (verbose) process.stderr.write(`[${pid}] ${line}\n`)
    for (const listener of lineListeners) listener(line)
  }
  const streamEnds: Array<Promise<void>> = []
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue
    stream.setEncoding('utf8') // decodes multi-byte characters split across chunks
    let partial = ''
    streamEnds.push(new Promise((resolve) => {
      stream.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n')
        partial = parts.pop() ?? ''
        for (const part of parts) addLine(part.endsWith('\r') ? part.slice(0, -1) : part)
      })
      stream.on('close', () => {
        if (partial !== '') addLine(partial)
        partial = ''
        resolve()
      })
      stream.on('error', () => resolve())
    }))
  }

  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  void exited.then(async () => {
    await Promise.race([Promise.all(streamEnds), sleep(OUTPUT_GRACE_MS)])
    outputDone = true
    for (const listener of endListeners) listener()
  })

  function waitForLine (pred: (line: string) => boolean, timeoutMs = DEFAULT_LINE_TIMEOUT_MS): Promise<string> {
    const seen = lines.find(pred)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer)
        lineListeners.delete(onLine)
        endListeners.delete(onEnd)
      }
      const onLine = (line: string): void => {
        if (!pred(line)) return
        cleanup()
        resolve(line)
      }
      const onEnd = (): void => {
        cleanup()
        reject(new Error(`pid ${pid} exited (code ${child.exitCode}, signal ${child.signalCode}) without printing the expected line.${tail(lines)}`))
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`pid ${pid}: no matching line within ${timeoutMs} ms.${tail(lines)}`))
      }, timeoutMs)
      lineListeners.add(onLine)
      if (outputDone) onEnd()
      else endListeners.add(onEnd)
    })
  }

  return { child, pid, lines, waitForLine, exited }
}

export interface WaitForOptions {
  timeoutMs: number
  intervalMs?: number
  /** Names the condition in the timeout error; a function is read at the timeout (output so far). */
  what: string | (() => string)
}

/**
 * Polls fn until it returns something other than undefined or false, and resolves with
 * that. A throw or rejection from fn ends the wait at once. An fn that hangs still loses
 * to the deadline.
 */
export function waitFor<T> (
  fn: () => T | undefined | false | PromiseLike<T | undefined | false>,
  opts: WaitForOptions
): Promise<T> {
  const intervalMs = opts.intervalMs ?? 20
  const started = Date.now()
  return new Promise<T>((resolve, reject) => {
    let finished = false
    let poll: NodeJS.Timeout | undefined
    const deadline = setTimeout(() => {
      finished = true
      clearTimeout(poll)
      reject(new Error(`timed out after ${opts.timeoutMs} ms waiting for ${typeof opts.what === 'function' ? opts.what() : opts.what}`))
    }, opts.timeoutMs)
    const attempt = async (): Promise<void> => {
      let value: T | undefined | false
      try {
        value = await fn()
      } catch (err) {
        if (!finished) {
          finished = true
          clearTimeout(deadline)
          reject(err)
        }
        return
      }
      if (finished) return
      if (value !== undefined && value !== false) {
        finished = true
        clearTimeout(deadline)
        resolve(value)
        return
      }
      // Never schedule past the deadline timer; it reports the timeout.
      const left = opts.timeoutMs - (Date.now() - started)
      poll = setTimeout(() => { void attempt() }, Math.max(0, Math.min(intervalMs, left)))
    }
    void attempt()
  })
}

/** Whether pid exists and is not a zombie. Works for processes that are not our children. */
export function isAlive (pid: number): boolean {
  assertPid(pid)
  try {
    process.kill(pid, 0)
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  // A zombie has exited; only its exit status waits to be reaped (in a container whose
  // init does not reap, forever).
  return processState(pid) !== 'Z'
}

/** Resolves once pid has exited (or is a zombie); rejects after timeoutMs. */
export async function waitForPidExit (pid: number, timeoutMs: number): Promise<void> {
  await waitFor(() => !isAlive(pid), { timeoutMs, what: `pid ${pid} to exit` })
}

/**
 * Live (non-zombie) processes whose initial environment holds GR_TEST_MARKER=marker;
 * never this process. A process in the middle of exiting may already be missing (its
 * environ reads empty), so after killing, wait on the pids rather than on this list.
 */
export function processesWithMarker (marker: string): number[] {
  const needle = `${MARKER_ENV}=${marker}`
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid) continue
    let environ: string
    try {
      environ = fs.readFileSync(`/proc/${name}/environ`, 'latin1')
    } catch {
      continue // gone since readdir, or not ours to read
    }
    if (!environ.split('\0').includes(needle)) continue
    const state = processState(pid)
    if (state === undefined || state === 'Z') continue
    pids.push(pid)
  }
  return pids.sort((a, b) => a - b)
}

/** Signals every process with the marker; returns the pids that were signalled. */
export function killMarked (marker: string, signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const killed: number[] = []
  for (const pid of processesWithMarker(marker)) {
    try {
      process.kill(pid, signal)
      killed.push(pid)
    } catch {
      // exited in between
    }
  }
  return killed
}

/** Open file descriptors of pid (for our own pid this includes the one used to list them). */
export function fdCount (pid: number): number {
  assertPid(pid)
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

/** Open fds of pid by kind: sockets (listeners and connections), and everything else. */
export interface FdKinds {
  sockets: number
  /** What each non-socket fd is, as `fd=target` with inode numbers dropped (`7=pipe`). */
  other: string[]
}

/** What each open fd of pid points to (`/proc/<pid>/fd`); empty once pid is gone. */
export function openFds (pid: number): Map<string, string> {
  const fds = new Map<string, string>()
  let names: string[] = []
  try { names = fs.readdirSync(`/proc/${pid}/fd`) } catch {}
  for (const fd of names) {
    try { fds.set(fd, fs.readlinkSync(`/proc/${pid}/fd/${fd}`)) } catch {}
  }
  return fds
}

/**
 * The fds a process holds for longer than `settleMs`: only those found, with the same
 * target, in two reads that far apart. A leaked fd is in both; one the process opened for
 * a moment (a file it reads, a pipe to a short-lived helper) rarely is, and would otherwise
 * read as a leak of one.
 */
export async function fdKinds (pid: number, settleMs = 100): Promise<FdKinds> {
  const first = openFds(pid)
  await new Promise((resolve) => setTimeout(resolve, settleMs))
  let sockets = 0
  const other: string[] = []
  for (const [fd, target] of openFds(pid)) {
    if (first.get(fd) !== target) continue
    if (target.startsWith('socket:')) sockets++
    else other.push(`${fd}=${target.replace(/:\[\d+\]$/, '')}`)
  }
  other.sort((a, b) => Number.parseInt(a) - Number.parseInt(b))
  return { sockets, other }
}

/** Resident set size in kB, from VmRSS in /proc/<pid>/status. */
export function rssKb (pid: number): number {
  assertPid(pid)
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (match?.[1] === undefined) throw new Error(`rssKb: no VmRSS for pid ${pid} (zombie or kernel thread?)`)
  return Number(match[1])
}

/** The pid in a pid file; undefined while it is missing, empty or half-written. */
export function readPidFile (path: string): number | undefined {
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const trimmed = text.trim()
  if (!/^\d+$/.test(trimmed)) return undefined
  const pid = Number(trimmed)
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * A port that was free a moment ago on 127.0.0.1. Another process can take it before
 * the test binds it; prefer listening on port 0 where the code under test allows it.
 */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : undefined
      server.close(() => {
        if (port === undefined) reject(new Error('freePort: server has no TCP address'))
        else resolve(port)
      })
    })
  })
}

function processState (pid: number): string | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    return /^State:\s+(\S)/m.exec(status)?.[1]
  } catch {
    return undefined
  }
}

// kill(0) and kill(-n) signal whole process groups; a bad pid from a parsing slip must
// never get that far.
function assertPid (pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`not a pid: ${pid}`)
}

function tail (lines: string[], n = 20): string {
  if (lines.length === 0) return ' No output.'
  return `\nLast ${Math.min(n, lines.length)} lines:\n${lines.slice(-n).join('\n')}`
}

function noop (): void {}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/**
 * A system tool a test needs (haproxy, nginx, systemd-analyze): its path. When it is
 * missing the test is skipped, except under CI=true, where CI installs it and its absence
 * is a failure.
 */
export function tool (name: string, t: { skip: (msg: string) => void }): string | undefined {
  // Daemons live in /usr/sbin, which a non-root PATH often lacks.
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim() ||
    ['/usr/sbin', '/sbin'].map((dir) => `${dir}/${name}`).find((file) => fs.existsSync(file))
  if (found !== undefined && found !== '') return found
  if (process.env.CI !== undefined) throw new Error(`${name} is missing (CI installs it)`)
  t.skip(`${name} not installed`)
  return undefined
}
