/**
 * The bench's load driver: closed-loop clients on loopback through undici, bounded in time
 * and in count, with every request recorded (start, end, outcome, answering pid) so that
 * the report can slice them by restart window and by time bucket afterwards.
 *
 * - keep-alive: one undici Pool with `connections: clients`; connections are reused across
 *   restarts, the hard case (idle sockets owned by the old generation).
 * - new-connection: the same, with `reset: true` on every request (`Connection: close`,
 *   one TCP connection per request): the accept-queue case.
 *
 * A response counts as a success only once its body was read to the end and its status
 * was 2xx. Every failure lands in exactly one bucket: refused, reset, timeout, non2xx or
 * other. Times are performance.now() milliseconds of this process.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { Pool } from 'undici'

export type Mode = 'keep-alive' | 'new-connection'
export const FAILURE_KINDS = ['refused', 'reset', 'timeout', 'non2xx', 'other'] as const
export type FailureKind = typeof FAILURE_KINDS[number]
export type FailureCounts = Record<FailureKind, number>

/** Outcome codes in `LoadRecords.outcome`: 0 = ok, then FAILURE_KINDS in order (1-based). */
export const OK = 0

export interface LoadOptions {
  port: number
  host?: string
  mode: Mode
  /** Concurrent request loops. Default 32. */
  clients?: number
  /** 1 in N requests goes to `/sleep?ms=${slowMs}`; 0 = never. Default 50. */
  slowEvery?: number
  /** Default 500. */
  slowMs?: number
  /** Loops start no request after this. Default 60 s. */
  durationMs?: number
  /** Loops start no more requests than this in all. Default 2,000,000. */
  maxRequests?: number
  /** Whole-request deadline (send to last body byte); counts as 'timeout'. Default 10 s. */
  requestTimeoutMs?: number
  /** Pause of a loop after a failed request, so a dead port is not hammered. Default 5 ms. */
  backoffMs?: number
  /** Pause of a loop after each request (an open-ish loop for a light load). Default 0. */
  thinkMs?: number
  /**
   * Spread the loops' starts over this many ms (loop i starts at i * staggerMs / clients).
   * Default: slowMs when there are slow requests. Without it every loop would sit in a slow
   * request at the same moment (fast ones take well under a millisecond), and the load
   * would come in bursts every slowMs instead of evenly.
   */
  staggerMs?: number
}

export interface ErrorSample {
  kind: FailureKind
  code?: string
  message: string
  atMs: number
  path: string
}

/** Columnar, one entry per settled request, in settling order. */
export interface LoadRecords {
  startMs: number[]
  endMs: number[]
  /** 0 ok, 1..5 = FAILURE_KINDS[i - 1]. */
  outcome: number[]
  /** Answering pid from `x-pid`, 0 when unknown or failed. */
  pid: number[]
  slow: boolean[]
}

export interface LoadResult {
  records: LoadRecords
  requests: number
  ok: number
  failed: number
  failures: FailureCounts
  /** The first failures of each kind (up to 10 each): the first ones name the cause. */
  errorSamples: ErrorSample[]
  startedAtMs: number
  /** When the last loop ended. */
  endedAtMs: number
  /** When stop() was called (no new request after it), or endedAtMs. */
  stoppedAtMs: number
  clients: number
  mode: Mode
  /** TCP connections the pool opened, counted at the client: with keep-alive, one per client plus one per connection lost. */
  connections: number
}

export interface LoadHandle {
  /** Starts no new request, waits for in-flight ones (each bounded by its deadline). */
  stop(): Promise<LoadResult>
  /** Ends by itself at durationMs / maxRequests. */
  done: Promise<LoadResult>
  /** Live counters. */
  counts(): { requests: number, ok: number, failed: number, failures: FailureCounts }
  /** When each pid first answered with a 2xx (performance.now() ms). */
  firstSeen: ReadonlyMap<number, number>
  /**
   * Resolves with [pid, atMs] of the first 2xx answer, settled after `afterMs`, from a pid
   * not in `exclude`; rejects after timeoutMs.
   */
  waitForNewPid(exclude: ReadonlySet<number>, afterMs: number, timeoutMs: number): Promise<[number, number]>
}

const SAMPLES_PER_KIND = 10

export function startLoad (opts: LoadOptions): LoadHandle {
  const clients = opts.clients ?? 32
  const slowEvery = opts.slowEvery ?? 50
  const slowMs = opts.slowMs ?? 500
  const durationMs = opts.durationMs ?? 60_000
  const maxRequests = opts.maxRequests ?? 2_000_000
  const timeoutMs = opts.requestTimeoutMs ?? 10_000
  const backoffMs = opts.backoffMs ?? 5
  const thinkMs = opts.thinkMs ?? 0
  const staggerMs = opts.staggerMs ?? (slowEvery > 0 ? slowMs : 0)
  const host = opts.host ?? '127.0.0.1'
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer, got ${clients}`)
  if (!Number.isInteger(slowEvery) || slowEvery < 0) throw new RangeError(`slowEvery must be an integer >= 0, got ${slowEvery}`)
  if (!(durationMs > 0) || !(timeoutMs > 0)) throw new RangeError('durationMs and requestTimeoutMs must be > 0')

  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${opts.port}`
  const pool = new Pool(origin, {
    connections: clients,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs }
  })
  const reset = opts.mode === 'new-connection'
  let connections = 0
  pool.on('connect', () => { connections++ })

  const startedAtMs = performance.now()
  const deadline = startedAtMs + durationMs
  let endedAtMs: number | undefined
  let stoppedAtMs: number | undefined
  let stopping = false
  let started = 0

  const records: LoadRecords = { startMs: [], endMs: [], outcome: [], pid: [], slow: [] }
  const failures: FailureCounts = { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }
  const errorSamples: ErrorSample[] = []
  const samplesByKind: FailureCounts = { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }
  let ok = 0
  const firstSeen = new Map<number, number>()
  const pidWaiters = new Set<(pid: number, at: number) => void>()

  function record (t0: number, t1: number, outcome: number, pid: number, slow: boolean): void {
    records.startMs.push(t0)
    records.endMs.push(t1)
    records.outcome.push(outcome)
    records.pid.push(pid)
    records.slow.push(slow)
  }

  async function one (path: string): Promise<{ kind: 'ok', pid: number } | { kind: FailureKind, code?: string, message: string }> {
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(), timeoutMs)
    try {
      const res = await pool.request({ path, method: 'GET', reset, signal: ac.signal })
      const raw = res.headers['x-pid']
      const pid = Number(Array.isArray(raw) ? raw[0] : raw)
      // Read to the end: a generation that dies mid-body must not count as a success.
      await res.body.text()
      if (res.statusCode < 200 || res.statusCode > 299) return { kind: 'non2xx', message: `HTTP ${res.statusCode}` }
      return { kind: 'ok', pid: Number.isSafeInteger(pid) && pid > 0 ? pid : 0 }
    } catch (err) {
      if (ac.signal.aborted) return { kind: 'timeout', message: `no complete response within ${timeoutMs} ms` }
      return classify(err)
    } finally {
      clearTimeout(timer)
    }
  }

  async function loop (id: number): Promise<void> {
    const startIn = (id * staggerMs) / clients
    if (startIn > 0) await delay(startIn)
    // Each loop has its own count: one request in slowEvery is slow, at a phase of its own.
    let own = id % Math.max(1, slowEvery)
    while (!stopping && started < maxRequests && performance.now() < deadline) {
      started++
      const isSlow = slowEvery > 0 && ++own % slowEvery === 0
      const path = isSlow ? `/sleep?ms=${slowMs}` : '/'
      const t0 = performance.now()
      const outcome = await one(path)
      const t1 = performance.now()
      if (outcome.kind === 'ok') {
        ok++
        record(t0, t1, OK, outcome.pid, isSlow)
        if (outcome.pid !== 0 && !firstSeen.has(outcome.pid)) {
          firstSeen.set(outcome.pid, t1)
          for (const waiter of pidWaiters) waiter(outcome.pid, t1)
        }
        if (thinkMs > 0 && !stopping) await delay(thinkMs)
        continue
      }
      failures[outcome.kind]++
      record(t0, t1, FAILURE_KINDS.indexOf(outcome.kind) + 1, 0, isSlow)
      if (samplesByKind[outcome.kind]++ < SAMPLES_PER_KIND) {
        const sample: ErrorSample = { kind: outcome.kind, message: outcome.message, atMs: t1, path }
        if (outcome.code !== undefined) sample.code = outcome.code
        errorSamples.push(sample)
      }
      if (!stopping) await delay(Math.max(backoffMs, thinkMs))
    }
  }

  const failedCount = (): number => FAILURE_KINDS.reduce((n, k) => n + failures[k], 0)

  const loops: Array<Promise<void>> = []
  for (let i = 0; i < clients; i++) loops.push(loop(i))
  const done = Promise.all(loops).then(async () => {
    endedAtMs = performance.now()
    await pool.destroy().catch(() => {})
    return {
      records,
      requests: ok + failedCount(),
      ok,
      failed: failedCount(),
      failures: { ...failures },
      errorSamples,
      startedAtMs,
      endedAtMs,
      stoppedAtMs: stoppedAtMs ?? endedAtMs,
      clients,
      mode: opts.mode,
      connections
    } satisfies LoadResult
  })

  return {
    stop () {
      if (!stopping) stoppedAtMs = performance.now()
      stopping = true
      return done
    },
    done,
    counts: () => ({ requests: ok + failedCount(), ok, failed: failedCount(), failures: { ...failures } }),
    firstSeen,
    waitForNewPid (exclude, afterMs, waitMs) {
      for (const [pid, at] of firstSeen) {
        if (!exclude.has(pid) && at >= afterMs) return Promise.resolve([pid, at])
      }
      return new Promise((resolve, reject) => {
        const waiter = (pid: number, at: number): void => {
          if (exclude.has(pid) || at < afterMs) return
          clearTimeout(timer)
          pidWaiters.delete(waiter)
          resolve([pid, at])
        }
        const timer = setTimeout(() => {
          pidWaiters.delete(waiter)
          reject(new Error(`no answer from a new generation within ${waitMs} ms`))
        }, waitMs)
        pidWaiters.add(waiter)
      })
    }
  }
}

/** Maps undici's and the socket layer's errors onto the failure kinds. */
export function classify (err: unknown): { kind: FailureKind, code?: string, message: string } {
  const e = err as { code?: unknown, name?: unknown, message?: unknown, cause?: unknown }
  const code = typeof e?.code === 'string' ? e.code : undefined
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const causeCode = typeof (e?.cause as { code?: unknown } | undefined)?.code === 'string' ? (e.cause as { code: string }).code : undefined
  const c = code ?? causeCode
  const out = (kind: FailureKind): { kind: FailureKind, code?: string, message: string } =>
    c === undefined ? { kind, message } : { kind, code: c, message }
  switch (c) {
    case 'ECONNREFUSED':
      return out('refused')
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET': // "other side closed": the server closed the connection under a request
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return out('reset')
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return out('timeout')
  }
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return out('timeout')
  return out('other')
}
