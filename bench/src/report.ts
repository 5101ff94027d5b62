/** The results: JSON (everything), Markdown (the tables), the terminal table, the charts. */
import fs from 'node:fs'
import path from 'node:path'
import type { BenchResults } from './results.ts'
import type { ScalingResult } from './scaling.ts'
import type { ScenarioResult } from './scenario.ts'
import { linearFit, median, round, type Fit } from './stats.ts'
import { restartChart, scalingChart } from './svg.ts'

export type { BenchResults } from './results.ts'

const TARGET_MS = 25

const int = (n: number): string => Math.round(n).toLocaleString('en-US')
const ms = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${Math.round(n)}`)
const ms1 = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${round(n, 1)}`)
const signed = (n: number | null): string => (n === null || !Number.isFinite(n) ? '–' : `${n >= 0 ? '+' : ''}${Math.round(n)}`)

function failureBreakdown (s: ScenarioResult): string {
  if (s.failed === 0) return '0'
  const f = s.failures
  const parts = ([['refused', f.refused], ['reset', f.reset], ['timeout', f.timeout], ['non-2xx', f.non2xx], ['other', f.other]] as const)
    .filter(([, v]) => v > 0).map(([k, v]) => `${k} ${int(v)}`)
  return parts.join(', ')
}

function handoverRange (s: ScenarioResult): string {
  const hs = s.restarts.map((r) => r.handoverMs).filter((v): v is number => v !== null)
  if (hs.length === 0) return '–'
  return `${ms(median(hs))} (${ms(Math.min(...hs))}–${ms(Math.max(...hs))})`
}

function completeMedian (s: ScenarioResult): string {
  const cs = s.restarts.map((r) => r.completeMs).filter((v): v is number => v !== null)
  const base = cs.length === 0 ? '–' : ms(median(cs))
  const killed = s.restarts.filter((r) => r.stopTimedOut).length
  return killed > 0 ? `${base} (${killed}× SIGKILL at stop timeout)` : base
}

function delta (s: ScenarioResult): string {
  if (s.handoverOverColdMs === null) return '–'
  const mark = s.ours ? (s.handoverOverColdMs <= TARGET_MS ? ' ✓' : ' ✗') : ''
  return `${signed(s.handoverOverColdMs)}${mark}`
}

function modeShort (m: string): string {
  return m === 'keep-alive' ? 'keep-alive' : 'new conn.'
}

/** The main table, one row per scenario. */
export function mainTable (r: BenchResults): string {
  const head = ['contender', 'clients', 'restarts', 'requests', 'failed', 'failures by kind', 'handover ms, median (min–max)', 'cold start under load ms, median', 'handover − cold start ms', 'restart complete ms, median', 'fast p99 ms in / out of restarts', 'req/s steady / lowest 0.5 s in restart']
  const rows: string[][] = []
  const listed = new Set<string>()
  for (const s of r.scenarios) {
    if (s.status === 'unavailable') {
      if (listed.has(s.contender)) continue
      listed.add(s.contender)
      rows.push([s.ours ? `**${s.label}**` : s.label, '', '', '', '', `*${s.note ?? 'unavailable'}*`, '', '', '', '', '', ''])
      continue
    }
    const done = s.restarts.filter((x) => x.handoverMs !== null).length
    rows.push([
      s.ours ? `**${s.label}**` : s.label,
      `${s.clients} ${modeShort(s.mode)}`,
      done === s.restartsPlanned ? String(done) : `${done} of ${s.restartsPlanned}`,
      int(s.requests),
      s.ours ? `**${int(s.failed)}**` : int(s.failed),
      failureBreakdown(s),
      handoverRange(s),
      ms(s.coldStartMedianMs),
      delta(s),
      completeMedian(s),
      `${ms1(s.latency.inRestart.p99)} / ${ms1(s.latency.outside.p99)}`,
      `${int(s.throughput.steadyRps)} / ${int(s.throughput.worstRestartRps)}`
    ])
  }
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}

function coldTable (r: BenchResults): string {
  const ids = [...new Set(r.scenarios.filter((s) => s.status !== 'unavailable').map((s) => s.contender))]
  const lines = ['| app (contender) | cold start idle ms, median (n) | under keep-alive load | under new-connection load |', '| --- | --- | --- | --- |']
  for (const id of ids) {
    const idle = r.coldStartIdle[id] ?? []
    const by = (m: string): string => {
      const s = r.scenarios.find((x) => x.contender === id && x.mode === m)
      return s === undefined || s.coldStartUnderLoadMs.length === 0 ? '–' : `${ms(s.coldStartMedianMs)} (${s.coldStartUnderLoadMs.length})`
    }
    const label = r.scenarios.find((x) => x.contender === id)?.label ?? id
    lines.push(`| ${label} | ${idle.length === 0 ? '–' : `${ms(median(idle))} (${idle.length})`} | ${by('keep-alive')} | ${by('new-connection')} |`)
  }
  return lines.join('\n')
}

function restartsTable (r: BenchResults): string {
  const lines = ['| scenario | other processes\' CPU | per restart: handover ms (app\'s own signal-to-ready ms) · complete ms · TCP sockets on the machine |', '| --- | --- | --- |']
  for (const s of r.scenarios) {
    if (s.status === 'unavailable') continue
    const cells = s.restarts.map((x) => `${ms(x.handoverMs)}${x.internalMs !== null ? ` (${ms(x.internalMs)})` : ''} · ${ms(x.completeMs)}${x.stopTimedOut ? ' KILL' : ''} · ${int(x.tcpSockets)}${x.error !== null ? ' ⚠' : ''}`)
    lines.push(`| ${s.label}, ${s.mode} | ${Math.round(s.foreignCpu * 100)}% | ${cells.join('; ') || '–'} |`)
  }
  return lines.join('\n')
}

function fitText (f: Fit, unit: string, per: number, perLabel: string): string {
  if (!Number.isFinite(f.slope)) return 'no fit (too few points)'
  return `${f.slope * per >= 0 ? '+' : ''}${round(f.slope * per, 1)} ${unit} per ${perLabel} (intercept ${round(f.intercept, 1)} ${unit}${Number.isFinite(f.r2) ? `, R² ${round(f.r2, 2)}` : ''})`
}

function scalingSection (sc: ScalingResult, svgName: string | undefined): string {
  const out: string[] = []
  out.push('## Scaling (this project, core)')
  out.push('')
  if (sc.foreignCpu !== undefined) out.push(`Other processes used ${Math.round(sc.foreignCpu * 100)}% of the machine's CPU during the scaling run.`, '')
  out.push('One handover at a time under a light keep-alive load (8 clients, 10 ms pause between requests), which must lose nothing. ' +
    '"handover" is the core\'s own signal-to-ready time (`handover:ready`), "drain" the old generation\'s drain (`drain:end`); medians per point.')
  out.push('')
  if (svgName !== undefined) out.push(`![Scaling of one handover](${svgName})`, '')
  out.push(`**Open keep-alive connections** (idle, opened just before the signal; server keep-alive timeout 120 s): handover ${fitText(sc.connections.handoverFit, 'ms', 1000, '1,000 connections')}; drain ${fitText(sc.connections.drainFit, 'ms', 1000, '1,000 connections')}. ` +
    `Requests ${int(sc.connections.requests)}, failed ${int(sc.connections.failed)}.${sc.connections.note !== null ? ` ${sc.connections.note}.` : ''}`)
  out.push('')
  out.push('| connections | at drain start | handover ms | first answer from new generation ms | drain ms | restart complete ms | TCP sockets on the machine |')
  out.push('| --- | --- | --- | --- | --- | --- | --- |')
  for (const p of sc.connections.points) out.push(`| ${int(p.x)} | ${int(p.connectionsAtDrain)} | ${ms(p.handoverMs)} | ${ms(p.firstAnswerMs)} | ${ms(p.drainMs)} | ${ms(p.completeMs)} | ${int(p.tcpSockets)} |`)
  out.push('')
  out.push(`**Listeners**: handover ${fitText(sc.listeners.handoverFit, 'ms', 1, 'listener')}; drain ${fitText(sc.listeners.drainFit, 'ms', 1, 'listener')}. Requests ${int(sc.listeners.requests)}, failed ${int(sc.listeners.failed)}.`)
  out.push('')
  out.push('| listeners | handover ms | cold start to ready, same listeners, ms | drain ms | TCP sockets on the machine |')
  out.push('| --- | --- | --- | --- | --- |')
  for (const p of sc.listeners.points) out.push(`| ${p.x} | ${ms(p.handoverMs)} | ${ms(p.coldStartMs)} | ${ms(p.drainMs)} | ${int(p.tcpSockets)} |`)
  out.push('')
  out.push(`**TCP sockets on the machine** (TIME_WAIT sockets made on purpose: the core checks each inherited listener in \`/proc/net/tcp\`, where every socket of the machine is listed; since commit 25f7cb6 it stops after the listening section, before that it cost about 8 ms per 1,000 sockets per listener): handover ${fitText(sc.timeWait.handoverFit, 'ms', 1000, '1,000 sockets')}. Requests ${int(sc.timeWait.requests)}, failed ${int(sc.timeWait.failed)}.`)
  out.push('')
  out.push('| TCP sockets at the signal | handover ms | cold start to ready ms |')
  out.push('| --- | --- | --- |')
  for (const p of sc.timeWait.points) out.push(`| ${int(p.x)} | ${ms(p.handoverMs)} | ${ms(p.coldStartMs)} |`)
  out.push('')
  const g = sc.generations
  const first = g.samples[0]
  const last = g.samples.at(-1)
  out.push(`**Generations** (${g.samples.length} handovers in a row, generation 2 to ${last?.generation ?? '–'}): handover ${fitText(g.handoverFit, 'ms', 100, '100 generations')}; drain ${fitText(g.drainFit, 'ms', 100, '100 generations')}; ` +
    `open fds of the live generation ${fitText(g.fdFit, 'fds', 100, '100 generations')} (${first?.fds ?? '–'} → ${last?.fds ?? '–'}); RSS ${fitText(g.rssFit, 'kB', 100, '100 generations')} (${first?.rssKb ?? '–'} → ${last?.rssKb ?? '–'} kB). ` +
    `Requests ${int(g.requests)}, failed ${int(g.failed)}.${g.note !== null ? ` Note: ${g.note}` : ''}`)
  out.push('')
  const hs = g.samples.map((s) => s.handoverMs).filter((v): v is number => v !== null)
  if (hs.length > 0) {
    const tenth = Math.max(1, Math.floor(g.samples.length / 10))
    const firstTenth = g.samples.slice(0, tenth).map((s) => s.handoverMs).filter((v): v is number => v !== null)
    const lastTenth = g.samples.slice(-tenth).map((s) => s.handoverMs).filter((v): v is number => v !== null)
    const sockets = (xs: typeof g.samples): number => median(xs.map((s) => s.tcpSockets))
    const withSockets = g.samples.filter((s) => s.handoverMs !== null)
    const vsSockets = linearFit(withSockets.map((s) => s.tcpSockets), withSockets.map((s) => s.handoverMs as number))
    out.push(`Handover median over the first ${tenth} generations ${ms(median(firstTenth))} ms, over the last ${tenth} ${ms(median(lastTenth))} ms; all: median ${ms(median(hs))}, max ${ms(Math.max(...hs))} ms. ` +
      `TCP sockets on the machine meanwhile: ${int(sockets(g.samples.slice(0, tenth)))} → ${int(sockets(g.samples.slice(-tenth)))} (every handover closes the load's connections, and TIME_WAIT lasts 60 s; other processes add theirs); ` +
      `handover against them: ${fitText(vsSockets, 'ms', 1000, '1,000 sockets')}.`)
    out.push('')
  }
  return out.join('\n')
}

export function markdown (r: BenchResults, files: { restartsSvg: string, scalingSvg: string | undefined }): string {
  const c = r.meta.scenario
  const ours = r.scenarios.filter((s) => s.ours && s.status !== 'unavailable')
  const oursFailed = ours.reduce((n, s) => n + s.failed, 0)
  const oursDelta = ours.map((s) => s.handoverOverColdMs).filter((v): v is number => v !== null)
  const out: string[] = []
  out.push(`# Restart under load: ${r.meta.run} run`)
  out.push('')
  out.push(`${r.meta.date} · Node ${r.meta.node}${r.meta.foreignCpuAtStart !== undefined ? ` · other processes at start: ${Math.round(r.meta.foreignCpuAtStart * 100)}% CPU` : ''} · ${r.meta.platform} · ${r.meta.cpus} × ${r.meta.cpuModel}${r.meta.commit !== null ? ` · commit ${r.meta.commit.slice(0, 10)}` : ''} · bench took ${Math.round(r.meta.durationMs / 1000)} s.`)
  out.push('')
  out.push(`Each scenario: one app on 127.0.0.1, ${c.clients} closed-loop undici clients (keep-alive: reused connections; new connection: \`Connection: close\` on every request), ` +
    `1 request in ${c.slowEvery} to \`/sleep?ms=${c.slowMs}\`, ${c.restarts} restarts each ${c.intervalMs} ms after the previous one completed; every request has a ${c.requestTimeoutMs / 1000} s deadline. ` +
    `The bench's own supervisor loop (naive, server.close()) gives the old process ${c.stopTimeoutMs / 1000} s to exit before SIGKILL, as \`docker stop\` does.`)
  out.push('')
  out.push(`**This project: ${int(oursFailed)} failed requests over ${ours.length} scenario(s)${oursDelta.length > 0 ? `; handover − cold start (medians, same load): ${oursDelta.map((d) => signed(d)).join(', ')} ms (target ≤ +${TARGET_MS} ms)` : ''}.**`)
  out.push('')
  out.push(mainTable(r))
  out.push('')
  out.push('- **handover**: from the restart signal (SIGUSR2 / SIGTERM / the `pm2 reload` call) to the first 2xx answer from a process of the new generation, as the load saw it.')
  out.push('- **cold start under load**: the same app started as a first generation on another port while this scenario\'s load runs against the live one, from spawn to its first 2xx answer (polled every 1 ms). The handover cannot beat it; the target is to add at most 25 ms to it (median).')
  out.push('- **graceful-restart supervisor**: `graceful-restart run --workers 2` with the core app as workers, SIGUSR2 to the supervisor; its handover starts 2 workers at once on 2 cores, its cold start column is one app\'s.')
  out.push('- **restart complete**: from the signal until every process of the old generation has exited (drain included).')
  out.push('- **failed**: refused (ECONNREFUSED), reset (connection closed under a request, incomplete body), timeout (no complete answer within the deadline), non-2xx; a response counts only once its body was read to the end.')
  out.push('- **fast p99 in / out of restarts**: latency of 2xx answers to `/` for requests overlapping a restart window (signal → new generation answering and old one gone) or not.')
  out.push('')
  out.push(`![Throughput and failures over time](${files.restartsSvg})`)
  out.push('')
  out.push('### Cold start of each app')
  out.push('')
  out.push(coldTable(r))
  out.push('')
  out.push('### Each restart')
  out.push('')
  out.push(restartsTable(r))
  out.push('')
  const withFailures = r.scenarios.filter((s) => s.errorSamples.length > 0)
  if (withFailures.length > 0) {
    out.push('### First failures of each kind')
    out.push('')
    for (const s of withFailures) {
      const byKind = new Map<string, typeof s.errorSamples[number]>()
      for (const e of s.errorSamples) if (!byKind.has(e.kind)) byKind.set(e.kind, e)
      out.push(`- ${s.label}, ${s.mode}: ${[...byKind.values()].map((e) => `${e.kind} \`${e.code ?? ''}${e.code !== undefined ? ': ' : ''}${e.message.slice(0, 80)}\` at ${Math.round(e.atMs)} ms (${e.path})`).join('; ')}`)
    }
    out.push('')
  }
  const notes = r.scenarios.filter((s) => s.note !== null && s.status !== 'unavailable')
  if (notes.length > 0) {
    out.push('### Notes')
    out.push('')
    for (const s of notes) out.push(`- ${s.label}, ${s.mode}: ${(s.note ?? '').split('\n')[0]}`)
    out.push('')
  }
  if (r.scaling !== null) out.push(scalingSection(r.scaling, files.scalingSvg))
  return out.join('\n') + '\n'
}

/** The main table for a terminal: fixed-width columns, no Markdown. */
export function terminalTable (r: BenchResults): string {
  const head = ['contender', 'clients', 'restarts', 'requests', 'failed', 'by kind', 'handover ms', 'cold ms', 'Δ ms', 'complete ms', 'req/s']
  const rows: string[][] = []
  const seen = new Set<string>()
  for (const s of r.scenarios) {
    if (s.status === 'unavailable') {
      if (seen.has(s.contender)) continue
      seen.add(s.contender)
      rows.push([s.label, '', '', '', '', s.note ?? 'unavailable', '', '', '', '', ''])
      continue
    }
    const done = s.restarts.filter((x) => x.handoverMs !== null).length
    rows.push([s.label, `${s.clients} ${modeShort(s.mode)}`, `${done}/${s.restartsPlanned}`, int(s.requests), int(s.failed), failureBreakdown(s),
      handoverRange(s), ms(s.coldStartMedianMs), delta(s), completeMedian(s).replace(/ \((\d+)× SIGKILL at stop timeout\)/, ' ($1 killed)'), int(s.throughput.steadyRps)])
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 && i !== 5 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd()
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function scalingSummary (sc: ScalingResult): string {
  return [
    `connections: handover ${fitText(sc.connections.handoverFit, 'ms', 1000, '1,000')}, drain ${fitText(sc.connections.drainFit, 'ms', 1000, '1,000')}; failed ${sc.connections.failed}`,
    `listeners:   handover ${fitText(sc.listeners.handoverFit, 'ms', 1, 'listener')}; failed ${sc.listeners.failed}`,
    `TCP sockets: handover ${fitText(sc.timeWait.handoverFit, 'ms', 1000, '1,000')}; failed ${sc.timeWait.failed}`,
    `generations: handover ${fitText(sc.generations.handoverFit, 'ms', 100, '100')}, fds ${fitText(sc.generations.fdFit, '', 100, '100')}, RSS ${fitText(sc.generations.rssFit, 'kB', 100, '100')}; failed ${sc.generations.failed}`
  ].join('\n')
}

/** Writes NAME.json, NAME.md, NAME-restarts.svg and NAME-scaling.svg into dir; returns the paths. */
export function writeResults (r: BenchResults, dir: string, name: string): string[] {
  fs.mkdirSync(dir, { recursive: true })
  const restartsSvg = `${name}-restarts.svg`
  const scalingSvgText = scalingChart(r)
  const scalingSvg = scalingSvgText === undefined ? undefined : `${name}-scaling.svg`
  const files = [path.join(dir, `${name}.json`), path.join(dir, `${name}.md`), path.join(dir, restartsSvg)]
  fs.writeFileSync(files[0] as string, JSON.stringify(r, null, 1) + '\n')
  fs.writeFileSync(files[1] as string, markdown(r, { restartsSvg, scalingSvg }))
  fs.writeFileSync(files[2] as string, restartChart(r))
  if (scalingSvg !== undefined && scalingSvgText !== undefined) {
    files.push(path.join(dir, scalingSvg))
    fs.writeFileSync(path.join(dir, scalingSvg), scalingSvgText)
  }
  return files
}
