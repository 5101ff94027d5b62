/**
 * The scaling run (this project's core only): handover and drain time as functions of open
 * keep-alive connections, of listeners, and of generations, each with a light steady load
 * that must see no failure, and a least-squares line through the medians.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import net from 'node:net'
import { Client } from 'undici'
import { fdCount, freePort, rssKb } from '@graceful-restart/test-utils'
import { contenderById } from './contenders.ts'
import { startLoad, type FailureCounts } from './load.ts'
import { killAllMarked, newMarker, nofileLimit, readPid, spawnApp, tcpSocketCount, waitAllExited, type AppEvent } from './procs.ts'
import { linearFit, median, round, type Fit } from './stats.ts'

export interface ScalingConfig {
  /** Extra TCP sockets in TIME_WAIT on the machine (0 = as found). */
  timeWait: number[]
  connections: number[]
  listeners: number[]
  generations: number
  /** Handovers per point (connections, listeners); the median is kept. */
  repeats: number
  loadClients: number
  /** Pause of each load client after each request (ms): a light load, not a saturating one. */
  loadThinkMs: number
  host: string
}

export interface HandoverSample {
  /** Signal to the new generation's ready, as the core reports it (handover:ready). */
  handoverMs: number | null
  /** Signal to the first answer from the new generation on the steady load. */
  firstAnswerMs: number | null
  /** The old generation's drain (drain:end). */
  drainMs: number | null
  /** Signal to the old generation gone. */
  completeMs: number | null
  /** Connections the old generation held when its drain started (drain:start). */
  connectionsAtDrain: number | null
  /** TCP sockets on the machine (all states) just before the signal. */
  tcpSockets: number
  error: string | null
}

export interface ScalingPoint {
  x: number
  samples: HandoverSample[]
  handoverMs: number
  drainMs: number
  firstAnswerMs: number
  completeMs: number
  connectionsAtDrain: number
  tcpSockets: number
  /** Listeners run: the same app started cold with as many listeners (spawn to its ready event), median. */
  coldStartMs?: number
}

export interface GenerationSample extends HandoverSample { generation: number, fds: number | null, rssKb: number | null }

export interface ScalingResult {
  /** x = TCP sockets on the machine at the signal (mostly TIME_WAIT, made for the purpose). */
  timeWait: { points: ScalingPoint[], handoverFit: Fit, requests: number, failed: number, failures: FailureCounts, note: string | null }
  connections: { points: ScalingPoint[], handoverFit: Fit, drainFit: Fit, requests: number, failed: number, failures: FailureCounts, note: string | null }
  listeners: { points: ScalingPoint[], handoverFit: Fit, drainFit: Fit, requests: number, failed: number, failures: FailureCounts, note: string | null }
  generations: {
    samples: GenerationSample[]
    handoverFit: Fit
    drainFit: Fit
    fdFit: Fit
    rssFit: Fit
    requests: number
    failed: number
    failures: FailureCounts
    note: string | null
  }
  nofile: { soft: number, hard: number } | null
  durationMs: number
  /** Share of the machine's CPU other processes used during the scaling run (0..1). */
  foreignCpu?: number
}

type Log = (line: string) => void

interface App {
  ports: number[]
  marker: string
  pidFile: string
  events: AppEvent[]
  output: () => string
  stop: () => Promise<void>
}

async function startCore (ports: number[], host: string, dir: string, nofile: number | undefined, extraEnv: Record<string, string> = {}): Promise<App> {
  const marker = newMarker()
  const def = contenderById('core')
  const live = await def.start({
    port: ports[0] as number,
    host,
    marker,
    dir,
    nofile,
    stopTimeoutMs: 10_000,
    env: { PORTS: ports.join(','), ...extraEnv }
  })
  return { ports, marker, pidFile: path.join(dir, 'app.pid'), events: live.events(), output: () => live.output(), stop: () => live.stop() }
}

/** One handover of the app's current generation, measured; waits until the old one is gone. */
async function handoverOnce (app: App, load: ReturnType<typeof startLoad>, timeoutMs = 30_000): Promise<{ sample: HandoverSample, oldPid: number | undefined }> {
  const old = readPid(app.pidFile)
  if (old === undefined) return { sample: { handoverMs: null, firstAnswerMs: null, drainMs: null, completeMs: null, connectionsAtDrain: null, tcpSockets: 0, error: 'no PID file' }, oldPid: undefined }
  const exclude = new Set<number>([old, ...load.firstSeen.keys()])
  const tcpSockets = tcpSocketCount()
  const t0 = performance.now()
  process.kill(old, 'SIGUSR2')
  const answer = await load.waitForNewPid(exclude, t0, timeoutMs).catch((err: Error) => err)
  const gone = await waitAllExited([old], timeoutMs, 2)
  // The events of the old generation come through the same pipe; give the last line a moment.
  const end = performance.now() + 500
  let drained: AppEvent | undefined
  while ((drained = app.events.find((e) => e.event === 'drain:end' && e.pid === old)) === undefined && performance.now() < end) await delay(5)
  const ready = app.events.find((e) => e.event === 'handover:ready' && e.pid === old)
  const drainStart = app.events.find((e) => e.event === 'drain:start' && e.pid === old)
  const errors: string[] = []
  if (answer instanceof Error) errors.push(answer.message)
  if (gone === undefined) errors.push(`old generation ${old} still running`)
  if (ready === undefined) errors.push('no handover:ready event')
  return {
    oldPid: old,
    sample: {
      handoverMs: typeof ready?.durationMs === 'number' ? round(ready.durationMs, 1) : null,
      firstAnswerMs: answer instanceof Error ? null : round(answer[1] - t0, 1),
      drainMs: typeof drained?.durationMs === 'number' ? round(drained.durationMs, 1) : null,
      completeMs: gone === undefined ? null : round(gone - t0, 1),
      connectionsAtDrain: typeof drainStart?.connections === 'number' ? drainStart.connections : null,
      tcpSockets,
      error: errors.length === 0 ? null : errors.join('; ')
    }
  }
}

function point (x: number, samples: HandoverSample[]): ScalingPoint {
  const m = (f: (s: HandoverSample) => number | null): number => round(median(samples.map(f).filter((v): v is number => v !== null)), 1)
  return {
    x,
    samples,
    handoverMs: m((s) => s.handoverMs),
    drainMs: m((s) => s.drainMs),
    firstAnswerMs: m((s) => s.firstAnswerMs),
    completeMs: m((s) => s.completeMs),
    connectionsAtDrain: m((s) => s.connectionsAtDrain),
    tcpSockets: m((s) => s.tcpSockets)
  }
}

/** Spawn to the core's own ready event, for an app with these listeners (a first generation). */
async function coldReady (ports: number[], host: string, dir: string): Promise<number | undefined> {
  const marker = newMarker()
  const t0 = performance.now()
  const proc = spawnApp(contenderById('core').coldStart(ports[0] as number, host, dir).script, {
    marker, quiet: true, env: { PORTS: ports.join(','), HOST: host, PID_FILE: path.join(dir, 'cold.pid') }
  })
  const end = t0 + 20_000
  let ready: AppEvent | undefined
  while ((ready = proc.events.find((e) => e.event === 'ready')) === undefined && performance.now() < end) await delay(1)
  await killAllMarked(marker)
  return ready === undefined ? undefined : ready.atMs - t0
}

/**
 * Opens one keep-alive connection per undici Client (a Pool reuses a connection as soon as
 * it can, and opened only about 6,000 for 10,000 concurrent requests here) and leaves them
 * idle: each carries one request to /sleep so that they are all open at once; sent in
 * batches so that the accept queue keeps up. Resolves with the number answered.
 */
async function openIdleConnections (holders: Client[], holdMs: number): Promise<number> {
  const batch = 500
  const requests: Array<Promise<boolean>> = []
  for (let i = 0; i < holders.length; i += batch) {
    for (const client of holders.slice(i, i + batch)) {
      requests.push(client.request({ path: `/sleep?ms=${holdMs}`, method: 'GET' })
        .then(async (res) => { await res.body.text(); return res.statusCode === 200 })
        .catch(() => false))
    }
    await delay(40)
  }
  const results = await Promise.all(requests)
  return results.filter(Boolean).length
}

/**
 * Leaves about `count` TCP sockets in TIME_WAIT on this machine: short connections to
 * throwaway listeners that close first (the closing side keeps the TIME_WAIT, 60 s on Linux).
 * No HTTP here, only connects and closes; several ports so that 4-tuples do not collide.
 */
async function makeTimeWait (count: number, host: string): Promise<number> {
  if (count <= 0) return 0
  const servers: net.Server[] = []
  const ports: number[] = []
  for (let i = 0; i < Math.ceil(count / 10_000) + 1; i++) {
    const server = net.createServer((socket) => { socket.on('error', () => {}); socket.end() })
    await new Promise<void>((resolve) => server.listen(0, host, resolve))
    servers.push(server)
    ports.push((server.address() as net.AddressInfo).port)
  }
  let made = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      await new Promise<void>((resolve) => {
        const socket = net.connect({ host, port: ports[i % ports.length] as number })
        socket.on('error', () => resolve())
        socket.on('data', () => {})
        socket.on('end', () => socket.end())
        socket.on('close', (hadError) => { if (!hadError) made++; resolve() })
        socket.setTimeout(5_000, () => socket.destroy())
      })
    }
  }
  await Promise.all(Array.from({ length: 100 }, worker))
  for (const server of servers) server.close()
  return made
}

const sumFailures = (a: FailureCounts, b: FailureCounts): FailureCounts => ({
  refused: a.refused + b.refused, reset: a.reset + b.reset, timeout: a.timeout + b.timeout, non2xx: a.non2xx + b.non2xx, other: a.other + b.other
})
const noFailures = (): FailureCounts => ({ refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 })

export async function runScaling (cfg: ScalingConfig, log: Log): Promise<ScalingResult> {
  const started = performance.now()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-bench-scaling-'))
  const limit = nofileLimit() ?? null
  const lightLoad = (port: number): ReturnType<typeof startLoad> => startLoad({
    port, host: cfg.host, mode: 'keep-alive', clients: cfg.loadClients, slowEvery: 0, thinkMs: cfg.loadThinkMs, durationMs: 600_000, requestTimeoutMs: 10_000
  })

  // 1. Listeners.
  const lst = { points: [] as ScalingPoint[], requests: 0, failed: 0, failures: noFailures(), note: null as string | null }
  for (const n of cfg.listeners) {
    const ports: number[] = []
    while (ports.length < n) {
      const p = await freePort()
      if (!ports.includes(p)) ports.push(p)
    }
    const colds: number[] = []
    for (let r = 0; r < cfg.repeats; r++) {
      const fresh: number[] = []
      while (fresh.length < n) {
        const p = await freePort()
        if (!fresh.includes(p)) fresh.push(p)
      }
      const ms = await coldReady(fresh, cfg.host, dir)
      if (ms !== undefined) colds.push(ms)
    }
    const app = await startCore(ports, cfg.host, dir, undefined)
    const load = lightLoad(ports[0] as number)
    const samples: HandoverSample[] = []
    try {
      await delay(300)
      for (let r = 0; r < cfg.repeats; r++) {
        const { sample } = await handoverOnce(app, load)
        samples.push(sample)
        log(`  listeners ${n}: handover ${sample.handoverMs} ms, drain ${sample.drainMs} ms${sample.error !== null ? ` (${sample.error})` : ''}`)
        await delay(200)
      }
    } finally {
      const res = await load.stop()
      lst.requests += res.requests
      lst.failed += res.failed
      lst.failures = sumFailures(lst.failures, res.failures)
      await app.stop()
      await killAllMarked(app.marker)
    }
    lst.points.push({ ...point(n, samples), coldStartMs: round(median(colds), 1) })
    log(`  listeners ${n}: cold start to ready ${round(median(colds), 1)} ms (median of ${colds.length})`)
  }

  // 2. Generations.
  const gen = { samples: [] as GenerationSample[], requests: 0, failed: 0, failures: noFailures(), note: null as string | null }
  {
    const port = await freePort()
    const app = await startCore([port], cfg.host, dir, undefined)
    const load = lightLoad(port)
    try {
      await delay(300)
      for (let g = 2; g <= cfg.generations; g++) {
        const { sample } = await handoverOnce(app, load)
        const pid = readPid(app.pidFile)
        let fds: number | null = null
        let rss: number | null = null
        try {
          if (pid !== undefined) { fds = fdCount(pid); rss = rssKb(pid) }
        } catch {
          // exited in between
        }
        gen.samples.push({ ...sample, generation: g, fds, rssKb: rss })
        if (sample.error !== null) {
          gen.note = `generation ${g}: ${sample.error}`
          log(`  generation ${g}: ${sample.error}`)
          if (readPid(app.pidFile) === undefined) break
        }
        if (g % 25 === 0 || g === cfg.generations) log(`  generation ${g}: handover ${sample.handoverMs} ms, drain ${sample.drainMs} ms, ${fds} fds, ${rss} kB RSS`)
      }
    } finally {
      const res = await load.stop()
      gen.requests += res.requests
      gen.failed += res.failed
      gen.failures = sumFailures(gen.failures, res.failures)
      await app.stop()
      await killAllMarked(app.marker)
    }
  }
  // 3. Open keep-alive connections (last: closing thousands of them leaves as many TIME_WAIT sockets).
  const conn = { points: [] as ScalingPoint[], requests: 0, failed: 0, failures: noFailures(), note: null as string | null }
  const maxConns = Math.max(...cfg.connections)
  const usable = limit === null ? maxConns : Math.min(maxConns, limit.soft - 500)
  if (usable < maxConns) conn.note = `open-files limit ${limit?.soft}: connection counts capped at ${usable}`
  for (const wanted of cfg.connections) {
    const count = Math.min(wanted, usable)
    const port = await freePort()
    const app = await startCore([port], cfg.host, dir, count + 2_000, { KEEP_ALIVE_TIMEOUT: '120000' })
    const load = lightLoad(port)
    const holders = Array.from({ length: count }, () => new Client(`http://${cfg.host}:${port}`, { headersTimeout: 60_000, bodyTimeout: 60_000, connect: { timeout: 30_000 } }))
    const samples: HandoverSample[] = []
    try {
      for (let r = 0; r < cfg.repeats; r++) {
        const opened = await openIdleConnections(holders, 1_500)
        await delay(300)
        const { sample } = await handoverOnce(app, load)
        if (opened < count) sample.error = [sample.error, `only ${opened} of ${count} connections opened`].filter(Boolean).join('; ')
        samples.push(sample)
        log(`  connections ${count}: handover ${sample.handoverMs} ms, drain ${sample.drainMs} ms (${sample.connectionsAtDrain} at drain start)${sample.error !== null ? ` (${sample.error})` : ''}`)
      }
    } finally {
      const res = await load.stop()
      conn.requests += res.requests
      conn.failed += res.failed
      conn.failures = sumFailures(conn.failures, res.failures)
      await Promise.all(holders.map((h) => h.destroy().catch(() => {})))
      await app.stop()
      await killAllMarked(app.marker)
    }
    conn.points.push(point(count, samples))
  }

  // 4. TCP sockets on the machine (TIME_WAIT). The core reads /proc/net/tcp for each
  // inherited listener, so this is what its handover grows with on a busy machine.
  const tw = { points: [] as ScalingPoint[], requests: 0, failed: 0, failures: noFailures(), note: null as string | null }
  {
    const port = await freePort()
    const app = await startCore([port], cfg.host, dir, undefined)
    const load = lightLoad(port)
    try {
      await delay(300)
      let made = 0
      for (const extra of [...cfg.timeWait].sort((a, b) => a - b)) {
        if (extra > made) made += await makeTimeWait(extra - made, cfg.host)
        const samples: HandoverSample[] = []
        const colds: number[] = []
        for (let r = 0; r < cfg.repeats; r++) {
          const { sample } = await handoverOnce(app, load)
          samples.push(sample)
          const ms = await coldReady([await freePort()], cfg.host, dir)
          if (ms !== undefined) colds.push(ms)
          log(`  TCP sockets ${sample.tcpSockets}: handover ${sample.handoverMs} ms, cold start to ready ${ms === undefined ? '–' : Math.round(ms)} ms${sample.error !== null ? ` (${sample.error})` : ''}`)
          await delay(100)
        }
        const pt = point(extra, samples)
        tw.points.push({ ...pt, x: pt.tcpSockets, coldStartMs: round(median(colds), 1) })
      }
    } finally {
      const res = await load.stop()
      tw.requests += res.requests
      tw.failed += res.failed
      tw.failures = sumFailures(tw.failures, res.failures)
      await app.stop()
      await killAllMarked(app.marker)
    }
  }
  fs.rmSync(dir, { recursive: true, force: true })

  const fitOf = (points: ScalingPoint[], f: (p: ScalingPoint) => number): Fit => {
    const ok = points.filter((p) => Number.isFinite(f(p)))
    return linearFit(ok.map((p) => p.x), ok.map(f))
  }
  const genFit = (f: (s: GenerationSample) => number | null): Fit => {
    const ok = gen.samples.filter((s) => f(s) !== null)
    return linearFit(ok.map((s) => s.generation), ok.map((s) => f(s) as number))
  }
  return {
    timeWait: { ...tw, handoverFit: fitOf(tw.points, (p) => p.handoverMs) },
    connections: { ...conn, handoverFit: fitOf(conn.points, (p) => p.handoverMs), drainFit: fitOf(conn.points, (p) => p.drainMs) },
    listeners: { ...lst, handoverFit: fitOf(lst.points, (p) => p.handoverMs), drainFit: fitOf(lst.points, (p) => p.drainMs) },
    generations: {
      ...gen,
      handoverFit: genFit((s) => s.handoverMs),
      drainFit: genFit((s) => s.drainMs),
      fdFit: genFit((s) => s.fds),
      rssFit: genFit((s) => s.rssKb)
    },
    nofile: limit,
    durationMs: Math.round(performance.now() - started)
  }
}
