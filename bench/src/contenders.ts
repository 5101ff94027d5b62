/**
 * The ways of restarting that the bench puts side by side. Each one serves the same app
 * (`/` at once, `/sleep?ms=N`, `x-pid`), and differs only in how a restart happens:
 *
 * - this project: the core on a plain node:http app, each adapter's example, the supervisor
 *   (a marked slot until it exists);
 * - naive stop + start, graceful `server.close()` + start (the bench is the supervisor loop);
 * - PM2 cluster mode, 2 instances, `pm2 reload` with `wait_ready`;
 * - inherited fd + http-terminator, as documented.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { isAlive, killAllMarked, processesWithMarker, readPid, spawnApp, tail, waitAllExited, waitForAnswer, type AppEvent, type AppProcess } from './procs.ts'

export const BENCH_ROOT = path.resolve(import.meta.dirname, '..', '..')
export const REPO_ROOT = path.resolve(BENCH_ROOT, '..')
const contender = (name: string): string => path.join(BENCH_ROOT, 'contenders', name)

export interface StartContext {
  port: number
  host: string
  marker: string
  /** A scratch directory for this scenario (PID files, PM2_HOME). */
  dir: string
  /** Extra env for the app (APP_VERSION, KEEP_ALIVE_TIMEOUT, LISTENERS...). */
  env?: Record<string, string>
  nofile?: number
  /** For supervisor-style contenders: how long the old process may take to exit before SIGKILL. */
  stopTimeoutMs: number
  /** How long to wait for the first answer after start. */
  startTimeoutMs?: number
}

export interface Live {
  /** The pids of the generation serving now. */
  currentPids(): Promise<number[]>
  /**
   * Triggers one restart of `old` (the pids currentPids() gave just before). Resolves once
   * the trigger went through: the signal sent (re-exec), the new process spawned
   * (supervisor loop), the reload call returned (PM2).
   */
  restart(old: readonly number[]): Promise<{ stopTimedOut?: boolean }>
  /** Event lines of every process of this contender so far. */
  events(): AppEvent[]
  /** Output tail, for error messages. */
  output(): string
  stop(): Promise<void>
}

export interface ContenderDef {
  id: string
  label: string
  ours: boolean
  /** One line on what a restart is here. */
  how: string
  /** Why it cannot run (not built yet, example missing), or undefined when it can. */
  unavailable(): string | undefined
  /** Started as a first generation by the cold start probe: [script, extra env]. */
  coldStart(port: number, host: string, dir: string): { script: string, env: Record<string, string> }
  start(ctx: StartContext): Promise<Live>
}

function baseEnv (ctx: { port: number, host: string }, extra?: Record<string, string>): Record<string, string> {
  return { PORT: String(ctx.port), HOST: ctx.host, APP_VERSION: 'v1', ...extra }
}

async function firstAnswer (ctx: StartContext, proc: AppProcess | undefined, what: string): Promise<void> {
  const answer = await waitForAnswer(ctx.port, ctx.host, ctx.startTimeoutMs ?? 20_000)
  if (answer === undefined) throw new Error(`${what} did not answer on ${ctx.host}:${ctx.port}\n${proc === undefined ? '' : tail(proc.lines)}`)
}

/** Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22). */
function startTicks (pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[19])
  } catch {
    return 0
  }
}

/**
 * A contender that hands over by re-exec on SIGUSR2 (this project, http-terminator): the
 * serving generation is the one in the PID file when the app writes it, else the youngest
 * live process with the scenario's marker.
 */
function reexec (script: string, opts: { pidFileEnv?: boolean } = {}): (ctx: StartContext) => Promise<Live> {
  return async (ctx) => {
    const pidFile = path.join(ctx.dir, 'app.pid')
    const proc = spawnApp(script, {
      marker: ctx.marker,
      nofile: ctx.nofile,
      env: baseEnv(ctx, { ...(opts.pidFileEnv === false ? {} : { PID_FILE: pidFile }), ...ctx.env })
    })
    await firstAnswer(ctx, proc, script)
    const currentPids = async (): Promise<number[]> => {
      const fromFile = readPid(pidFile)
      if (fromFile !== undefined && isAlive(fromFile)) return [fromFile]
      const live = processesWithMarker(ctx.marker)
      if (live.length === 0) return []
      return [live.reduce((a, b) => (startTicks(b) >= startTicks(a) ? b : a))]
    }
    return {
      currentPids,
      async restart (old) {
        for (const pid of old) process.kill(pid, 'SIGUSR2')
        return {}
      },
      events: () => proc.events,
      output: () => tail(proc.lines),
      async stop () {
        await killAllMarked(ctx.marker)
      }
    }
  }
}

/**
 * A contender restarted by a supervisor loop (the bench): SIGTERM, wait for the exit (at
 * most stopTimeoutMs, then SIGKILL), start the next process on the same port.
 */
function supervised (script: string): (ctx: StartContext) => Promise<Live> {
  return async (ctx) => {
    const env = baseEnv(ctx, ctx.env)
    let proc = spawnApp(script, { marker: ctx.marker, nofile: ctx.nofile, env })
    const all: AppProcess[] = [proc]
    await firstAnswer(ctx, proc, script)
    return {
      async currentPids () {
        return isAlive(proc.pid) ? [proc.pid] : []
      },
      async restart (old) {
        let stopTimedOut = false
        for (const pid of old) process.kill(pid, 'SIGTERM')
        if (await waitAllExited(old, ctx.stopTimeoutMs, 2) === undefined) {
          stopTimedOut = true
          for (const pid of old) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
          await waitAllExited(old, 5_000, 2)
        }
        proc = spawnApp(script, { marker: ctx.marker, nofile: ctx.nofile, env })
        all.push(proc)
        return { stopTimedOut }
      },
      events: () => all.flatMap((p) => p.events),
      output: () => tail(proc.lines),
      async stop () {
        await killAllMarked(ctx.marker)
      }
    }
  }
}

/** PM2 cluster mode, 2 instances, wait_ready, driven through its API by pm2-control.mjs. */
async function startPm2 (ctx: StartContext): Promise<Live> {
  const home = path.join(ctx.dir, 'pm2')
  fs.mkdirSync(home, { recursive: true })
  // PM2 checks for a newer version over the network on first use unless this file exists,
  // and once a day in the daemon unless told not to: this machine has no business there.
  fs.writeFileSync(path.join(home, 'touch'), String(Date.now()))
  const ctl = spawnApp(contender('pm2-control.mjs'), {
    marker: ctx.marker,
    nofile: ctx.nofile,
    extraStdio: ['ipc'],
    env: { PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', PM2_PROGRAMMATIC: 'true' }
  })
  const child: ChildProcess = ctl.child
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let ready: () => void = () => {}
  const readyP = new Promise<void>((resolve) => { ready = resolve })
  child.on('message', (msg: { id?: number, ok?: boolean, result?: unknown, error?: string, ready?: boolean }) => {
    if (msg.ready === true) return ready()
    const p = msg.id === undefined ? undefined : pending.get(msg.id)
    if (p === undefined) return
    pending.delete(msg.id as number)
    if (msg.ok === true) p.resolve(msg.result)
    else p.reject(new Error(`pm2: ${msg.error ?? 'failed'}`))
  })
  const send = <T>(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<T> => new Promise<T>((resolve, reject) => {
    const id = nextId++
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(new Error(`pm2 ${String(cmd.cmd)}: no answer within ${timeoutMs} ms\n${tail(ctl.lines)}`))
    }, timeoutMs)
    pending.set(id, {
      resolve: (v) => { clearTimeout(timer); resolve(v as T) },
      reject: (e) => { clearTimeout(timer); reject(e) }
    })
    child.send({ ...cmd, id })
  })
  const readyTimeout = delay(20_000).then(() => { throw new Error(`pm2 controller did not connect\n${tail(ctl.lines)}`) })
  await Promise.race([readyP, readyTimeout])
  const name = 'bench-app'
  await send({
    cmd: 'start',
    app: {
      name,
      script: contender('pm2-app.mjs'),
      exec_mode: 'cluster',
      instances: 2,
      wait_ready: true,
      autorestart: true,
      merge_logs: true,
      out_file: path.join(ctx.dir, 'pm2-out.log'),
      error_file: path.join(ctx.dir, 'pm2-err.log'),
      env: baseEnv(ctx, ctx.env)
    }
  })
  await firstAnswer(ctx, ctl, 'pm2 cluster')
  // Both workers online before the first reload.
  const end = performance.now() + 20_000
  while ((await send<number[]>({ cmd: 'pids', name })).length < 2 && performance.now() < end) await delay(50)
  return {
    currentPids: () => send<number[]>({ cmd: 'pids', name }),
    async restart () {
      await send({ cmd: 'reload', name }, 120_000)
      return {}
    },
    events: () => [],
    output: () => tail(ctl.lines),
    async stop () {
      await send({ cmd: 'kill' }, 20_000).catch(() => {})
      await killAllMarked(ctx.marker)
    }
  }
}

const SUPERVISOR_CLI = path.join(REPO_ROOT, 'packages', 'core', 'dist', 'src', 'cli', 'main.js')

/**
 * This project's supervisor (`graceful-restart run`): a resident process that owns
 * the socket and runs 2 workers of the core app; SIGUSR2 to it reloads them.
 */
async function startSupervisor (ctx: StartContext): Promise<Live> {
  const pidFile = path.join(ctx.dir, 'supervisor.pid')
  const statusFile = `${pidFile}.json`
  const proc = spawnApp(SUPERVISOR_CLI, {
    marker: ctx.marker,
    nofile: ctx.nofile,
    env: baseEnv(ctx, ctx.env),
    args: ['run', '--listen', `${ctx.host}:${ctx.port}`, '--workers', '2', '--pid-file', pidFile, '--', process.execPath, contender('graceful-core.mjs')]
  })
  await firstAnswer(ctx, proc, 'graceful-restart run')
  const workers = (): number[] => {
    try {
      const status = JSON.parse(fs.readFileSync(statusFile, 'utf8')) as { workers?: Array<{ pid?: number, state?: string }> }
      return (status.workers ?? []).filter((w) => w.state === 'ready' && typeof w.pid === 'number' && isAlive(w.pid)).map((w) => w.pid as number)
    } catch {
      return []
    }
  }
  const end = performance.now() + 20_000
  while (workers().length < 2 && performance.now() < end) await delay(20)
  return {
    async currentPids () {
      return workers()
    },
    async restart () {
      const supervisor = readPid(pidFile)
      if (supervisor === undefined) throw new Error('no supervisor PID file')
      process.kill(supervisor, 'SIGUSR2')
      return {}
    },
    events: () => proc.events,
    output: () => tail(proc.lines),
    async stop () {
      await killAllMarked(ctx.marker)
    }
  }
}

function exampleScript (name: string): string | undefined {
  const dir = path.join(REPO_ROOT, 'examples', name)
  for (const file of ['server.js', 'server.mjs', 'dist/server.js']) {
    const p = path.join(dir, file)
    if (fs.existsSync(p)) return p
  }
  return undefined
}

function example (name: 'fastify' | 'express' | 'koa', label: string): ContenderDef {
  return {
    id: name,
    label,
    ours: true,
    how: `examples/${name}/server.js, SIGUSR2`,
    unavailable: () => (exampleScript(name) === undefined ? `examples/${name}/server.js not there yet` : undefined),
    coldStart: (port, host, dir) => ({ script: exampleScript(name) as string, env: baseEnv({ port, host }, { PID_FILE: path.join(dir, `cold-${name}.pid`) }) }),
    start: (ctx) => reexec(exampleScript(name) as string)(ctx)
  }
}

export const CONTENDERS: ContenderDef[] = [
  {
    id: 'core',
    label: 'graceful-restart (core, node:http)',
    ours: true,
    how: 'SIGUSR2: re-exec, inherited listener, drain',
    unavailable: () => undefined,
    coldStart: (port, host, dir) => ({ script: contender('graceful-core.mjs'), env: baseEnv({ port, host }, { PID_FILE: path.join(dir, 'cold-core.pid') }) }),
    start: reexec(contender('graceful-core.mjs'))
  },
  example('fastify', 'graceful-restart + Fastify (example)'),
  example('express', 'graceful-restart + Express (example)'),
  example('koa', 'graceful-restart + Koa (example)'),
  {
    id: 'supervisor',
    label: 'graceful-restart supervisor',
    ours: true,
    how: 'graceful-restart run --workers 2, SIGUSR2 to the supervisor',
    unavailable: () => (fs.existsSync(SUPERVISOR_CLI) ? undefined : 'packages/core is not built: run `pnpm build`'),
    coldStart: (port, host, dir) => ({ script: contender('graceful-core.mjs'), env: baseEnv({ port, host }, { PID_FILE: path.join(dir, 'cold-supervised.pid') }) }),
    start: startSupervisor
  },
  {
    id: 'naive',
    label: 'naive stop + start',
    ours: false,
    how: 'SIGTERM (exits at once), then start',
    unavailable: () => undefined,
    coldStart: (port, host) => ({ script: contender('naive.mjs'), env: baseEnv({ port, host }) }),
    start: supervised(contender('naive.mjs'))
  },
  {
    id: 'close',
    label: 'server.close() + start',
    ours: false,
    how: 'SIGTERM: server.close(), start after exit',
    unavailable: () => undefined,
    coldStart: (port, host) => ({ script: contender('close.mjs'), env: baseEnv({ port, host }) }),
    start: supervised(contender('close.mjs'))
  },
  {
    id: 'pm2',
    label: 'PM2 cluster reload',
    ours: false,
    how: '2 instances, pm2 reload, wait_ready',
    unavailable: () => (fs.existsSync(path.join(BENCH_ROOT, 'node_modules', 'pm2')) ? undefined : 'pm2 not installed (pnpm install)'),
    coldStart: (port, host) => ({ script: contender('pm2-app.mjs'), env: baseEnv({ port, host }) }),
    start: startPm2
  },
  {
    id: 'terminator',
    label: 'inherited fd + http-terminator',
    ours: false,
    how: 'SIGUSR2: fd to child, terminate() on ready',
    unavailable: () => undefined,
    coldStart: (port, host, dir) => ({ script: contender('terminator.mjs'), env: baseEnv({ port, host }, { PID_FILE: path.join(dir, 'cold-terminator.pid') }) }),
    start: reexec(contender('terminator.mjs'))
  }
]

/**
 * The core with `handoffIdleConnections: false` (bench/src/handoff.ts compares it with
 * `core`, which has the default: idle connections go to the next generation).
 */
export const CORE_NO_HANDOFF: ContenderDef = {
  id: 'core-no-handoff',
  label: 'graceful-restart (core, handoffIdleConnections: false)',
  ours: true,
  how: 'SIGUSR2: re-exec, inherited listener, idle connections closed at the drain',
  unavailable: () => undefined,
  coldStart: (port, host, dir) => ({ script: contender('graceful-core.mjs'), env: baseEnv({ port, host }, { PID_FILE: path.join(dir, 'cold-core-no-handoff.pid'), HANDOFF: '0' }) }),
  start: (ctx) => reexec(contender('graceful-core.mjs'))({ ...ctx, env: { ...ctx.env, HANDOFF: '0' } })
}

export function contenderById (id: string): ContenderDef {
  if (id === CORE_NO_HANDOFF.id) return CORE_NO_HANDOFF
  const c = CONTENDERS.find((x) => x.id === id)
  if (c === undefined) throw new Error(`unknown contender ${id}; known: ${CONTENDERS.map((x) => x.id).join(', ')}`)
  return c
}
