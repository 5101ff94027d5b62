import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { freePort, startLoad, waitFor } from '../src/index.ts'

const bounded = { timeout: 20_000 }

interface TestServer { port: number, connections: number, close(): Promise<void> }

async function listen (handler: http.RequestListener, socketPath?: string): Promise<TestServer> {
  const server = http.createServer(handler)
  const result: TestServer = {
    port: 0,
    connections: 0,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
  server.on('connection', () => { result.connections++ })
  await new Promise<void>((resolve) => {
    if (socketPath !== undefined) server.listen(socketPath, resolve)
    else server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  if (typeof address === 'object' && address !== null) result.port = address.port
  return result
}

// What a generation of the real server answers: a fast path and a slow one, both tagged.
const appHandler: http.RequestListener = (req, res) => {
  res.setHeader('x-pid', String(process.pid))
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/sleep') {
    setTimeout(() => res.end('slept\n'), Number(url.searchParams.get('ms') ?? 0))
  } else {
    res.end('hello\n')
  }
}

test('keep-alive load counts requests, reads x-pid and records slow requests', bounded, async () => {
  const server = await listen(appHandler)
  try {
    const report = await startLoad({ port: server.port, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 100, durationMs: 1000 }).done
    assert.ok(report.requests > 50, `only ${report.requests} requests`)
    assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
    assert.equal(report.ok, report.requests)
    assert.deepEqual(report.byPid, { [process.pid]: report.ok })
    assert.ok(report.slow.length > 0)
    for (const s of report.slow) {
      assert.equal(s.pid, process.pid)
      assert.equal(s.status, 200)
      assert.ok(s.endedAt - s.startedAt >= 95, `slow request took ${s.endedAt - s.startedAt} ms`)
    }
    assert.ok(report.latencyMs.max >= 95)
    assert.ok(report.latencyMs.p50 <= report.latencyMs.p99 && report.latencyMs.p99 <= report.latencyMs.max)
    assert.ok(report.durationMs >= 1000 && report.durationMs < 5000, `durationMs ${report.durationMs}`)
    // 8 loops over a keep-alive agent capped at 8 sockets.
    assert.ok(server.connections <= 8, `${server.connections} connections`)
    assert.equal(report.connections, server.connections, 'the connections the clients opened, counted at the client')
  } finally {
    await server.close()
  }
})

test('postEvery sends POSTs with a body; a server that got less than was sent fails the request', bounded, async () => {
  let short = false
  const server = await listen((req, res) => {
    if (req.method !== 'POST') return appHandler(req, res)
    let bytes = 0
    req.on('data', (chunk: Buffer) => { bytes += chunk.length })
    req.on('end', () => {
      res.setHeader('x-body-bytes', String(short ? bytes - 1 : bytes))
      res.end('ok\n')
    })
  })
  try {
    const report = await startLoad({ port: server.port, keepAlive: true, clients: 4, slowEvery: 0, postEvery: 3, postBytes: 30_000, maxRequests: 60 }).done
    assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
    assert.deepEqual(report.posts, { requests: 20, failed: 0 })
    short = true
    const bad = await startLoad({ port: server.port, keepAlive: false, clients: 2, slowEvery: 0, postEvery: 2, maxRequests: 10 }).done
    assert.deepEqual(bad.posts, { requests: 5, failed: 5 })
    assert.equal(bad.failures.other, 5)
    assert.match(bad.errorSamples[0]?.message ?? '', /received 19999 of the 20000 bytes/)
  } finally {
    await server.close()
  }
})

test('without keep-alive every request opens its own connection', bounded, async () => {
  const server = await listen(appHandler)
  try {
    const report = await startLoad({ port: server.port, keepAlive: false, clients: 4, slowEvery: 0, maxRequests: 200 }).done
    assert.equal(report.requests, 200)
    assert.equal(report.ok, 200)
    assert.equal(report.slow.length, 0)
    assert.equal(server.connections, 200)
    assert.equal(report.connections, 200)
  } finally {
    await server.close()
  }
})

test('stop() ends the loops early and lets in-flight requests finish', bounded, async () => {
  const server = await listen(appHandler)
  try {
    const load = startLoad({ port: server.port, keepAlive: true, clients: 4, slowEvery: 3, slowMs: 200 })
    // Mid-run: some requests done, slow ones in flight.
    await waitFor(() => load.snapshot().slow.length > 0, { timeoutMs: 10_000, what: 'a slow request answered' })
    const mid = load.snapshot()
    assert.ok(mid.requests > 0)
    const t0 = Date.now()
    const report = await load.stop()
    assert.ok(Date.now() - t0 < 1000, 'stop() took too long')
    assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
    assert.ok(report.requests >= mid.requests)
    assert.deepEqual(await load.done, report)
    assert.deepEqual(load.snapshot(), report, 'nothing happens after stop()')
  } finally {
    await server.close()
  }
})

test('unix socket target', bounded, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-load-'))
  const socketPath = path.join(dir, 's.sock')
  const server = await listen(appHandler, socketPath)
  try {
    const report = await startLoad({ socketPath, keepAlive: true, clients: 2, maxRequests: 20 }).done
    assert.equal(report.ok, 20)
    await server.close()
    const missing = await startLoad({ socketPath, keepAlive: false, clients: 2, durationMs: 200 }).done
    assert.equal(missing.ok, 0)
    assert.equal(missing.failures.refused, missing.requests, JSON.stringify(missing.errorSamples))
    assert.equal(missing.errorSamples[0]?.code, 'ENOENT')
  } finally {
    await server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a closed port counts as refused, without spinning hot', bounded, async () => {
  const port = await freePort()
  const report = await startLoad({ port, keepAlive: true, clients: 4, durationMs: 500 }).done
  assert.ok(report.requests > 0)
  assert.equal(report.ok, 0)
  assert.equal(report.failures.refused, report.requests, JSON.stringify(report.errorSamples))
  assert.equal(report.errorSamples.length, Math.min(20, report.requests))
  assert.equal(report.errorSamples[0]?.code, 'ECONNREFUSED')
  // Each loop waits ~5 ms after a failure: at most ~100 attempts per loop in 500 ms.
  assert.ok(report.requests <= 4 * 110, `${report.requests} attempts in 500 ms`)
})

test('a server that destroys sockets counts as reset', bounded, async () => {
  const server = await listen((req) => { req.socket.destroy() })
  try {
    const report = await startLoad({ port: server.port, keepAlive: false, clients: 4, durationMs: 500 }).done
    assert.ok(report.requests > 0)
    assert.equal(report.failures.reset, report.requests, JSON.stringify(report.errorSamples))
  } finally {
    await server.close()
  }
})

test('a truncated body counts as reset, not success', bounded, async () => {
  const server = await listen((_req, res) => {
    res.writeHead(200, { 'content-length': '100', 'x-pid': String(process.pid) })
    res.write('only ten b')
    setTimeout(() => res.socket?.destroy(), 10)
  })
  try {
    const report = await startLoad({ port: server.port, keepAlive: true, clients: 4, durationMs: 500 }).done
    assert.ok(report.requests > 0)
    assert.equal(report.ok, 0)
    assert.deepEqual(report.byPid, {})
    assert.equal(report.failures.reset, report.requests, JSON.stringify(report.errorSamples))
  } finally {
    await server.close()
  }
})

test('a 503 counts as non2xx', bounded, async () => {
  const server = await listen((_req, res) => {
    res.writeHead(503, { 'x-pid': String(process.pid) })
    res.end('draining\n')
  })
  try {
    const report = await startLoad({ port: server.port, keepAlive: true, clients: 4, slowEvery: 5, durationMs: 500 }).done
    assert.ok(report.requests > 0)
    assert.equal(report.failures.non2xx, report.requests, JSON.stringify(report.errorSamples))
    assert.equal(report.errorSamples[0]?.message, 'HTTP 503')
    assert.deepEqual(report.byPid, {}, 'byPid counts successes only')
    // Slow requests that got an answer are recorded whatever the status.
    assert.ok(report.slow.length > 0)
    assert.ok(report.slow.every((s) => s.status === 503 && s.pid === process.pid))
  } finally {
    await server.close()
  }
})

test('expectStatus: the one status every answer must have', bounded, async () => {
  const server = await listen((req, res) => {
    res.statusCode = req.url === '/' ? 404 : 200
    res.end()
  })
  try {
    const report = await startLoad({ port: server.port, keepAlive: true, clients: 2, slowEvery: 0, expectStatus: 404, maxRequests: 20 }).done
    assert.equal(report.ok, 20, JSON.stringify(report.errorSamples))
    const other = await startLoad({ port: server.port, keepAlive: true, clients: 2, slowEvery: 0, expectStatus: 404, path: '/x', maxRequests: 20 }).done
    assert.equal(other.failures.non2xx, 20)
  } finally {
    await server.close()
  }
})

test('a server that never answers counts as timeout, and stop() stays bounded', bounded, async () => {
  const server = await listen(() => { /* never answer */ })
  try {
    const load = startLoad({ port: server.port, keepAlive: true, clients: 4, requestTimeoutMs: 200 })
    // Each loop's first request timed out; the second ones are in flight.
    await waitFor(() => load.snapshot().requests >= 4, { timeoutMs: 10_000, what: 'four timeouts' })
    const t0 = Date.now()
    const report = await load.stop()
    assert.ok(Date.now() - t0 < 600, `stop() took ${Date.now() - t0} ms`)
    assert.ok(report.requests >= 4, `${report.requests} requests`)
    assert.equal(report.failures.timeout, report.requests, JSON.stringify(report.errorSamples))
    assert.equal(report.ok, 0)
  } finally {
    await server.close()
  }
})

test('options are validated', () => {
  assert.throws(() => startLoad({ keepAlive: true }), TypeError)
  assert.throws(() => startLoad({ port: 1, keepAlive: true, clients: 0 }), RangeError)
  assert.throws(() => startLoad({ port: 1, keepAlive: true, postEvery: -1 }), RangeError)
  assert.throws(() => startLoad({ request: async () => ({ kind: 'response', status: 200, pid: '1' }), postEvery: 2 }), TypeError)
})

test('a request function plugs in: its client and index, retries counted apart (not failures), a request refused 6 times in a row fails', bounded, async () => {
  const sends: Array<{ client: number, index: number, path: string }> = []
  // Request 3 is refused twice, then answered; request 7 is refused every time.
  const report = await startLoad({
    clients: 2,
    maxRequests: 10,
    slowEvery: 5,
    slowMs: 1,
    request: async ({ client, index, path }) => {
      sends.push({ client, index, path })
      const tries = sends.filter((s) => s.index === index).length
      if ((index === 3 && tries <= 2) || index === 7) return { kind: 'retry', reason: index === 3 ? 'refused-stream' : 'not-sent', message: 'refused' }
      return { kind: 'response', status: 200, pid: String(100 + client) }
    }
  }).done
  assert.equal(report.requests, 10)
  assert.equal(report.ok, 9)
  assert.equal(report.failed, 1)
  assert.equal(report.failures.other, 1)
  assert.equal(report.errorSamples[0]?.code, 'not-sent')
  assert.equal(report.retried, 2 + 5)
  assert.deepEqual(report.retriedByKind, { 'refused-stream': 2, 'not-sent': 5 })
  assert.equal(sends.filter((s) => s.index === 7).length, 6)
  assert.deepEqual([...new Set(sends.map((s) => s.client))].sort(), [0, 1])
  assert.deepEqual(sends.filter((s) => s.path !== '/').map((s) => s.index), [4, 9])
  assert.equal((report.byPid['100'] ?? 0) + (report.byPid['101'] ?? 0), 9)
})
