/**
 * A bounded loopback HTTP load driver. Restart tests keep it running across a handover
 * and then ask one question: did any request fail, and how? So every request ends in
 * exactly one bucket, a response only counts once its body was read to the end (a
 * generation that dies mid-body must not look like a success), and nothing runs forever:
 * loops stop on their own after `durationMs` / `maxRequests`, and every request has a
 * deadline.
 *
 * The HTTP/1.1 client (plain or TLS) is built in; any other protocol plugs in its own
 * `request` function (HTTP/2 streams over a session pool), and the loops, the buckets and
 * the report stay the same. A request function may answer 'retry' for a request the
 * protocol guarantees was not processed; the loop sends it again and counts it apart.
 *
 * Clocks: latencies and `durationMs` use performance.now() (monotonic, immune to clock
 * steps). Timestamps that a test lines up with other processes' logs (`SlowRecord`
 * start/end, `errorSamples[].at`) are Date.now() wall-clock milliseconds, because
 * performance.now() has a per-process origin.
 */
import http from 'node:http'
import https from 'node:https'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'

/** The load's shape, whatever sends the requests. */
export interface LoadShape {
  /** Concurrent request loops, default 32. */
  clients?: number
  /** 1 in N requests goes to `/sleep?ms=${slowMs}`, default 50; 0 = never. */
  slowEvery?: number
  /** Default 300. */
  slowMs?: number
  /** The fast path, default '/'. */
  path?: string
  /**
   * 1 in N requests (among those that are not slow) is a POST of `postBytes` bytes of text
   * to `postPath`, default 0 = never. A POST is the request a proxy must not retry: nginx
   * and HAProxy answer 502 when the connection it went out on closes under it. When the
   * answer carries `x-body-bytes`, it must equal the bytes sent (else: 'other'). The built-in
   * HTTP/1.1 client only.
   */
  postEvery?: number
  /** Default 20_000: above nginx's client_body_buffer_size, so nginx spools it to a file. */
  postBytes?: number
  /** Default '/echo'. */
  postPath?: string
  /**
   * The status every answer must have, default: any 2xx. For an app without routes (a
   * README snippet) every answer is its 404; any other status counts as 'non2xx'.
   */
  expectStatus?: number
  /** Loops start no request after this, default 60_000. */
  durationMs?: number
  /** Loops start no more requests than this in total, default 1_000_000. */
  maxRequests?: number
  /** Per request, from send to the last body byte, default 10_000; counts as 'timeout'. */
  requestTimeoutMs?: number
}

/** The built-in HTTP/1.1 client. */
export interface HttpLoadOptions extends LoadShape {
  /** TCP target. Either `port` or `socketPath` is required. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Unix socket target; wins over `port`. */
  socketPath?: string
  /**
   * true: one keep-alive agent with `maxSockets: clients`, so connections are reused
   * across the handover (the hard case: idle sockets owned by the old generation).
   * false: no agent and `Connection: close`, a new TCP connection per request (the
   * accept-queue case).
   */
  keepAlive: boolean
  /** HTTPS instead of HTTP; the certificate is not verified (tests use self-signed ones). */
  tls?: boolean
  request?: undefined
}

/** What a pluggable request function is asked to send. */
export interface RequestSpec {
  /** Which loop sends it (0 .. clients-1): say, which session of a pool to use. */
  client: number
  /** The request's number in the load; a retry keeps its number. */
  index: number
  path: string
  timeoutMs: number
}

/**
 * How one request ended, resolved (never rejected) within `timeoutMs`. `response`: a
 * complete response (body read to the end). `retry`: the protocol guarantees the request
 * was not processed (HTTP/2 REFUSED_STREAM, or a stream never sent because the session
 * had already received GOAWAY; RFC 9113 section 8.7 lets a client send it again, and
 * every real client does); `reason` names which, for `retriedByKind`.
 */
export type RequestOutcome =
  | { kind: 'response', status: number, pid: string | undefined, bodyBytes?: string | undefined }
  | { kind: Exclude<keyof FailureCounts, 'non2xx'>, code: string | undefined, message: string }
  | { kind: 'retry', reason: string, message: string }

/** Any protocol: `request` sends one request; the target is its business. */
export interface CustomLoadOptions extends LoadShape {
  request: (spec: RequestSpec) => Promise<RequestOutcome>
}

export type LoadOptions = HttpLoadOptions | CustomLoadOptions

export interface FailureCounts {
  refused: number
  reset: number
  timeout: number
  non2xx: number
  other: number
}

/** A slow request that got a complete response (any status). Times are Date.now(). */
export interface SlowRecord {
  /** From `x-pid`; NaN when the header was missing (never 0 or -1: those mean process groups to kill()). */
  pid: number
  startedAt: number
  endedAt: number
  status: number
}

export interface ErrorSample {
  kind: keyof FailureCounts
  code?: string
  message: string
  /** Date.now() when the failure was recorded. */
  at: number
  path: string
}

export interface LoadReport {
  /** Requests that settled (ok + failed); requests still in flight are not counted. */
  requests: number
  ok: number
  failed: number
  failures: FailureCounts
  /** The first 20 failures: the first ones usually name the cause, later ones repeat it. */
  errorSamples: ErrorSample[]
  /**
   * Sends of a request the protocol refused before processing it ('retry'), each sent
   * again (up to 5 times; a request still refused then counts as 'other'). Not failures.
   */
  retried: number
  /** The same, by the request function's reason (say `refused-stream`, `not-sent`). */
  retriedByKind: Record<string, number>
  /** POST requests that settled, and how many of them failed (also counted in `failed`). */
  posts: { requests: number, failed: number }
  /** Successful responses per `x-pid` header value; 'unknown' when the header was missing. */
  byPid: Record<string, number>
  slow: SlowRecord[]
  /** Over successful requests only, slow ones included; nearest-rank percentiles; 0 when none. */
  latencyMs: { p50: number, p99: number, max: number }
  /** Since startLoad(), until the loops ended (or until now for a snapshot of a running load). */
  durationMs: number
  /**
   * TCP connections the clients opened (counted at the client): with keep-alive, one per
   * client plus one for each connection the server closed under it. Counted by the built-in
   * HTTP/1.1 client only: 0 with a request function.
   */
  connections: number
}

export interface LoadHandle {
  /** Starts no new requests, waits for in-flight ones (each bounded by requestTimeoutMs). */
  stop(): Promise<LoadReport>
  /** The report so far; the load keeps running. */
  snapshot(): LoadReport
  /** Resolves (never rejects) once every loop has ended, by itself or through stop(). */
  done: Promise<LoadReport>
}

const MAX_ERROR_SAMPLES = 20
// Long enough that a loop hammering a dead port cannot starve the event loop (or the
// server under test), short enough to notice the new generation almost at once.
const BACKOFF_AFTER_FAILURE_MS = 5
// A request refused this often in a row is a failure, not a handover moment.
const MAX_RETRIES = 5

interface Target { host: string, port: number | undefined, socketPath: string | undefined, tls: boolean }

interface Post { path: string, body: Buffer }

type Outcome = Exclude<RequestOutcome, { kind: 'retry' }>

export function startLoad (opts: LoadOptions): LoadHandle {
  const clients = opts.clients ?? 32
  const slowEvery = opts.slowEvery ?? 50
  const slowMs = opts.slowMs ?? 300
  const fastPath = opts.path ?? '/'
  const postEvery = opts.postEvery ?? 0
  const postBytes = opts.postBytes ?? 20_000
  const durationMs = opts.durationMs ?? 60_000
  const maxRequests = opts.maxRequests ?? 1_000_000
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000
  if (opts.request === undefined && opts.port === undefined && opts.socketPath === undefined) {
    throw new TypeError('startLoad: either port or socketPath is required')
  }
  if (opts.request !== undefined && postEvery > 0) throw new TypeError('startLoad: postEvery needs the built-in HTTP/1.1 client, not a request function')
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`startLoad: clients must be a positive integer, got ${clients}`)
  if (!Number.isInteger(slowEvery) || slowEvery < 0) throw new RangeError(`startLoad: slowEvery must be an integer >= 0, got ${slowEvery}`)
  if (!Number.isInteger(postEvery) || postEvery < 0) throw new RangeError(`startLoad: postEvery must be an integer >= 0, got ${postEvery}`)
  if (!Number.isInteger(postBytes) || postBytes < 0) throw new RangeError(`startLoad: postBytes must be an integer >= 0, got ${postBytes}`)
  const post: Post = { path: opts.postPath ?? '/echo', body: Buffer.alloc(postBytes, 'graceful ') }
  if (!(requestTimeoutMs > 0)) throw new RangeError(`startLoad: requestTimeoutMs must be > 0, got ${requestTimeoutMs}`)

  // The built-in client reports each socket a request got; connections are counted below.
  const client = opts.request === undefined ? http1Client(opts, clients, (socket) => { onSocket(socket) }) : undefined
  const send: (spec: RequestSpec, body?: Buffer) => Promise<RequestOutcome> = opts.request ?? (client as Http1Client).send

  const startedAt = performance.now()
  const deadline = startedAt + durationMs
  let endedAt: number | undefined
  let stopping = false
  let started = 0

  let ok = 0
  let retried = 0
  const retriedByKind: Record<string, number> = {}
  const posts = { requests: 0, failed: 0 }
  const failures: FailureCounts = { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }
  const errorSamples: ErrorSample[] = []
  const byPid: Record<string, number> = {}
  const slow: SlowRecord[] = []
  const latencies: number[] = []
  const sockets = new WeakSet<object>()
  let connections = 0
  const onSocket = (socket: object): void => {
    if (sockets.has(socket)) return
    sockets.add(socket)
    connections++
  }

  function fail (kind: keyof FailureCounts, code: string | undefined, message: string, path: string): void {
    failures[kind]++
    if (errorSamples.length < MAX_ERROR_SAMPLES) {
      const sample: ErrorSample = { kind, message, at: Date.now(), path }
      if (code !== undefined) sample.code = code
      errorSamples.push(sample)
    }
  }

  /** Sends one request, again while the protocol says it was refused before processing. */
  async function sendOnce (spec: RequestSpec, body: Buffer | undefined): Promise<Outcome> {
    for (let n = 0; ; n++) {
      const outcome = await send(spec, body)
      if (outcome.kind !== 'retry') return outcome
      if (n === MAX_RETRIES) return { kind: 'other', code: outcome.reason, message: `refused ${n + 1} times in a row: ${outcome.message}` }
      retried++
      retriedByKind[outcome.reason] = (retriedByKind[outcome.reason] ?? 0) + 1
    }
  }

  async function loop (clientIndex: number): Promise<void> {
    while (!stopping && started < maxRequests && performance.now() < deadline) {
      const index = started++
      const isSlow = slowEvery > 0 && (index + 1) % slowEvery === 0
      const isPost = !isSlow && postEvery > 0 && (index + 1) % postEvery === 0
      const path = isSlow ? `/sleep?ms=${slowMs}` : isPost ? post.path : fastPath
      const wallStart = Date.now()
      const t0 = performance.now()
      const outcome = await sendOnce({ client: clientIndex, index, path, timeoutMs: requestTimeoutMs }, isPost ? post.body : undefined)
      const latency = performance.now() - t0

      let failed = true
      if (outcome.kind === 'response' && isPost && outcome.bodyBytes !== undefined && Number(outcome.bodyBytes) !== post.body.length) {
        fail('other', undefined, `the server received ${outcome.bodyBytes} of the ${post.body.length} bytes posted`, path)
      } else if (outcome.kind === 'response') {
        if (isSlow) {
          slow.push({ pid: outcome.pid === undefined ? NaN : Number(outcome.pid), startedAt: wallStart, endedAt: Date.now(), status: outcome.status })
        }
        if (opts.expectStatus === undefined ? outcome.status >= 200 && outcome.status <= 299 : outcome.status === opts.expectStatus) {
          failed = false
          ok++
          latencies.push(latency)
          const key = outcome.pid ?? 'unknown'
          byPid[key] = (byPid[key] ?? 0) + 1
        } else {
          fail('non2xx', undefined, `HTTP ${outcome.status}`, path)
        }
      } else {
        fail(outcome.kind, outcome.code, outcome.message, path)
      }
      if (isPost) {
        posts.requests++
        if (failed) posts.failed++
      }
      if (failed && !stopping) await delay(BACKOFF_AFTER_FAILURE_MS)
    }
  }

  function report (): LoadReport {
    const failed = failures.refused + failures.reset + failures.timeout + failures.non2xx + failures.other
    const sorted = latencies.slice().sort((a, b) => a - b)
    return {
      requests: ok + failed,
      ok,
      failed,
      failures: { ...failures },
      retried,
      retriedByKind: { ...retriedByKind },
      errorSamples: errorSamples.map((s) => ({ ...s })),
      posts: { ...posts },
      byPid: { ...byPid },
      slow: slow.map((s) => ({ ...s })),
      latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 },
      durationMs: (endedAt ?? performance.now()) - startedAt,
      connections
    }
  }

  const loops: Array<Promise<void>> = []
  for (let i = 0; i < clients; i++) loops.push(loop(i))
  const done = Promise.all(loops).then(() => {
    endedAt = performance.now()
    client?.close()
    return report()
  })

  return {
    stop () {
      stopping = true
      return done
    },
    snapshot: report,
    done
  }
}

interface Http1Client {
  send: (spec: RequestSpec, body?: Buffer) => Promise<Outcome>
  close: () => void
}

/** The built-in client: one agent (or none) for the whole load. */
function http1Client (opts: HttpLoadOptions, clients: number, onSocket: (socket: object) => void): Http1Client {
  const target: Target = { host: opts.host ?? '127.0.0.1', port: opts.port, socketPath: opts.socketPath, tls: opts.tls === true }
  const agent = !opts.keepAlive
    ? false
    : target.tls
      ? new https.Agent({ keepAlive: true, maxSockets: clients, rejectUnauthorized: false })
      : new http.Agent({ keepAlive: true, maxSockets: clients })
  const headers: http.OutgoingHttpHeaders = opts.keepAlive ? {} : { connection: 'close' }
  return {
    send: (spec, body) => requestOnce(target, agent, headers, spec.path, spec.timeoutMs, body, onSocket),
    close: () => { if (agent !== false) agent.destroy() }
  }
}

/** Resolves (never rejects) with how one request ended, within timeoutMs. */
function requestOnce (
  target: Target,
  agent: http.Agent | false,
  headers: http.OutgoingHttpHeaders,
  path: string,
  timeoutMs: number,
  body?: Buffer,
  onSocket?: (socket: object) => void
): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (outcome: Outcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }

    let req: http.ClientRequest
    try {
      req = (target.tls ? https.request : http.request)({
        host: target.host,
        rejectUnauthorized: false,
        port: target.port,
        socketPath: target.socketPath,
        path,
        method: body === undefined ? 'GET' : 'POST',
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'text/plain', 'content-length': body.length }
      })
    } catch (err) {
      // Bad options (say, a path with spaces) throw synchronously; keep the promise contract.
      finish(classify(err))
      return
    }

    // A whole-request deadline, not req.setTimeout(): that one is a socket idle timer and
    // a server trickling bytes would never trip it.
    timer = setTimeout(() => {
      finish({ kind: 'timeout', code: undefined, message: `no complete response within ${timeoutMs} ms` })
      req.destroy()
    }, timeoutMs)

    // A reused keep-alive socket is reported again: the caller counts each one once.
    if (onSocket !== undefined) req.on('socket', onSocket)
    req.on('error', (err) => finish(classify(err)))
    req.on('response', (res) => {
      const status = res.statusCode ?? 0
      const raw = res.headers['x-pid']
      const pid = Array.isArray(raw) ? raw[0] : raw
      const bodyBytes = res.headers['x-body-bytes']
      res.on('data', noop)
      res.on('end', () => {
        if (res.complete) finish({ kind: 'response', status, pid, bodyBytes: Array.isArray(bodyBytes) ? bodyBytes[0] : bodyBytes })
        else finish({ kind: 'reset', code: undefined, message: 'response ended before its body was complete' })
      })
      // Node reports a connection lost mid-body as an 'error' (ECONNRESET, "aborted");
      // 'close' without 'end' covers any path that skips the error.
      res.on('error', (err) => finish(classify(err)))
      res.on('close', () => finish({ kind: 'reset', code: undefined, message: 'connection closed before the response body was complete' }))
    })
    req.end(body)
  })
}

function classify (err: unknown): Outcome {
  const e = err as NodeJS.ErrnoException
  const code = typeof e?.code === 'string' ? e.code : undefined
  const message = typeof e?.message === 'string' ? e.message : String(err)
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOENT': // unix socket path not there (yet / any more)
      return { kind: 'refused', code, message }
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return { kind: 'reset', code, message }
  }
  if (message === 'socket hang up') return { kind: 'reset', code, message }
  return { kind: 'other', code, message }
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1] ?? 0
}

function noop (): void {}
