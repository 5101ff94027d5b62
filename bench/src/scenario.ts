/**
 * One scenario: one contender, one kind of client, N restarts under load. And the cold
 * start probe, which gives each app's own start time (spawn to first 2xx answer) to hold
 * the handover time against.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort } from '@graceful-restart/test-utils'
import type { ContenderDef, Live } from './contenders.ts'
import { FAILURE_KINDS, OK, startLoad, type ErrorSample, type FailureCounts, type LoadResult, type Mode } from './load.ts'
import { ForeignCpu, killAllMarked, newMarker, spawnApp, tcpSocketCount, waitAllExited, waitForAnswer } from './procs.ts'
import { median, percentile, round } from './stats.ts'

export interface ScenarioConfig {
  restarts: number
  clients: number
  slowEvery: number
  slowMs: number
  requestTimeoutMs: number
  /** Load runs this long before the cold-start probes and the restarts. */
  warmupMs: number
  /** Charted steady phase before the first restart. */
  baselineMs: number
  /** Steady phase after a restart completed, before the next one. */
  intervalMs: number
  tailMs: number
  /** Cold-start probes under this scenario's load. */
  coldStartSamples: number
  /** Signal to first answer from a new generation, at most. */
  newGenTimeoutMs: number
  /** Signal to the old generation gone, at most. */
  completeTimeoutMs: number
  /** Supervisor loop: SIGTERM to SIGKILL. */
  stopTimeoutMs: number
  bucketMs: number
  host: string
}

export interface RestartRecord {
  index: number
  /** All times in ms from the scenario's chart origin (start of the baseline phase). */
  signalAt: number
  /** First 2xx answer from a pid of the new generation. */
  firstAnswerAt: number | null
  /** Every pid of the old generation exited. */
  oldGoneAt: number | null
  /** Signal to first answer from the new generation. */
  handoverMs: number | null
  /** Signal to the old generation gone (drain or stop included). */
  completeMs: number | null
  /** The app's own account of signal to ready, where it prints one (handover:ready). */
  internalMs: number | null
  /** The old generation's drain, where it prints one (drain:end). */
  drainMs: number | null
  oldPids: number[]
  newPid: number | null
  stopTimedOut: boolean
  /** TCP sockets on the machine (all states) just before the signal. */
  tcpSockets: number
  error: string | null
}

export interface LatencySummary { n: number, p50: number, p99: number, max: number }

export interface ScenarioResult {
  contender: string
  label: string
  ours: boolean
  mode: Mode
  status: 'ok' | 'unavailable' | 'error'
  note: string | null
  clients: number
  restartsPlanned: number
  restarts: RestartRecord[]
  requests: number
  ok: number
  failed: number
  failures: FailureCounts
  errorSamples: ErrorSample[]
  /** TCP connections the clients opened, counted at the client (the pool's 'connect' events). */
  connections: number
  /** Cold start (spawn to first 2xx) of the same app under this scenario's load, ms. */
  coldStartUnderLoadMs: number[]
  handoverMedianMs: number | null
  coldStartMedianMs: number | null
  /** Median handover minus median cold start under the same load. */
  handoverOverColdMs: number | null
  latency: { inRestart: LatencySummary, outside: LatencySummary, slowMax: number }
  throughput: {
    /** Requests answered per second over the charted phase. */
    avgRps: number
    /** Median rate of the half-second spans outside restart windows, and the lowest span touching one. */
    steadyRps: number
    worstRestartRps: number
  }
  /** Per bucket from the chart origin: 2xx answers and failures by kind (by end time). */
  series: { bucketMs: number, ok: number[], failed: Record<string, number[]> }
  windows: Array<[number, number]>
  durationMs: number
  /** Share of the machine's CPU that processes other than the bench's used meanwhile (0..1). */
  foreignCpu: number
}

/** One cold start: spawn the app as a first generation, poll until a 2xx answer, kill it. */
export async function coldStartOnce (def: ContenderDef, host: string, dir: string): Promise<number | undefined> {
  const port = await freePort()
  const { script, env } = def.coldStart(port, host, dir)
  const marker = newMarker()
  const t0 = performance.now()
  spawnApp(script, { marker, env, quiet: true })
  const answer = await waitForAnswer(port, host, 20_000, 1)
  await killAllMarked(marker)
  return answer === undefined ? undefined : answer.atMs - t0
}

export async function coldStarts (def: ContenderDef, host: string, samples: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gr-bench-cold-${def.id}-`))
  const out: number[] = []
  try {
    for (let i = 0; i < samples; i++) {
      const ms = await coldStartOnce(def, host, dir)
      if (ms !== undefined) out.push(round(ms, 1))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return out
}

function emptyResult (def: ContenderDef, mode: Mode, cfg: ScenarioConfig, status: 'unavailable' | 'error', note: string): ScenarioResult {
  const empty: LatencySummary = { n: 0, p50: NaN, p99: NaN, max: NaN }
  return {
    contender: def.id,
    label: def.label,
    ours: def.ours,
    mode,
    status,
    note,
    clients: cfg.clients,
    restartsPlanned: cfg.restarts,
    restarts: [],
    requests: 0,
    ok: 0,
    failed: 0,
    failures: { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 },
    errorSamples: [],
    connections: 0,
    coldStartUnderLoadMs: [],
    handoverMedianMs: null,
    coldStartMedianMs: null,
    handoverOverColdMs: null,
    latency: { inRestart: empty, outside: empty, slowMax: NaN },
    throughput: { avgRps: 0, steadyRps: 0, worstRestartRps: 0 },
    series: { bucketMs: cfg.bucketMs, ok: [], failed: {} },
    windows: [],
    durationMs: 0,
    foreignCpu: 0
  }
}

export interface Progress {
  (event: { kind: 'restart', scenario: string, record: RestartRecord, counts: { requests: number, failed: number } } |
  { kind: 'phase', scenario: string, text: string }): void
}

export async function runScenario (def: ContenderDef, mode: Mode, cfg: ScenarioConfig, progress: Progress = () => {}): Promise<ScenarioResult> {
  const reason = def.unavailable()
  if (reason !== undefined) return emptyResult(def, mode, cfg, 'unavailable', reason)
  const name = `${def.id}/${mode}`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gr-bench-${def.id}-`))
  const marker = newMarker()
  const port = await freePort()
  let live: Live | undefined
  const restarts: RestartRecord[] = []
  let load: ReturnType<typeof startLoad> | undefined
  let loadResult: LoadResult | undefined
  let origin = 0
  let note: string | null = null
  const coldUnderLoad: number[] = []
  const started = performance.now()
  const foreign = new ForeignCpu()
  foreign.start()
  try {
    progress({ kind: 'phase', scenario: name, text: 'starting' })
    live = await def.start({ port, host: cfg.host, marker, dir, stopTimeoutMs: cfg.stopTimeoutMs })
    const budget = cfg.warmupMs + cfg.baselineMs + cfg.tailMs + cfg.restarts * (cfg.completeTimeoutMs + cfg.intervalMs) + cfg.coldStartSamples * 20_000 + 10_000
    load = startLoad({
      port,
      host: cfg.host,
      mode,
      clients: cfg.clients,
      slowEvery: cfg.slowEvery,
      slowMs: cfg.slowMs,
      requestTimeoutMs: cfg.requestTimeoutMs,
      durationMs: budget
    })
    await delay(cfg.warmupMs)
    // Cold-start probes under this load: one now, the others between restarts, so that
    // handovers and cold starts meet the same machine (a busy neighbour, TIME_WAIT sockets).
    const probe = async (): Promise<void> => {
      if (coldUnderLoad.length >= cfg.coldStartSamples) return
      const ms = await coldStartOnce(def, cfg.host, dir)
      if (ms !== undefined) coldUnderLoad.push(round(ms, 1))
    }
    await probe()
    origin = performance.now()
    await delay(cfg.baselineMs)
    for (let i = 0; i < cfg.restarts; i++) {
      const old = await live.currentPids()
      if (old.length === 0) {
        note = `restart ${i + 1}: no serving process found\n${live.output()}`
        break
      }
      const exclude = new Set<number>([...old, ...load.firstSeen.keys()])
      const tcpSockets = tcpSocketCount()
      const t0 = performance.now()
      const trigger = live.restart(old)
      const firstNew = load.waitForNewPid(exclude, t0, cfg.newGenTimeoutMs)
      const [trig, answer] = await Promise.allSettled([trigger, firstNew])
      const left = Math.max(1_000, cfg.completeTimeoutMs - (performance.now() - t0))
      const gone = await waitAllExited(old, left, 2)
      const events = live.events()
      const ready = events.find((e) => e.event === 'handover:ready' && old.includes(Number(e.pid)))
      const drained = events.find((e) => e.event === 'drain:end' && old.includes(Number(e.pid)))
      const errors: string[] = []
      if (trig.status === 'rejected') errors.push(String((trig.reason as Error)?.message ?? trig.reason))
      if (answer.status === 'rejected') errors.push(String((answer.reason as Error)?.message ?? answer.reason))
      if (gone === undefined) errors.push(`old generation ${old.join(',')} still running ${Math.round(left)} ms after the signal`)
      const firstAt = answer.status === 'fulfilled' ? answer.value[1] : undefined
      const record: RestartRecord = {
        index: i + 1,
        signalAt: round(t0 - origin, 1),
        firstAnswerAt: firstAt === undefined ? null : round(firstAt - origin, 1),
        oldGoneAt: gone === undefined ? null : round(gone - origin, 1),
        handoverMs: firstAt === undefined ? null : round(firstAt - t0, 1),
        completeMs: gone === undefined ? null : round(gone - t0, 1),
        internalMs: typeof ready?.durationMs === 'number' ? round(ready.durationMs, 1) : null,
        drainMs: typeof drained?.durationMs === 'number' ? round(drained.durationMs, 1) : null,
        oldPids: old,
        newPid: answer.status === 'fulfilled' ? answer.value[0] : null,
        stopTimedOut: trig.status === 'fulfilled' && trig.value.stopTimedOut === true,
        tcpSockets,
        error: errors.length === 0 ? null : errors.join('; ')
      }
      restarts.push(record)
      progress({ kind: 'restart', scenario: name, record, counts: load.counts() })
      if (answer.status === 'rejected' && (await live.currentPids()).length === 0) {
        note = `restart ${i + 1}: nothing serves any more\n${live.output()}`
        break
      }
      const pause = performance.now()
      await probe()
      await delay(Math.max(0, cfg.intervalMs - (performance.now() - pause)))
    }
    while (coldUnderLoad.length < cfg.coldStartSamples) {
      const before = coldUnderLoad.length
      await probe()
      if (coldUnderLoad.length === before) break
    }
    await delay(cfg.tailMs)
    loadResult = await load.stop()
  } catch (err) {
    note = String((err as Error)?.stack ?? err)
    if (load !== undefined) loadResult = await load.stop()
  } finally {
    await live?.stop().catch(() => {})
    await killAllMarked(marker)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const foreignCpu = foreign.stop()
  if (loadResult === undefined) return emptyResult(def, mode, cfg, 'error', note ?? 'no load ran')
  return { ...analyse(def, mode, cfg, loadResult, restarts, origin, coldUnderLoad, note, performance.now() - started), foreignCpu: round(foreignCpu, 3) }
}

function summarize (values: number[]): LatencySummary {
  const s = Float64Array.from(values).sort()
  const arr = Array.from(s)
  return { n: arr.length, p50: round(percentile(arr, 50), 1), p99: round(percentile(arr, 99), 1), max: round(arr.at(-1) ?? NaN, 1) }
}

export function analyse (def: ContenderDef, mode: Mode, cfg: ScenarioConfig, load: LoadResult, restarts: RestartRecord[],
  origin: number, coldUnderLoad: number[], note: string | null, durationMs: number): ScenarioResult {
  const r = load.records
  const end = load.stoppedAtMs - origin
  // A restart window runs from the signal until the new generation answered and the old
  // one is gone (or, when either never happened, until the wait for it gave up).
  const windows: Array<[number, number]> = restarts.map((x) => {
    const ends = [x.firstAnswerAt ?? x.signalAt + cfg.newGenTimeoutMs, x.oldGoneAt ?? x.signalAt + cfg.completeTimeoutMs]
    return [x.signalAt, Math.min(end, Math.max(...ends))]
  })
  const inWindow = (a: number, b: number): boolean => windows.some(([w0, w1]) => a < w1 && b > w0)
  const fastIn: number[] = []
  const fastOut: number[] = []
  let slowMax = 0
  const buckets = Math.max(1, Math.ceil(end / cfg.bucketMs))
  const okSeries = new Array<number>(buckets).fill(0)
  const failedSeries: Record<string, number[]> = {}
  for (const k of FAILURE_KINDS) failedSeries[k] = new Array<number>(buckets).fill(0)
  for (let i = 0; i < r.endMs.length; i++) {
    const a = (r.startMs[i] as number) - origin
    const b = (r.endMs[i] as number) - origin
    const outcome = r.outcome[i] as number
    if (b >= 0 && b < end) {
      const bucket = Math.min(buckets - 1, Math.floor(b / cfg.bucketMs))
      if (outcome === OK) (okSeries[bucket] as number)++
      else (failedSeries[FAILURE_KINDS[outcome - 1] as string] as number[])[bucket]!++
    }
    if (outcome !== OK || a < 0) continue
    if (r.slow[i] === true) {
      slowMax = Math.max(slowMax, b - a)
      continue
    }
    if (inWindow(a, b)) fastIn.push(b - a)
    else fastOut.push(b - a)
  }
  // Rates over half-second spans (5 buckets of 100 ms): single buckets are too noisy on a
  // 2-core machine, where any process can take the CPU away for 100 ms.
  const span = Math.max(1, Math.round(500 / cfg.bucketMs))
  const outsideRates: number[] = []
  const insideRates: number[] = []
  for (let i = 0; i + span <= buckets; i += span) {
    const b0 = i * cfg.bucketMs
    const b1 = (i + span) * cfg.bucketMs
    if (b1 > end) break
    let n = 0
    for (let j = i; j < i + span; j++) n += okSeries[j] as number
    const rps = n * 1000 / (b1 - b0)
    if (inWindow(b0, b1)) insideRates.push(rps)
    else outsideRates.push(rps)
  }
  const okInPhase = okSeries.reduce((a, b) => a + b, 0)
  const handovers = restarts.map((x) => x.handoverMs).filter((x): x is number => x !== null)
  const handoverMedianMs = handovers.length === 0 ? null : round(median(handovers), 1)
  const coldStartMedianMs = coldUnderLoad.length === 0 ? null : round(median(coldUnderLoad), 1)
  const failedRestarts = restarts.filter((x) => x.error !== null)
  const notes = [note, failedRestarts.length > 0 ? `${failedRestarts.length} restart(s) did not complete: ${failedRestarts[0]?.error ?? ''}` : null]
    .filter((x): x is string => x !== null)
  return {
    contender: def.id,
    label: def.label,
    ours: def.ours,
    mode,
    status: note === null ? 'ok' : 'error',
    note: notes.length === 0 ? null : notes.join('\n'),
    clients: load.clients,
    restartsPlanned: cfg.restarts,
    restarts,
    requests: load.requests,
    ok: load.ok,
    failed: load.failed,
    failures: load.failures,
    errorSamples: load.errorSamples.map((s) => ({ ...s, atMs: round(s.atMs - origin, 1) })),
    connections: load.connections,
    coldStartUnderLoadMs: coldUnderLoad,
    handoverMedianMs,
    coldStartMedianMs,
    handoverOverColdMs: handoverMedianMs === null || coldStartMedianMs === null ? null : round(handoverMedianMs - coldStartMedianMs, 1),
    latency: { inRestart: summarize(fastIn), outside: summarize(fastOut), slowMax: round(slowMax, 1) },
    throughput: {
      avgRps: Math.round(okInPhase / Math.max(0.001, end / 1000)),
      steadyRps: Math.round(median(outsideRates) || 0),
      worstRestartRps: insideRates.length === 0 ? 0 : Math.round(Math.min(...insideRates))
    },
    series: { bucketMs: cfg.bucketMs, ok: okSeries, failed: failedSeries },
    windows: windows.map(([a, b]) => [round(a, 1), round(b, 1)]),
    durationMs: Math.round(durationMs),
    foreignCpu: 0
  }
}
