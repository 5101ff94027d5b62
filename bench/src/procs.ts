/**
 * Processes the bench starts. Every process of one scenario carries the same marker in its
 * environment, so that the generations a handover spawned (whose parent has long exited)
 * are found and killed at the end too. Linux only (/proc), like the product's tests.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { Client } from 'undici'
import { MARKER_ENV, isAlive, parseEventLine, killMarked, newMarker, processesWithMarker } from '@graceful-restart/test-utils'

export { isAlive, newMarker, processesWithMarker }

export interface AppEvent {
  event: string
  /** performance.now() when the bench read the line. */
  atMs: number
  [key: string]: unknown
}

export interface AppProcess {
  child: ChildProcess
  pid: number
  /** The last 300 output lines (stdout and stderr, each in order). */
  lines: string[]
  /** JSON lines with an `event` field, from this process and every generation it spawned. */
  events: AppEvent[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>
  marker: string
  cwd?: string
  /** Raise the soft open-files limit to this (through `sh -c 'ulimit -n'`) when it is lower. */
  nofile?: number
  /** Extra stdio entries after stdout/stderr (an 'ipc' channel for PM2's controller). */
  extraStdio?: StdioOptions
  quiet?: boolean
  /** Arguments after the script. */
  args?: string[]
}

const MAX_LINES = 300
const liveMarkers = new Set<string>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Last line of defence: whatever way the bench ends, leave no server behind.
  process.on('exit', () => {
    for (const m of liveMarkers) killMarked(m, 'SIGKILL')
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const m of liveMarkers) killMarked(m, 'SIGKILL')
      process.exit(130)
    })
  }
}

/** The soft limit on open files of this process (from /proc), or undefined. */
export function nofileLimit (pid: number | 'self' = 'self'): { soft: number, hard: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/limits`, 'utf8')
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text)
    if (m === null) return undefined
    const n = (s: string | undefined): number => (s === 'unlimited' ? Infinity : Number(s))
    return { soft: n(m[1]), hard: n(m[2]) }
  } catch {
    return undefined
  }
}

export function spawnApp (script: string, opts: SpawnOptions): AppProcess {
  installExitHook()
  liveMarkers.add(opts.marker)
  const env: Record<string, string | undefined> = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  env[MARKER_ENV] = opts.marker
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...((opts.extraStdio ?? []) as unknown[])] as StdioOptions
  const limit = nofileLimit()
  let child: ChildProcess
  if (opts.nofile !== undefined && limit !== undefined && limit.soft < opts.nofile) {
    const target = Math.min(opts.nofile, limit.hard)
    child = spawn('/bin/sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, script, ...(opts.args ?? [])], { env, cwd: opts.cwd, stdio })
  } else {
    child = spawn(process.execPath, [script, ...(opts.args ?? [])], { env, cwd: opts.cwd, stdio })
  }
  child.on('error', () => {})
  if (child.pid === undefined) throw new Error(`could not spawn ${script}`)
  const lines: string[] = []
  const events: AppEvent[] = []
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue
    stream.setEncoding('utf8')
    let partial = ''
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      const at = performance.now()
      for (const line of parts) {
        lines.push(line)
        if (lines.length > MAX_LINES) lines.shift()
        if (process.env.BENCH_VERBOSE !== undefined && opts.quiet !== true) process.stderr.write(`  [app] ${line}\n`)
        const parsed = parseEventLine(line)
        if (parsed !== undefined) events.push({ ...parsed, atMs: at })
      }
    })
  }
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, pid: child.pid, lines, events, exited }
}

/** SIGKILLs every process with the marker until none is left (bounded), then forgets the marker. */
export async function killAllMarked (marker: string, timeoutMs = 5_000): Promise<void> {
  const killed = new Set<number>()
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    for (const pid of killMarked(marker, 'SIGKILL')) killed.add(pid)
    if (processesWithMarker(marker).length === 0 && [...killed].every((pid) => !isAlive(pid))) break
    await delay(20)
  }
  liveMarkers.delete(marker)
}

/** Polls until every pid has exited; resolves with performance.now() then, or undefined on timeout. */
export async function waitAllExited (pids: readonly number[], timeoutMs: number, intervalMs = 5): Promise<number | undefined> {
  const end = performance.now() + timeoutMs
  for (;;) {
    if (pids.every((pid) => !isAlive(pid))) return performance.now()
    if (performance.now() > end) return undefined
    await delay(intervalMs)
  }
}

/**
 * Polls `GET /` on a fresh connection each time until a 2xx answer (refusals retried after
 * `intervalMs`); resolves with performance.now() when the answer was read, undefined on timeout.
 */
export async function waitForAnswer (port: number, host: string, timeoutMs: number, intervalMs = 2): Promise<{ atMs: number, pid: number } | undefined> {
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    const client = new Client(`http://${host}:${port}`, { connect: { timeout: 2_000 }, headersTimeout: 5_000, bodyTimeout: 5_000 })
    try {
      const res = await client.request({ path: '/', method: 'GET', reset: true })
      await res.body.text()
      if (res.statusCode >= 200 && res.statusCode < 300) {
        const at = performance.now()
        const raw = res.headers['x-pid']
        return { atMs: at, pid: Number(Array.isArray(raw) ? raw[0] : raw) || 0 }
      }
    } catch {
      // not listening yet
    } finally {
      await client.destroy().catch(() => {})
    }
    await delay(intervalMs)
  }
  return undefined
}

export function readPid (file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim()
    return /^\d+$/.test(text) ? Number(text) : undefined
  } catch {
    return undefined
  }
}

/** TCP sockets in this network namespace (all states, TIME_WAIT included), from /proc/net/tcp{,6}. */
export function tcpSocketCount (): number {
  let n = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      const text = fs.readFileSync(file, 'latin1')
      for (let i = text.indexOf('\n'); i !== -1 && i < text.length - 1; i = text.indexOf('\n', i + 1)) n++
    } catch {
      // no such table
    }
  }
  return n
}

export function tail (lines: readonly string[], n = 15): string {
  return lines.length === 0 ? '(no output)' : lines.slice(-n).join('\n')
}

/**
 * CPU used by processes that are not this bench's (neither this process nor one carrying a
 * marker it made), as a share of the whole machine, sampled every 500 ms. Other sessions'
 * test runs on a shared machine show up here; they explain outliers in the numbers. A
 * process that exits between two samples loses its last half second: a lower bound.
 */
export class ForeignCpu {
  readonly #prefix = `${MARKER_ENV}=gr-${process.pid}-`
  readonly #ours = new Map<number, boolean>()
  #last = new Map<number, number>()
  #foreignTicks = 0
  #started = 0
  #timer: NodeJS.Timeout | undefined
  readonly #hz = 100

  start (): void {
    this.#started = performance.now()
    this.#foreignTicks = 0
    this.#last = this.#sample(false)
    this.#timer = setInterval(() => { this.#last = this.#sample(true) }, 500)
    this.#timer.unref()
  }

  /** Share of the machine's CPU (0..1) that other processes used since start(). */
  stop (): number {
    clearInterval(this.#timer)
    this.#last = this.#sample(true)
    const seconds = (performance.now() - this.#started) / 1000
    const capacity = seconds * this.#hz * os.cpus().length
    return capacity > 0 ? Math.min(1, this.#foreignTicks / capacity) : 0
  }

  #isOurs (pid: number): boolean {
    const known = this.#ours.get(pid)
    if (known !== undefined) return known
    let ours = pid === process.pid
    if (!ours) {
      try {
        ours = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((kv) => kv.startsWith(this.#prefix))
      } catch {
        ours = false
      }
    }
    this.#ours.set(pid, ours)
    return ours
  }

  #sample (count: boolean): Map<number, number> {
    const now = new Map<number, number>()
    let names: string[]
    try {
      names = fs.readdirSync('/proc')
    } catch {
      return now
    }
    for (const name of names) {
      if (!/^\d+$/.test(name)) continue
      const pid = Number(name)
      let stat: string
      try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
      } catch {
        continue
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = Number(f[11]) + Number(f[12])
      if (!Number.isFinite(ticks)) continue
      now.set(pid, ticks)
      if (!count || this.#isOurs(pid)) continue
      const before = this.#last.get(pid)
      // A pid not seen in the last sample started since: all of its time is new.
      this.#foreignTicks += before === undefined ? ticks : Math.max(0, ticks - before)
    }
    for (const pid of this.#ours.keys()) if (!now.has(pid)) this.#ours.delete(pid)
    return now
  }
}
