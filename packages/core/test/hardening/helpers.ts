// Shared pieces of the hardening suite: TLS material, an HTTP/2 session pool that plugs
// into the test-utils load driver (startLoad's `request`), a minimal WebSocket and SSE
// client, and process inspection (marked spawns, zombies; fd counts are in test-utils).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MARKER_ENV, type RequestOutcome, type Tracker } from '@graceful-restart/test-utils'

export const PROTOCOL_APP = fileURLToPath(new URL('../fixtures/protocol-app.js', import.meta.url))

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A self-signed P-256 certificate for localhost (EC keeps handshakes cheap on 2 cores). */
export function tlsFiles (dir: string): { TLS_KEY: string, TLS_CERT: string } {
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  return { TLS_KEY: key, TLS_CERT: cert }
}

// --- HTTP/2 -------------------------------------------------------------------------------

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants

export interface StreamResult {
  status: number
  pid: number
  body: string
  /** RST_STREAM code, 0 when the stream ended cleanly. */
  rstCode: number | undefined
  error: (Error & { code?: string }) | undefined
}

/**
 * A few client sessions to one origin. A session that received GOAWAY is dropped at once
 * and the next request opens a new connection (which the listening socket hands to
 * whichever generation accepts it), as browsers and curl do.
 */
export class H2Pool {
  readonly origin: string
  readonly #sessions: Array<http2.ClientHttp2Session | undefined>
  goaways = 0
  connects = 0

  constructor (port: number, sessions: number) {
    this.origin = `https://127.0.0.1:${port}`
    this.#sessions = Array.from({ length: sessions }, () => undefined)
  }

  session (slot: number): http2.ClientHttp2Session {
    const existing = this.#sessions[slot]
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing
    const session = http2.connect(this.origin, { rejectUnauthorized: false })
    this.connects++
    session.on('error', () => {}) // reported through the streams
    session.on('goaway', () => {
      this.goaways++
      if (this.#sessions[slot] === session) this.#sessions[slot] = undefined
    })
    session.on('close', () => {
      if (this.#sessions[slot] === session) this.#sessions[slot] = undefined
    })
    this.#sessions[slot] = session
    return session
  }

  /**
   * One GET on the session of `slot`, classified for startLoad. 'retry' (sent again, counted
   * in `retriedByKind`): `refused-stream` (the server answered REFUSED_STREAM, or its GOAWAY
   * named a lower last stream), `not-sent` (the client had the GOAWAY before sending).
   */
  async request (slot: number, path: string, timeoutMs = 10_000): Promise<RequestOutcome> {
    const r = await h2Stream(this.session(slot), path, timeoutMs)
    if (r.error?.code === 'ERR_HTTP2_GOAWAY_SESSION' || r.error?.code === 'ERR_HTTP2_INVALID_SESSION') {
      this.#sessions[slot] = undefined
      return { kind: 'retry', reason: 'not-sent', message: r.error.message }
    }
    if (r.rstCode === NGHTTP2_REFUSED_STREAM) return { kind: 'retry', reason: 'refused-stream', message: 'REFUSED_STREAM' }
    if (r.error?.code === 'TIMEOUT') return { kind: 'timeout', code: undefined, message: r.error.message }
    if (r.error !== undefined) return { kind: 'other', code: r.error.code, message: r.error.message }
    if (r.rstCode !== undefined && r.rstCode !== NGHTTP2_NO_ERROR) return { kind: 'reset', code: undefined, message: `RST_STREAM ${r.rstCode}` }
    return { kind: 'response', status: r.status, pid: Number.isNaN(r.pid) ? undefined : String(r.pid) }
  }

  close (): void {
    for (const s of this.#sessions) s?.destroy()
    this.#sessions.fill(undefined)
  }
}

/** One stream, resolved (never rejected) when it closed, however. */
export function h2Stream (session: http2.ClientHttp2Session, path: string, timeoutMs = 10_000): Promise<StreamResult> {
  return new Promise((resolve) => {
    const result: StreamResult = { status: 0, pid: NaN, body: '', rstCode: undefined, error: undefined }
    let stream: http2.ClientHttp2Stream
    try {
      stream = session.request({ ':path': path })
    } catch (err) {
      result.error = err as Error
      resolve(result)
      return
    }
    const timer = setTimeout(() => {
      result.error = Object.assign(new Error(`stream not done within ${timeoutMs} ms`), { code: 'TIMEOUT' })
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }, timeoutMs)
    stream.on('response', (headers) => {
      result.status = Number(headers[':status'])
      result.pid = Number(headers['x-pid'])
    })
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => { result.body += chunk })
    stream.on('error', (err: Error) => { result.error ??= err })
    stream.on('close', () => {
      clearTimeout(timer)
      result.rstCode = stream.rstCode
      // An error that only reports the refusal is not a failure of its own.
      if (result.rstCode === NGHTTP2_REFUSED_STREAM) result.error = undefined
      resolve(result)
    })
    stream.end()
  })
}

// --- WebSocket client (RFC 6455, masked text frames and the close handshake) -------------

export interface WsClient {
  pid: number
  messages: string[]
  /** Resolves when the TCP connection closed: with the server's close frame if one came. */
  closed: Promise<{ code: number | undefined, reason: string, at: number, clean: boolean }>
  send: (text: string) => void
  next: () => Promise<string>
  destroy: () => void
}

function maskedFrame (opcode: number, payload: Buffer): Buffer {
  const mask = crypto.randomBytes(4)
  const out = Buffer.alloc(6 + payload.length)
  out[0] = 0x80 | opcode
  out[1] = 0x80 | payload.length
  mask.copy(out, 2)
  for (let i = 0; i < payload.length; i++) out[6 + i] = (payload[i] as number) ^ (mask[i % 4] as number)
  return out
}

export function wsConnect (port: number, timeoutMs = 5000): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64')
    const expected = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    const socket = net.connect(port, '127.0.0.1')
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('WebSocket handshake timed out')) }, timeoutMs)
    let buf = Buffer.alloc(0)
    let client: WsClient | undefined
    let closeCode: number | undefined
    let closeReason = ''
    let sentClose = false
    const waiting: Array<(m: string) => void> = []
    let resolveClosed: (v: { code: number | undefined, reason: string, at: number, clean: boolean }) => void = () => {}
    const closed = new Promise<{ code: number | undefined, reason: string, at: number, clean: boolean }>((r) => { resolveClosed = r })
    let hadError = false
    socket.on('error', (err) => {
      hadError = true
      if (client === undefined) { clearTimeout(timer); reject(err) }
    })
    socket.on('close', () => {
      clearTimeout(timer)
      if (client === undefined) reject(new Error('connection closed during the WebSocket handshake'))
      resolveClosed({ code: closeCode, reason: closeReason, at: Date.now(), clean: !hadError && closeCode !== undefined })
    })
    socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    const parseFrames = (): void => {
      while (buf.length >= 2) {
        const opcode = (buf[0] as number) & 0x0f
        const len = (buf[1] as number) & 0x7f
        if (buf.length < 2 + len) return
        const payload = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        if (opcode === 0x1) {
          const text = payload.toString('utf8')
          const waiter = waiting.shift()
          if (waiter !== undefined) waiter(text)
          else client?.messages.push(text)
        } else if (opcode === 0x8) {
          closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
          closeReason = payload.subarray(2).toString('utf8')
          if (!sentClose) {
            sentClose = true
            socket.write(maskedFrame(0x8, Buffer.from(payload.subarray(0, 2))))
          }
          socket.end()
        }
      }
    }
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (client === undefined) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        buf = buf.subarray(end + 4)
        const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(head)?.[1]
        if (!head.startsWith('HTTP/1.1 101') || accept !== expected) {
          clearTimeout(timer)
          socket.destroy()
          reject(new Error(`bad handshake answer: ${head.split('\r\n')[0]}`))
          return
        }
        clearTimeout(timer)
        client = {
          pid: Number(/^x-pid:\s*(\d+)/im.exec(head)?.[1]),
          messages: [],
          closed,
          send: (text) => socket.write(maskedFrame(0x1, Buffer.from(text))),
          next: () => {
            const m = client?.messages.shift()
            return m !== undefined ? Promise.resolve(m) : new Promise((r) => waiting.push(r))
          },
          destroy: () => socket.destroy()
        }
        resolve(client)
      }
      parseFrames()
    })
  })
}

// --- Server-Sent Events client -------------------------------------------------------------

export interface SseStream {
  pid: number
  events: Array<{ event: string, data: string }>
  /** clean: the response ended with its terminating chunk (res.complete), no error. */
  ended: Promise<{ clean: boolean, error?: string, at: number }>
  destroy: () => void
}

export function sseConnect (port: number, timeoutMs = 5000): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', agent: false, headers: { accept: 'text/event-stream' } })
    const timer = setTimeout(() => { req.destroy(); reject(new Error('no SSE response')) }, timeoutMs)
    req.on('error', (err) => { clearTimeout(timer); reject(err) })
    req.on('response', (res) => {
      clearTimeout(timer)
      let buf = ''
      const stream: SseStream = {
        pid: Number(res.headers['x-pid']),
        events: [],
        ended: new Promise((r) => {
          let done = false
          const end = (v: { clean: boolean, error?: string, at: number }): void => { if (!done) { done = true; r(v) } }
          res.on('end', () => end({ clean: res.complete, at: Date.now() }))
          res.on('error', (err) => end({ clean: false, error: err.message, at: Date.now() }))
          res.on('close', () => end({ clean: false, error: 'closed before the end of the stream', at: Date.now() }))
        }),
        destroy: () => req.destroy()
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let cut: number
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim()
            else if (line.startsWith('data:')) data.push(line.slice(5).trim())
          }
          if (data.length > 0) stream.events.push({ event, data: data.join('\n') })
        }
      })
      resolve(stream)
    })
  })
}

// --- Processes -----------------------------------------------------------------------------

export interface Spawned {
  child: ChildProcess
  pid: number
  lines: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  output: () => string
}

/**
 * Spawns a command carrying the tracker's marker (so its cleanup reaches it), with extra
 * fds from the test at 3, 4, ...; collects stdout and stderr lines.
 */
export function spawnMarked (track: Tracker, command: string, args: string[], opts: { env?: Record<string, string | undefined>, fds?: number[] } = {}): Spawned {
  const env: Record<string, string | undefined> = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  env[MARKER_ENV] = track.marker
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe', ...(opts.fds ?? [])] })
  child.on('error', () => {})
  const lines: string[] = []
  const streamsClosed: Array<Promise<void>> = []
  for (const stream of [child.stdout, child.stderr]) {
    let partial = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
    })
    streamsClosed.push(new Promise((resolve) => stream?.on('close', () => {
      if (partial !== '') lines.push(partial)
      resolve()
    })))
  }
  // 'exit', then the output still in the pipes (not 'close': a grandchild may hold them).
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      void Promise.race([Promise.all(streamsClosed), sleep(300)]).then(() => resolve({ code, signal }))
    })
  })
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`)
  return { child, pid: child.pid, lines, exited, output: () => lines.join('\n') }
}

function procStatus (pid: number | string): { state: string, ppid: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    return { state: /^State:\s+(\S)/m.exec(text)?.[1] ?? '?', ppid: Number(/^PPid:\s+(\d+)/m.exec(text)?.[1]) }
  } catch {
    return undefined
  }
}

/** Zombies (exited, never reaped) whose parent is one of `parents`. */
export function zombiesOf (parents: Iterable<number>): number[] {
  const set = new Set(parents)
  const out: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = procStatus(name)
    if (s?.state === 'Z' && set.has(s.ppid)) out.push(Number(name))
  }
  return out
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
export function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
