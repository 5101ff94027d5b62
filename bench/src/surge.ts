/**
 * `node bench/run.mjs surge [options]`: what a supervisor reload costs in memory and time, by
 * `--surge`. The supervisor runs 4 workers of an app that holds 100 MB each
 * (contenders/hold-memory.mjs); while a light keep-alive load runs, it is reloaded a few
 * times, and the resident memory of its whole process tree (the supervisor and every
 * process below it) is sampled every 10 ms from /proc, from the signal until the last
 * replaced worker exited. Results: bench/results/surge.md.
 *
 *   --surge=1,2,4     the values to compare ("all" = no --surge: every worker at once)
 *   --workers=4 --hold-mb=100 --reloads=3 --out=DIR --name=surge
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort, startLoad } from '@graceful-restart/test-utils'
import { BENCH_ROOT, REPO_ROOT } from './contenders.ts'
import { ForeignCpu, killAllMarked, newMarker, readPid, spawnApp, tail } from './procs.ts'
import { median, round } from './stats.ts'

const CLI = path.join(REPO_ROOT, 'packages', 'core', 'dist', 'src', 'cli', 'main.js')
const APP = path.join(BENCH_ROOT, 'contenders', 'hold-memory.mjs')
const PAGE = 4096
const SAMPLE_MS = 10
/** PSS on every 5th sample only (see treeMemory). */
const PSS_EVERY = 5

export interface SurgePlan {
  surges: Array<number | 'all'>
  workers: number
  holdMb: number
  reloads: number
  out: string
  name: string
}

export interface ReloadSample {
  /** Signal to the supervisor's own account that every worker was replaced (its `lastHandover.durationMs`). */
  reloadMs: number
  /** Signal until the last replaced worker exited. */
  completeMs: number
  peakRssMb: number
  peakPssMb: number
  mostProcesses: number
}

export interface SurgeResult {
  surge: number | 'all'
  workers: number
  /** The tree at rest before the first reload. */
  baseRssMb: number
  basePssMb: number
  reloads: ReloadSample[]
  requests: number
  failed: number
  foreignCpu: number
}

interface TreeMemory { rssKb: number, pssKb: number, processes: number }

function readOr (file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1')
  } catch {
    return undefined
  }
}

/** The pid and every process below it (children of each of its threads, recursively). */
export function processTree (root: number): number[] {
  const out: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift() as number
    out.push(pid)
    let tasks: string[]
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const task of tasks) {
      for (const child of (readOr(`/proc/${pid}/task/${task}/children`) ?? '').split(' ')) {
        if (/^\d+$/.test(child)) queue.push(Number(child))
      }
    }
  }
  return out
}

/**
 * RSS (statm) and, when asked, PSS (smaps_rollup, which walks the page tables: about 1-2 ms
 * a process) summed over the tree; zombies hold no memory and are skipped. RSS counts a page
 * shared by two processes (Node's own code) twice; PSS splits it, which is closer to what a
 * container's memory limit is charged.
 */
export function treeMemory (root: number, withPss = true): TreeMemory {
  let rssKb = 0
  let pssKb = 0
  let processes = 0
  for (const pid of processTree(root)) {
    const statm = readOr(`/proc/${pid}/statm`)
    if (statm === undefined || statm.trim() === '0 0 0 0 0 0 0') continue
    processes++
    rssKb += Number(statm.split(' ')[1]) * PAGE / 1024
    if (!withPss) continue
    const pss = /^Pss:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/smaps_rollup`) ?? '')
    if (pss !== null) pssKb += Number(pss[1])
  }
  return { rssKb, pssKb, processes }
}

interface SupervisorStatus {
  workers?: Array<{ pid?: number, state?: string, generation?: number }>
  lastHandover?: { ok: boolean, generation: number, durationMs: number, reason?: string }
}

function readStatus (file: string): SupervisorStatus | undefined {
  const text = readOr(file)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as SupervisorStatus
  } catch {
    return undefined
  }
}

async function until<T> (what: string, timeoutMs: number, fn: () => T | undefined): Promise<T> {
  const end = performance.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined) return value
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

export async function measureSurge (plan: SurgePlan, surge: number | 'all', log: (line: string) => void): Promise<SurgeResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-bench-surge-'))
  const marker = newMarker()
  const port = await freePort()
  const pidFile = path.join(dir, 'supervisor.pid')
  const statusFile = `${pidFile}.json`
  const proc = spawnApp(CLI, {
    marker,
    env: { PORT: String(port), HOST: '127.0.0.1', HOLD_MB: String(plan.holdMb) },
    args: ['run', '--listen', `127.0.0.1:${port}`, '--workers', String(plan.workers), ...(surge === 'all' ? [] : ['--surge', String(surge)]),
      '--pid-file', pidFile, '--', process.execPath, APP],
    quiet: true
  })
  const foreign = new ForeignCpu()
  try {
    const supervisor = await until('the supervisor PID file', 20_000, () => readPid(pidFile))
    const readyWorkers = (): number => (readStatus(statusFile)?.workers ?? []).filter((w) => w.state === 'ready').length
    await until(`${plan.workers} ready workers`, 60_000, () => (readyWorkers() === plan.workers ? true : undefined))
    const rest: TreeMemory[] = []
    for (let i = 0; i < 20; i++) {
      rest.push(treeMemory(supervisor))
      await delay(50)
    }
    const load = startLoad({ port, keepAlive: true, clients: 8, slowEvery: 25, slowMs: 300, durationMs: 600_000 })
    foreign.start()
    const reloads: ReloadSample[] = []
    for (let i = 0; i < plan.reloads; i++) {
      const before = readStatus(statusFile)?.lastHandover?.generation ?? 1
      const generation = before + 1
      let peakRss = 0
      let peakPss = 0
      let most = 0
      let sampling = true
      const sampler = (async () => {
        for (let tick = 0; sampling; tick++) {
          const m = treeMemory(supervisor, tick % PSS_EVERY === 0)
          peakRss = Math.max(peakRss, m.rssKb)
          peakPss = Math.max(peakPss, m.pssKb)
          most = Math.max(most, m.processes - 1)
          await delay(SAMPLE_MS)
        }
      })()
      const signalled = performance.now()
      process.kill(supervisor, 'SIGUSR2')
      const done = await until(`generation ${generation}`, 120_000, () => {
        const h = readStatus(statusFile)?.lastHandover
        return h !== undefined && h.generation === generation ? h : undefined
      })
      if (!done.ok) throw new Error(`reload to generation ${generation} failed: ${done.reason ?? '?'}`)
      // Complete once the tree is down to the supervisor and N workers again.
      await until('the replaced workers to exit', 60_000, () => (treeMemory(supervisor, false).processes === plan.workers + 1 ? true : undefined))
      const completeMs = performance.now() - signalled
      sampling = false
      await sampler
      reloads.push({ reloadMs: done.durationMs, completeMs: round(completeMs, 0), peakRssMb: round(peakRss / 1024, 0), peakPssMb: round(peakPss / 1024, 0), mostProcesses: most })
      log(`  surge ${surge}, reload ${i + 1}: replaced in ${done.durationMs} ms, complete in ${Math.round(completeMs)} ms; ` +
        `tree RSS peak ${Math.round(peakRss / 1024)} MB, PSS peak ${Math.round(peakPss / 1024)} MB, at most ${most} workers`)
      await delay(500)
    }
    const report = await load.stop()
    return {
      surge,
      workers: plan.workers,
      baseRssMb: round(median(rest.map((m) => m.rssKb)) / 1024, 0),
      basePssMb: round(median(rest.map((m) => m.pssKb)) / 1024, 0),
      reloads,
      requests: report.requests,
      failed: report.failed,
      foreignCpu: round(foreign.stop(), 3)
    }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(proc.lines)}`)
  } finally {
    const pid = readPid(pidFile)
    if (pid !== undefined) {
      try { process.kill(pid, 'SIGTERM') } catch {}
    }
    await Promise.race([proc.exited, delay(20_000)])
    await killAllMarked(marker)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export function surgeMarkdown (plan: SurgePlan, results: SurgeResult[], meta: { date: string, node: string, cpus: string, durationS: number }): string {
  const label = (s: number | 'all'): string => (s === 'all' ? 'none (all at once)' : `--surge ${s}`)
  const out = [
    '# Supervisor reload: memory and time by `--surge`',
    '',
    `${meta.date} · Node ${meta.node} · ${meta.cpus} · bench took ${meta.durationS} s.`,
    '',
    `\`graceful-restart run --workers ${plan.workers}\`, each worker an app holding ${plan.holdMb} MB (bench/contenders/hold-memory.mjs: written, so resident), ` +
      `${plan.reloads} reloads (SIGUSR2) per setting under a light keep-alive load (8 clients, 1 request in 25 takes 300 ms). ` +
      `Memory of the supervisor's whole process tree, sampled every ${SAMPLE_MS} ms (PSS every ${SAMPLE_MS * PSS_EVERY} ms) from the signal until the last replaced worker exited; medians over the reloads.`,
    '',
    '| surge | workers alive at most | tree RSS at rest | tree RSS peak in a reload | peak − rest | tree PSS at rest / peak | reload: signal → all replaced | complete: last old worker exited | requests / failed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
  ]
  for (const r of results) {
    const peakRss = median(r.reloads.map((x) => x.peakRssMb))
    const peakPss = median(r.reloads.map((x) => x.peakPssMb))
    out.push(`| ${label(r.surge)} | ${Math.max(...r.reloads.map((x) => x.mostProcesses))} | ${r.baseRssMb} MB | **${Math.round(peakRss)} MB** | +${Math.round(peakRss - r.baseRssMb)} MB | ` +
      `${r.basePssMb} / ${Math.round(peakPss)} MB | ${Math.round(median(r.reloads.map((x) => x.reloadMs)))} ms | ${Math.round(median(r.reloads.map((x) => x.completeMs)))} ms | ` +
      `${r.requests.toLocaleString('en-US')} / ${r.failed} |`)
  }
  out.push('',
    '- **RSS** counts a page shared by two processes (Node\'s code) in both; **PSS** splits it between them, closer to what a container\'s memory limit is charged for.',
    '- **reload**: from the signal to the supervisor\'s own record that every worker was replaced (`lastHandover.durationMs`); **complete**: until the last replaced worker exited after its drain.',
    '- A draining worker still holds its memory: with `--surge K` the next step waits until the workers it replaced exited, so at most N + K processes exist at any moment.',
    `- Other processes used ${results.map((r) => `${Math.round(r.foreignCpu * 100)}%`).join(' / ')} of the machine's CPU during the reloads of each row (a shared machine).`,
    '',
    'Per reload:',
    '',
    '| surge | reload | replaced in ms | complete in ms | tree RSS peak | tree PSS peak | workers alive at most |',
    '| --- | --- | --- | --- | --- | --- | --- |')
  for (const r of results) {
    r.reloads.forEach((x, i) => out.push(`| ${label(r.surge)} | ${i + 1} | ${x.reloadMs} | ${x.completeMs} | ${x.peakRssMb} MB | ${x.peakPssMb} MB | ${x.mostProcesses} |`))
  }
  return out.join('\n') + '\n'
}

export function surgePlan (argv: string[]): SurgePlan {
  const args = new Map<string, string>()
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a)
    if (m === null) throw new Error(`unknown argument ${a} (see bench/src/surge.ts for the options)`)
    args.set(m[1] as string, m[2] as string)
  }
  for (const k of args.keys()) if (!['surge', 'workers', 'hold-mb', 'reloads', 'out', 'name'].includes(k)) throw new Error(`unknown option --${k}`)
  const int = (k: string, d: number): number => {
    const v = args.get(k)
    if (v === undefined) return d
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--${k} wants an integer >= 1, got ${v}`)
    return Number(v)
  }
  const workers = int('workers', 4)
  const surges = (args.get('surge') ?? `1,2,${workers}`).split(',').map((s) => (s === 'all' ? 'all' as const : Number(s)))
  for (const s of surges) if (s !== 'all' && (!Number.isSafeInteger(s) || s < 1 || s > workers)) throw new Error(`--surge: ${s} is not from 1 to ${workers}`)
  return {
    surges,
    workers,
    holdMb: int('hold-mb', 100),
    reloads: int('reloads', 3),
    out: path.resolve(args.get('out') ?? path.join(BENCH_ROOT, 'results')),
    name: args.get('name') ?? 'surge'
  }
}

export async function main (argv: string[]): Promise<number> {
  let plan: SurgePlan
  try {
    plan = surgePlan(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const log = (line: string): void => { process.stdout.write(line + '\n') }
  const started = performance.now()
  const results: SurgeResult[] = []
  for (const surge of plan.surges) {
    log(`- --workers ${plan.workers} ${surge === 'all' ? '(no --surge)' : `--surge ${surge}`}, ${plan.holdMb} MB per worker, ${plan.reloads} reloads`)
    results.push(await measureSurge(plan, surge, log))
  }
  const markdown = surgeMarkdown(plan, results, {
    date: new Date().toISOString(),
    node: process.versions.node,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown'}`,
    durationS: Math.round((performance.now() - started) / 1000)
  })
  fs.mkdirSync(plan.out, { recursive: true })
  const file = path.join(plan.out, `${plan.name}.md`)
  fs.writeFileSync(file, markdown)
  log('\n' + markdown)
  log(path.relative(process.cwd(), file))
  return results.some((r) => r.failed > 0) ? 1 : 0
}
