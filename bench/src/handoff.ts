/**
 * `node bench/run.mjs handoff [--restarts=N] [--clients=N] [--name=NAME]` (root script
 * `bench:handoff`): the core without and with `handoffIdleConnections` (the default), side by side, under
 * the same keep-alive load (the full comparison's scenario, 20 restarts by default): failed
 * requests, the TCP connections the clients had to open again (counted at the client),
 * handover time, how long the old generation drained, and the latency of fast requests in
 * and out of restart windows. Writes bench/results/NAME.md and NAME.json (NAME = handoff).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BENCH_ROOT, CORE_NO_HANDOFF, contenderById } from './contenders.ts'
import { fullScenario } from './cli.ts'
import { runScenario, type ScenarioConfig, type ScenarioResult } from './scenario.ts'
import { median, round } from './stats.ts'

export interface HandoffComparison {
  meta: { date: string, node: string, cpus: number, cpuModel: string, restarts: number, clients: number, durationMs: number }
  scenarios: ScenarioResult[]
}

function options (argv: string[]): { cfg: ScenarioConfig, name: string } {
  const cfg: ScenarioConfig = { ...fullScenario(), restarts: 20, coldStartSamples: 3 }
  let name = 'handoff'
  for (const a of argv) {
    const m = /^--(restarts|clients|name)=(.+)$/.exec(a)
    if (m === null) throw new Error(`unknown argument ${a}; known: --restarts=N --clients=N --name=NAME`)
    if (m[1] === 'name') name = m[2] as string
    else {
      const n = Number(m[2])
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${m[1] as string} wants a positive integer, got ${m[2] as string}`)
      if (m[1] === 'restarts') cfg.restarts = n
      else cfg.clients = n
    }
  }
  return { cfg, name }
}

const fmt = (n: number | null | undefined): string => (n === null || n === undefined || Number.isNaN(n) ? '–' : String(round(n, 1)))

function range (values: number[]): string {
  if (values.length === 0) return '–'
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`
}

/** The comparison as a Markdown page. */
export function handoffTable (c: HandoffComparison): string {
  const { meta } = c
  const rows = c.scenarios.map((s) => {
    const restarts = s.restarts.length
    const reopened = s.connections - s.clients
    const handovers = s.restarts.map((r) => r.handoverMs).filter((x): x is number => x !== null)
    const completes = s.restarts.map((r) => r.completeMs).filter((x): x is number => x !== null)
    const drains = s.restarts.map((r) => r.drainMs).filter((x): x is number => x !== null)
    return `| ${s.label} | ${restarts} | ${s.requests.toLocaleString('en-US')} | **${s.failed}** | ${reopened} (${restarts === 0 ? '–' : round(reopened / (s.clients * restarts), 2)}) | ` +
      `${range(handovers)} | ${range(drains)} | ${range(completes)} | ${fmt(s.latency.inRestart.p99)} / ${fmt(s.latency.outside.p99)} | ` +
      `${s.throughput.steadyRps.toLocaleString('en-US')} / ${s.throughput.worstRestartRps.toLocaleString('en-US')} | ${Math.round(s.foreignCpu * 100)}% |`
  })
  return `# Connection handoff: with and without

${meta.date} · Node ${meta.node} · ${meta.cpus} × ${meta.cpuModel} · bench took ${Math.round(meta.durationMs / 1000)} s.

The core app (\`contenders/graceful-core.mjs\`), ${meta.clients} closed-loop keep-alive clients (undici \`Pool\`, one connection each), 1 request in 50 to \`/sleep?ms=500\`, ${meta.restarts} restarts (\`kill -USR2\`) each 1 s after the previous one completed; the same scenario as the full comparison ([README](../README.md)). The only difference between the rows is the option \`handoffIdleConnections\` (on by default).

| | restarts | requests | failed | new TCP connections the clients opened (per client per restart) | handover ms, median (min–max) | old generation's drain ms, median (min–max) | restart complete ms, median (min–max) | fast p99 ms in / out of restart windows | req/s steady / lowest 0.5 s in restart | other processes' CPU |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

- **new TCP connections**: counted at the client (the pool's \`connect\` events), beyond the first one per client. Without the handoff, every idle keep-alive connection is closed by the old generation (after \`idleGrace\`) or its next response says \`Connection: close\`: about one new connection per client per restart. With it, idle connections are passed to the new generation and kept.
- **handover**: from the signal to the first 2xx answer from the new generation, as the load saw it. **drain**: the old generation's own account (\`drain:end\` \`durationMs\`). **restart complete**: from the signal until the old generation exited.
- **fast p99 in / out of restart windows**: latency of 2xx answers to \`/\` for requests overlapping a restart window (signal → new generation answering and old one gone) or not.
- **other processes' CPU**: the share of the machine's CPU that processes other than the bench's used during the scenario (the machine has 2 cores and may be shared).
`
}

export async function main (argv: string[]): Promise<number> {
  let cfg: ScenarioConfig
  let name: string
  try {
    ({ cfg, name } = options(argv))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const started = performance.now()
  const scenarios: ScenarioResult[] = []
  for (const def of [CORE_NO_HANDOFF, { ...contenderById('core'), label: 'graceful-restart (core, default: handoffIdleConnections on)' }]) {
    process.stdout.write(`${def.label}: ${cfg.restarts} restarts under ${cfg.clients} keep-alive clients\n`)
    const s = await runScenario(def, 'keep-alive', cfg, (e) => {
      if (e.kind === 'restart') process.stdout.write(`  restart ${e.record.index}: handover ${e.record.handoverMs ?? '–'} ms, complete ${e.record.completeMs ?? '–'} ms, drain ${e.record.drainMs ?? '–'} ms\n`)
    })
    scenarios.push(s)
  }
  const cpu = os.cpus()
  const comparison: HandoffComparison = {
    meta: {
      date: new Date().toISOString(),
      node: process.versions.node,
      cpus: cpu.length,
      cpuModel: (cpu[0]?.model ?? 'unknown').trim(),
      restarts: cfg.restarts,
      clients: cfg.clients,
      durationMs: Math.round(performance.now() - started)
    },
    scenarios
  }
  const out = path.join(BENCH_ROOT, 'results')
  fs.mkdirSync(out, { recursive: true })
  const md = handoffTable(comparison)
  fs.writeFileSync(path.join(out, `${name}.md`), md)
  // The per-request series make the full comparison's JSON large; the table's inputs suffice here.
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ ...comparison, scenarios: scenarios.map(({ series: _series, ...rest }) => rest) }, null, 1) + '\n')
  process.stdout.write(`\n${md}\n${path.join('bench', 'results', `${name}.md`)}\n`)
  const bad = scenarios.filter((s) => s.failed > 0 || s.status !== 'ok')
  for (const s of bad) process.stdout.write(`${s.label}: ${s.failed} failed, ${s.status}${s.note === null ? '' : `: ${s.note}`}\n`)
  return bad.length === 0 ? 0 : 1
}
