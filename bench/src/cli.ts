/**
 * `node bench/run.mjs [options]`: every contender under keep-alive and new-connection
 * load, restarted N times, then the scaling run; the table in the terminal and
 * bench/results/NAME.{md,json} plus the SVG charts.
 *
 *   --quick                 smaller sizes (a few minutes)
 *   --only=core,naive       contenders by id (core fastify express koa supervisor naive close pm2 terminator)
 *   --modes=keep-alive,new-connection
 *   --restarts=N --clients=N --stop-timeout=MS --cold-samples=N
 *   --no-scaling | --scaling-only
 *   --connections=100,1000 --listeners=1,4 --generations=N --time-wait=0,20000
 *   --out=DIR --name=NAME   (default bench/results, NAME = full | quick)
 */
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { BENCH_ROOT, CONTENDERS, contenderById, type ContenderDef } from './contenders.ts'
import type { Mode } from './load.ts'
import { ForeignCpu, nofileLimit, tcpSocketCount } from './procs.ts'
import { scalingSummary, terminalTable, writeResults, type BenchResults } from './report.ts'
import { runScaling, type ScalingConfig } from './scaling.ts'
import { coldStarts, runScenario, type ScenarioConfig, type ScenarioResult } from './scenario.ts'
import { median, round } from './stats.ts'


export interface Plan {
  run: string
  scenario: ScenarioConfig
  scaling: ScalingConfig | null
  contenders: ContenderDef[]
  modes: Mode[]
  idleColdSamples: number
  out: string
  name: string
  skipScenarios: boolean
}

export function fullScenario (): ScenarioConfig {
  return {
    restarts: 5,
    clients: 32,
    slowEvery: 50,
    slowMs: 500,
    requestTimeoutMs: 10_000,
    warmupMs: 1_000,
    baselineMs: 1_000,
    intervalMs: 1_000,
    tailMs: 1_000,
    coldStartSamples: 6,
    newGenTimeoutMs: 30_000,
    completeTimeoutMs: 45_000,
    stopTimeoutMs: 10_000,
    bucketMs: 100,
    host: '127.0.0.1'
  }
}

export function plan (argv: string[]): Plan {
  const args = new Map<string, string>()
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
    if (m === null) throw new Error(`unknown argument ${a} (see bench/src/cli.ts for the options)`)
    args.set(m[1] as string, m[2] ?? 'true')
  }
  const known = ['quick', 'only', 'modes', 'restarts', 'clients', 'stop-timeout', 'cold-samples', 'no-scaling', 'scaling-only', 'connections', 'listeners', 'generations', 'time-wait', 'out', 'name']
  for (const k of args.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}; known: ${known.map((x) => `--${x}`).join(' ')}`)
  const quick = args.has('quick')
  const num = (k: string, d: number): number => {
    const v = args.get(k)
    if (v === undefined) return d
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} wants a number, got ${v}`)
    return n
  }
  const list = (k: string, d: number[]): number[] => (args.get(k)?.split(',').map(Number).filter((n) => Number.isFinite(n) && n >= 0) ?? d)
  const scenario: ScenarioConfig = {
    ...fullScenario(),
    ...(quick ? { restarts: 3, coldStartSamples: 4, stopTimeoutMs: 3_000 } : {})
  }
  scenario.restarts = num('restarts', scenario.restarts)
  scenario.clients = num('clients', scenario.clients)
  scenario.stopTimeoutMs = num('stop-timeout', scenario.stopTimeoutMs)
  scenario.coldStartSamples = num('cold-samples', scenario.coldStartSamples)
  const scaling: ScalingConfig | null = args.has('no-scaling')
    ? null
    : {
        timeWait: list('time-wait', quick ? [0, 20_000] : [0, 10_000, 20_000, 30_000]),
        connections: list('connections', quick ? [100, 1_000, 5_000] : [100, 1_000, 2_500, 5_000, 10_000]),
        listeners: list('listeners', quick ? [1, 4, 16] : [1, 2, 4, 8, 16]),
        generations: num('generations', quick ? 30 : 200),
        repeats: quick ? 2 : 3,
        loadClients: 8,
        loadThinkMs: 10,
        host: '127.0.0.1'
      }
  const only = args.get('only')?.split(',').filter(Boolean)
  const contenders = only === undefined ? CONTENDERS : only.map(contenderById)
  const modes = (args.get('modes')?.split(',') ?? ['keep-alive', 'new-connection']) as Mode[]
  for (const m of modes) if (m !== 'keep-alive' && m !== 'new-connection') throw new Error(`unknown mode ${m}`)
  return {
    run: quick ? 'quick' : 'full',
    scenario,
    scaling,
    contenders,
    modes,
    idleColdSamples: quick ? 3 : 7,
    out: path.resolve(args.get('out') ?? path.join(BENCH_ROOT, 'results')),
    name: args.get('name') ?? (quick ? 'quick' : 'full'),
    skipScenarios: args.has('scaling-only')
  }
}

function commit (): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: BENCH_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function restartLine (s: string, r: ScenarioResult['restarts'][number], counts: { requests: number, failed: number }): string {
  const parts = [`    restart ${r.index}: handover ${r.handoverMs ?? '–'} ms`]
  if (r.internalMs !== null) parts.push(`(app: ready after ${r.internalMs} ms)`)
  parts.push(`complete ${r.completeMs ?? '–'} ms${r.stopTimedOut ? ' (old process SIGKILLed at the stop timeout)' : ''}`)
  parts.push(`· ${counts.requests.toLocaleString('en-US')} requests, ${counts.failed.toLocaleString('en-US')} failed`)
  if (r.error !== null) parts.push(`· ${r.error}`)
  void s
  return parts.join(' ')
}

export async function runBench (p: Plan, log: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<BenchResults> {
  const started = performance.now()
  const results: BenchResults = {
    meta: {
      run: p.run,
      date: new Date().toISOString(),
      node: process.versions.node,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      platform: `${os.type()} ${os.release()}`,
      commit: commit(),
      durationMs: 0,
      scenario: p.scenario,
      scaling: p.scaling
    },
    coldStartIdle: {},
    scenarios: [],
    scaling: null
  }
  const limit = nofileLimit()
  log(`graceful-restart bench (${p.run}): Node ${process.versions.node}, ${os.cpus().length} cores, open files ${limit?.soft ?? '?'}/${limit?.hard ?? '?'}`)
  results.meta.foreignCpuAtStart = await quiet(log)
  const available = p.contenders.filter((def) => def.unavailable() === undefined)
  if (!p.skipScenarios) {
    // Cold starts first, on an otherwise idle machine.
    for (const def of available) {
      const idle = await coldStarts(def, p.scenario.host, p.idleColdSamples)
      results.coldStartIdle[def.id] = idle
      log(`- ${def.label}: cold start idle ${Math.round(median(idle))} ms (median of ${idle.length})`)
    }
  }
  if (p.scaling !== null) {
    log(`- scaling (core), ${tcpSocketCount()} TCP sockets on the machine`)
    const foreign = new ForeignCpu()
    foreign.start()
    results.scaling = await runScaling(p.scaling, log)
    results.scaling.foreignCpu = round(foreign.stop(), 3)
    log(`  (${Math.round(results.scaling.foreignCpu * 100)}% CPU used by other processes meanwhile)`)
  }
  if (!p.skipScenarios) {
    // Every mode across all contenders in turn: a new-connection load leaves tens of thousands
    // of TIME_WAIT sockets behind for a minute, and they are part of what the next scenario
    // runs in. So keep-alive runs all start clean, new-connection runs all start amid them.
    await settle(log)
    for (const mode of p.modes) {
      for (const def of p.contenders) {
        const reason = def.unavailable()
        if (reason !== undefined) {
          log(`- ${def.label}, ${mode}: ${reason}`)
          results.scenarios.push(await runScenario(def, mode, p.scenario))
          continue
        }
        log(`- ${def.label}, ${mode}, ${p.scenario.clients} clients, ${p.scenario.restarts} restarts (${tcpSocketCount()} TCP sockets on the machine)`)
        const s = await runScenario(def, mode, p.scenario, (e) => {
          if (e.kind === 'restart') log(restartLine(e.scenario, e.record, e.counts))
        })
        results.scenarios.push(s)
        const f = s.failures
        log(`    = ${Math.round(s.foreignCpu * 100)}% CPU used by other processes meanwhile; ${s.requests.toLocaleString('en-US')} requests, ${s.failed.toLocaleString('en-US')} failed (refused ${f.refused}, reset ${f.reset}, timeout ${f.timeout}, non-2xx ${f.non2xx}, other ${f.other}); handover median ${s.handoverMedianMs ?? '–'} ms vs cold start under load ${s.coldStartMedianMs ?? '–'} ms`)
        if (s.note !== null) log(`    ! ${s.note.split('\n').join('\n      ')}`)
      }
    }
    // Keep the table grouped by contender.
    const order = p.contenders.map((d) => d.id)
    results.scenarios.sort((a, b) => order.indexOf(a.contender) - order.indexOf(b.contender) || p.modes.indexOf(a.mode) - p.modes.indexOf(b.mode))
  }
  results.meta.durationMs = Math.round(performance.now() - started)
  return results
}

/**
 * The machine may be shared (other sessions' test runs): wait, at most a minute, for other
 * processes to use less than a quarter of it. Returns their share over the last 2 s.
 */
async function quiet (log: (line: string) => void): Promise<number> {
  const QUIET_BELOW = 0.25
  const start = performance.now()
  let share = 1
  let said = false
  while (performance.now() - start < 60_000) {
    const w = new ForeignCpu()
    w.start()
    await delay(2_000)
    share = w.stop()
    if (share < QUIET_BELOW) break
    if (!said) log(`- other processes use ${Math.round(share * 100)}% of the machine's CPU: waiting up to 60 s for quiet`)
    said = true
  }
  if (said || share >= QUIET_BELOW) log(`  other processes: ${Math.round(share * 100)}% CPU, going ahead`)
  return round(share, 3)
}

/** Waits (at most SETTLE_MAX_MS) until the machine's TCP sockets, TIME_WAIT included, are few. */
async function settle (log: (line: string) => void): Promise<void> {
  const SETTLE_BELOW = 3_000
  const SETTLE_MAX_MS = 70_000
  const start = performance.now()
  let n = tcpSocketCount()
  if (n < SETTLE_BELOW) return
  log(`- waiting for ${n} TCP sockets (mostly TIME_WAIT) to clear before the restart scenarios (at most ${SETTLE_MAX_MS / 1000} s)`)
  while (n >= SETTLE_BELOW && performance.now() - start < SETTLE_MAX_MS) {
    await delay(1_000)
    n = tcpSocketCount()
  }
  log(`  ${n} left after ${Math.round((performance.now() - start) / 1000)} s`)
}

export async function main (argv: string[]): Promise<number> {
  let p: Plan
  try {
    p = plan(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const results = await runBench(p)
  const files = writeResults(results, p.out, p.name)
  process.stdout.write('\n' + terminalTable(results) + '\n')
  if (results.scaling !== null) process.stdout.write('\n' + scalingSummary(results.scaling) + '\n')
  process.stdout.write(`\n${files.map((f) => path.relative(process.cwd(), f)).join('\n')}\n(${Math.round(results.meta.durationMs / 1000)} s)\n`)
  const ours = results.scenarios.filter((s) => s.ours && s.status !== 'unavailable')
  const bad = ours.filter((s) => s.failed > 0 || s.status === 'error')
  const scalingFailed = results.scaling === null ? 0 : results.scaling.connections.failed + results.scaling.listeners.failed + results.scaling.generations.failed + results.scaling.timeWait.failed
  if (bad.length > 0 || scalingFailed > 0) {
    process.stdout.write(`\nThis project lost requests or did not complete: ${bad.map((s) => `${s.contender}/${s.mode}`).join(', ')}${scalingFailed > 0 ? ` scaling: ${scalingFailed} failed` : ''}\n`)
    return 1
  }
  return 0
}
