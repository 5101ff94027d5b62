/**
 * Hand-written SVG, no chart library: throughput and failures over time with the restart
 * markers (one panel per contender and client kind), and the scaling lines.
 */
import type { BenchResults } from './results.ts'
import type { ScenarioResult } from './scenario.ts'
import type { Fit } from './stats.ts'

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
const C = { ok: '#1f5fbf', fail: '#d62728', window: '#f6d8a8', signal: '#b36b00', grid: '#e4e4e4', axis: '#888', text: '#222', muted: '#666', drain: '#2ca02c', cold: '#7f7f7f' }

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function niceMax (v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function fmt (n: number): string {
  if (n >= 10_000) return `${Math.round(n / 1000)}k`
  if (n >= 1000) return `${(n / 1000).toFixed(1).replace(/\.0$/, '')}k`
  return String(Math.round(n * 10) / 10)
}

function text (x: number, y: number, s: string, opts: { size?: number, anchor?: string, color?: string, weight?: string } = {}): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT} font-size="${opts.size ?? 11}" fill="${opts.color ?? C.text}"${opts.anchor !== undefined ? ` text-anchor="${opts.anchor}"` : ''}${opts.weight !== undefined ? ` font-weight="${opts.weight}"` : ''}>${esc(s)}</text>`
}

const MODE_TITLE: Record<string, string> = { 'keep-alive': 'keep-alive clients', 'new-connection': 'new connection per request' }

function panel (s: ScenarioResult | undefined, x0: number, y0: number, w: number, h: number): string {
  const out: string[] = []
  const left = 44
  const top = 30
  const bottom = 18
  const pw = w - left - 10
  const ph = h - top - bottom
  const px = x0 + left
  const py = y0 + top
  if (s === undefined) return ''
  const failedTotal = s.failed.toLocaleString('en-US')
  const title = s.status === 'unavailable'
    ? `${s.label}: ${s.note ?? 'unavailable'}`
    : `${s.label}`
  out.push(text(x0 + 4, y0 + 13, title, { size: 12, weight: 'bold' }))
  if (s.status === 'unavailable') {
    out.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" fill="#fafafa" stroke="${C.grid}"/>`)
    out.push(text(px + pw / 2, py + ph / 2 + 4, s.note ?? 'not available', { anchor: 'middle', color: C.muted }))
    return out.join('\n')
  }
  const handovers = s.restarts.map((r) => r.handoverMs).filter((v): v is number => v !== null)
  const sub = `${s.restarts.length} restarts · ${s.requests.toLocaleString('en-US')} requests · ${failedTotal} failed` +
    (s.handoverMedianMs !== null ? ` · handover median ${Math.round(s.handoverMedianMs)} ms` : '') +
    (handovers.length === 0 && s.restarts.length > 0 ? ' · no new generation answered' : '')
  out.push(text(x0 + 4, y0 + 26, sub, { size: 10.5, color: s.failed === 0 ? '#1a7f37' : C.fail }))
  const bucketMs = s.series.bucketMs
  const n = s.series.ok.length
  const tEnd = Math.max(1, n * bucketMs)
  const perSec = 1000 / bucketMs
  const failed = new Array<number>(n).fill(0)
  for (const arr of Object.values(s.series.failed)) arr.forEach((v, i) => { failed[i] = (failed[i] as number) + v })
  const okMax = Math.max(0, ...s.series.ok) * perSec
  const failMax = Math.max(0, ...failed) * perSec
  const yMax = niceMax(Math.max(okMax, failMax))
  const X = (t: number): number => px + (t / tEnd) * pw
  const Y = (v: number): number => py + ph - (v / yMax) * ph
  out.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" fill="#fff" stroke="${C.grid}"/>`)
  for (const [a, b] of s.windows) {
    out.push(`<rect x="${X(a).toFixed(1)}" y="${py}" width="${Math.max(1, X(b) - X(a)).toFixed(1)}" height="${ph}" fill="${C.window}" opacity="0.6"/>`)
  }
  for (const f of [0.5, 1]) {
    out.push(`<line x1="${px}" x2="${px + pw}" y1="${Y(yMax * f).toFixed(1)}" y2="${Y(yMax * f).toFixed(1)}" stroke="${C.grid}"/>`)
    out.push(text(px - 4, Y(yMax * f) + 4, fmt(yMax * f), { size: 9.5, anchor: 'end', color: C.muted }))
  }
  out.push(text(px - 4, py + ph + 3, '0', { size: 9.5, anchor: 'end', color: C.muted }))
  // x ticks every 1, 2, 5, 10... seconds, about 8 of them
  const stepS = [1, 2, 5, 10, 20, 30, 60].find((st) => tEnd / 1000 / st <= 9) ?? 120
  for (let t = 0; t <= tEnd / 1000; t += stepS) {
    out.push(`<line x1="${X(t * 1000).toFixed(1)}" x2="${X(t * 1000).toFixed(1)}" y1="${py + ph}" y2="${py + ph + 3}" stroke="${C.axis}"/>`)
    out.push(text(X(t * 1000), py + ph + 13, `${t}s`, { size: 9.5, anchor: 'middle', color: C.muted }))
  }
  // failures as bars
  const bw = Math.max(1, pw / n)
  for (let i = 0; i < n; i++) {
    const v = (failed[i] as number) * perSec
    if (v <= 0) continue
    const y = Y(v)
    out.push(`<rect x="${X(i * bucketMs).toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(2)}" height="${(py + ph - y).toFixed(1)}" fill="${C.fail}"/>`)
  }
  // a rug under the plot: every bucket with any failure, however few
  for (let i = 0; i < n; i++) {
    if ((failed[i] as number) <= 0) continue
    out.push(`<rect x="${X(i * bucketMs).toFixed(1)}" y="${py + ph - 3}" width="${Math.max(1.5, bw).toFixed(2)}" height="3" fill="${C.fail}"/>`)
  }
  // 2xx per second as a line
  const pts = s.series.ok.map((v, i) => `${X((i + 0.5) * bucketMs).toFixed(1)},${Y(v * perSec).toFixed(1)}`).join(' ')
  out.push(`<polyline points="${pts}" fill="none" stroke="${C.ok}" stroke-width="1.3"/>`)
  // restart signals
  for (const r of s.restarts) {
    out.push(`<line x1="${X(r.signalAt).toFixed(1)}" x2="${X(r.signalAt).toFixed(1)}" y1="${py}" y2="${py + ph}" stroke="${C.signal}" stroke-width="1.2" stroke-dasharray="3,2"/>`)
  }
  return out.join('\n')
}

/** Throughput (2xx/s) and failures (/s) over time, restart signals and windows; contenders × client kinds. */
export function restartChart (results: BenchResults): string {
  const modes = [...new Set(results.scenarios.map((s) => s.mode))]
  const ids = [...new Set(results.scenarios.map((s) => s.contender))]
  const pw = 560
  const ph = 130
  const unavailableH = 58
  const header = 62
  const rows = ids.map((id) => {
    const ss = results.scenarios.filter((s) => s.contender === id)
    return { id, unavailable: ss.every((s) => s.status === 'unavailable'), ss }
  })
  const width = pw * modes.length + 20
  const height = header + rows.reduce((h, r) => h + (r.unavailable ? unavailableH : ph), 0) + 30
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`)
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`)
  out.push(text(10, 20, `Restarts under load: answers and failures per second (${results.meta.run} run, ${results.meta.date.slice(0, 10)}, Node ${results.meta.node}, ${results.meta.cpus} cores)`, { size: 14, weight: 'bold' }))
  // legend
  let lx = 10
  const ly = 40
  out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${C.ok}" stroke-width="2"/>`); lx += 26
  out.push(text(lx, ly, '2xx answers/s')); lx += 88
  out.push(`<rect x="${lx}" y="${ly - 10}" width="10" height="10" fill="${C.fail}"/>`); lx += 14
  out.push(text(lx, ly, 'failed requests/s (refused, reset, timeout, non-2xx)')); lx += 292
  out.push(`<line x1="${lx}" x2="${lx}" y1="${ly - 11}" y2="${ly + 1}" stroke="${C.signal}" stroke-width="1.2" stroke-dasharray="3,2"/>`); lx += 5
  out.push(text(lx, ly, 'restart signal')); lx += 84
  out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${C.window}"/>`); lx += 18
  out.push(text(lx, ly, 'until the new generation answers and the old one is gone'))
  modes.forEach((m, i) => out.push(text(10 + i * pw + 4, header - 6, MODE_TITLE[m] ?? m, { size: 12.5, weight: 'bold', color: C.muted })))
  let y = header
  for (const row of rows) {
    if (row.unavailable) {
      const s = row.ss[0] as ScenarioResult
      out.push(text(14, y + 16, `${s.label}`, { size: 12, weight: 'bold' }))
      out.push(`<rect x="10" y="${y + 24}" width="${width - 20}" height="${unavailableH - 34}" fill="#fafafa" stroke="${C.grid}"/>`)
      out.push(text(width / 2, y + 24 + (unavailableH - 34) / 2 + 4, s.note ?? 'not available', { anchor: 'middle', color: C.muted }))
      y += unavailableH
      continue
    }
    modes.forEach((m, i) => {
      out.push(panel(row.ss.find((s) => s.mode === m), 10 + i * pw, y, pw, ph))
    })
    y += ph
  }
  out.push(text(10, height - 10, 'Time from the end of the warm-up; one bucket = ' + `${results.scenarios.find((s) => s.series.ok.length > 0)?.series.bucketMs ?? 100} ms. Same y scale for answers and failures within a panel.`, { size: 10, color: C.muted }))
  out.push('</svg>')
  return out.join('\n') + '\n'
}

interface Line { name: string, color: string, points: Array<[number, number]>, dots?: boolean, dashed?: boolean }

function niceStep (range: number, target: number): number {
  const raw = range / target
  const p = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

function lineChart (x0: number, y0: number, w: number, h: number, title: string, xLabel: string, lines: Line[], note: string): string {
  const out: string[] = []
  const left = 46; const top = 34 + 13 * lines.length; const bottom = 34; const right = 10
  const px = x0 + left; const py = y0 + top; const pw = w - left - right; const ph = h - top - bottom
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]))
  const ys = lines.flatMap((l) => l.points.map((p) => p[1])).filter(Number.isFinite)
  const xMin = Math.min(0, ...xs)
  const xMax = niceMax(Math.max(...xs))
  const yStep = niceStep(Math.max(1, ...ys), 4)
  const yMax = Math.ceil(Math.max(1, ...ys) / yStep) * yStep
  const X = (v: number): number => px + ((v - xMin) / (xMax - xMin)) * pw
  const Y = (v: number): number => py + ph - (v / yMax) * ph
  out.push(text(x0 + 4, y0 + 14, title, { size: 12.5, weight: 'bold' }))
  out.push(text(x0 + 4, y0 + 28, note, { size: 10, color: C.muted }))
  out.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" fill="#fff" stroke="${C.grid}"/>`)
  for (let v = yStep; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${px}" x2="${px + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="${C.grid}"/>`)
    out.push(text(px - 4, Y(v) + 4, fmt(v), { size: 9.5, anchor: 'end', color: C.muted }))
  }
  out.push(text(px - 4, py + ph + 3, '0', { size: 9.5, anchor: 'end', color: C.muted }))
  const step = niceStep(xMax - xMin, 5)
  for (let v = xMin; v <= xMax + 1e-9; v += step) {
    out.push(text(X(v), py + ph + 13, fmt(v), { size: 9.5, anchor: 'middle', color: C.muted }))
  }
  out.push(text(px + pw / 2, py + ph + 28, xLabel, { size: 10.5, anchor: 'middle', color: C.muted }))
  let ly = y0 + 44
  for (const l of lines) {
    const pts = l.points.filter((p) => Number.isFinite(p[1]))
    if (l.dots === true) {
      for (const [x, y] of pts) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="1.8" fill="${l.color}"/>`)
    } else {
      out.push(`<polyline points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}" fill="none" stroke="${l.color}" stroke-width="1.6"${l.dashed === true ? ' stroke-dasharray="4,3"' : ''}/>`)
      for (const [x, y] of pts) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.6" fill="${l.color}"/>`)
    }
    out.push(`<rect x="${x0 + 6}" y="${ly - 6}" width="12" height="3" fill="${l.color}"/>`)
    out.push(text(x0 + 22, ly - 2, l.name, { size: 10, color: l.color }))
    ly += 13
  }
  return out.join('\n')
}

function slopeNote (f: Fit, unit: string, per: number, perLabel: string): string {
  if (!Number.isFinite(f.slope)) return ''
  return `${f.slope * per >= 0 ? '+' : ''}${(f.slope * per).toFixed(1)} ${unit} per ${perLabel}`
}

export function scalingChart (results: BenchResults): string | undefined {
  const sc = results.scaling
  if (sc === null) return undefined
  const w = 330; const h = 290
  const width = w * 4 + 20
  const height = h + 40
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`)
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`)
  out.push(text(10, 20, `Scaling of one handover (graceful-restart core; ${results.meta.run} run; ms)`, { size: 14, weight: 'bold' }))
  const c = sc.connections
  out.push(lineChart(10, 30, w, h, 'Open keep-alive connections', 'connections open at the signal',
    [
      { name: 'handover (signal to ready)', color: C.ok, points: c.points.map((p) => [p.x, p.handoverMs]) },
      { name: 'drain of the old generation', color: C.drain, points: c.points.map((p) => [p.x, p.drainMs]) }
    ],
    `handover ${slopeNote(c.handoverFit, 'ms', 1000, '1,000')}, drain ${slopeNote(c.drainFit, 'ms', 1000, '1,000')}`))
  const l = sc.listeners
  out.push(lineChart(10 + w, 30, w, h, 'Listeners', 'listening sockets handed over',
    [
      { name: 'handover (signal to ready)', color: C.ok, points: l.points.map((p) => [p.x, p.handoverMs]) },
      { name: 'cold start to ready, same listeners', color: C.cold, points: l.points.map((p) => [p.x, p.coldStartMs ?? NaN]), dashed: true },
      { name: 'drain', color: C.drain, points: l.points.map((p) => [p.x, p.drainMs]) }
    ],
    `handover ${slopeNote(l.handoverFit, 'ms', 1, 'listener')}`))
  const g = sc.generations
  out.push(lineChart(10 + 2 * w, 30, w, h, 'Generations', 'generation',
    [
      { name: 'handover (signal to ready)', color: C.ok, points: g.samples.map((s) => [s.generation, s.handoverMs ?? NaN]), dots: true },
      { name: 'drain', color: C.drain, points: g.samples.map((s) => [s.generation, s.drainMs ?? NaN]), dots: true }
    ],
    `handover ${slopeNote(g.handoverFit, 'ms', 100, '100 generations')}`))
  const t = sc.timeWait
  out.push(lineChart(10 + 3 * w, 30, w, h, 'TCP sockets on the machine', 'TCP sockets (mostly TIME_WAIT) at the signal',
    [
      { name: 'handover (signal to ready)', color: C.ok, points: t.points.map((p) => [p.x, p.handoverMs]) },
      { name: 'cold start to ready', color: C.cold, points: t.points.map((p) => [p.x, p.coldStartMs ?? NaN]), dashed: true }
    ],
    `handover ${slopeNote(t.handoverFit, 'ms', 1000, '1,000 sockets')}`))
  out.push('</svg>')
  return out.join('\n') + '\n'
}
