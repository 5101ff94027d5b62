// Faults during a handover: processes killed at the worst moment, signals at the wrong
// time, a child that hangs without a word, a full disk, and the fd limit. Each test pins
// down the behaviour docs/faults.md describes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { get, isAlive, openFds, processesWithMarker, readPidFile, startLoad, tracker, waitFor, waitForAnswerFrom } from '@graceful-restart/test-utils'
import { FIXTURE as HTTP_APP, arrived, events, handover, setMode, startApp, tempDir, waitGone } from '../integration/app.ts'
import { PROTOCOL_APP, canConnect, spawnMarked, zombiesOf } from './helpers.ts'

interface Outcome { status?: number, pid?: number, error?: string }

/** A GET whose failure is an outcome to assert on, not an exception. */
async function outcome (port: number, urlPath: string): Promise<Outcome> {
  try {
    const { status, pid } = await get(port, urlPath, { timeoutMs: 30_000 })
    return { status, pid }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

test('the old generation SIGKILLed mid-drain: the new one serves on unaffected; only what the old one still held is lost', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t))
  const keepAlive = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 0, durationMs: 30_000 })
  const fresh = startLoad({ port: app.port, keepAlive: false, clients: 8, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const slow = outcome(app.port, '/sleep?ms=5000&announce=1')
  await arrived(app.started.lines, '/sleep')
  const old = app.pid
  const next = await handover(app)
  await waitFor(() => events(app.started, 'drain:start').find((e) => e.pid === old), { timeoutMs: 5000, what: 'the old generation draining' })
  process.kill(old, 'SIGKILL')
  assert.equal((await app.started.exited).signal, 'SIGKILL')
  const cut = await slow
  assert.ok(cut.error !== undefined, 'the request the killed process was serving is lost')
  // Each load was served by the new generation after the kill.
  await waitForAnswerFrom([keepAlive, fresh], next, { onlyNew: true })
  const before = [await keepAlive.stop(), await fresh.stop()]
  for (const r of before) {
    // Only connections the old process held can fail, and only by a reset, never refused.
    assert.ok(r.failed <= 8, JSON.stringify(r.failures))
    assert.equal(r.failures.refused + r.failures.timeout + r.failures.non2xx, 0, JSON.stringify(r.errorSamples))
  }
  // After the kill: the new generation alone, nothing fails.
  const after = [startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 0, durationMs: 1500 }),
    startLoad({ port: app.port, keepAlive: false, clients: 8, slowEvery: 0, durationMs: 1500 })]
  const reports = await Promise.all(after.map((l) => l.done))
  for (const r of reports) {
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
    assert.deepEqual(Object.keys(r.byPid), [String(next)])
  }
  assert.equal(readPidFile(app.pidFile), next)
  // The orphaned generation is fully functional: it hands over in turn.
  const third = await handover(app)
  await waitGone([next])
  assert.deepEqual(processesWithMarker(track.marker), [third])
  t.diagnostic(`killed ${old} mid-drain: keep-alive ${before[0]?.failed} and new-connection ${before[1]?.failed} requests reset (of ${before[0]?.requests} / ${before[1]?.requests}); ` +
    `afterwards ${reports[0]?.requests} + ${reports[1]?.requests} requests, 0 failed, all answered by ${next}`)
})

test('the new generation SIGKILLed right after ready: the old one still finishes its in-flight requests and exits 0; the address is down until something restarts the app', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t))
  const slow = outcome(app.port, '/sleep?ms=1500&announce=1')
  await arrived(app.started.lines, '/sleep')
  const old = app.pid
  const next = await handover(app)
  // Ready means: the old generation took the report and drains (the PID file is written
  // just before the report is sent, so it alone does not say that).
  await waitFor(() => events(app.started, 'handover:ready').find((e) => e.childPid === next), { timeoutMs: 5000, intervalMs: 1, what: 'the old generation told ready' })
  process.kill(next, 'SIGKILL')
  const done = await slow
  assert.equal(done.status, 200, done.error)
  assert.equal(done.pid, old, 'the old generation answered its own request in full')
  assert.deepEqual(await app.started.exited, { code: 0, signal: null })
  await waitGone([next])
  // Standalone, nobody is left to serve: the documented limit (the supervisor restarts a
  // crashed worker; see docs/faults.md).
  assert.equal(await canConnect(app.port), false)
  assert.equal(readPidFile(app.pidFile), next, 'the PID file names the generation that had become ready')
  assert.deepEqual(processesWithMarker(track.marker), [])
  assert.deepEqual(zombiesOf([process.pid, old]), [])
})

test('SIGTERM while the next generation is still starting: the handover is aborted, the child stopped, in-flight requests finish, both exit', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t), { UPGRADE_TIMEOUT: '20000' })
  setMode(app, 'hang') // the next generation listens, then never becomes ready
  const slow = outcome(app.port, '/sleep?ms=1500&announce=1')
  await arrived(app.started.lines, '/sleep')
  const old = app.pid
  process.kill(old, 'SIGUSR2')
  const spawned = await waitFor(() => events(app.started, 'handover:spawn')[0], { timeoutMs: 10_000, what: 'the child spawned' })
  const child = Number(spawned.childPid)
  await waitFor(() => events(app.started, 'listening').find((e) => e.pid === child), { timeoutMs: 10_000, what: 'the child listening' })
  process.kill(old, 'SIGTERM')
  const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 10_000, what: 'the handover aborted' })
  assert.equal(rollback.reason, 'aborted')
  const done = await slow
  assert.equal(done.status, 200, done.error)
  assert.equal(done.pid, old)
  assert.deepEqual(await app.started.exited, { code: 0, signal: null })
  await waitGone([child])
  assert.equal(fs.existsSync(app.pidFile), false, 'the last live generation removed its PID file')
  assert.equal(await canConnect(app.port), false)
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('SIGTERM to the old generation while it drains after a handover: the drain goes on, the new one is unaffected', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  // The line that says so is at info level: NODE_DEBUG shows it.
  const app = await startApp(track, tempDir(t), { NODE_DEBUG: 'graceful-restart' })
  const keepAlive = startLoad({ port: app.port, keepAlive: true, clients: 8, slowEvery: 20, slowMs: 300, durationMs: 30_000 })
  t.after(async () => { await keepAlive.stop() })
  const slow = outcome(app.port, '/sleep?ms=1500&announce=1')
  await arrived(app.started.lines, '/sleep')
  const old = app.pid
  const next = await handover(app)
  process.kill(old, 'SIGTERM')
  const done = await slow
  assert.equal(done.status, 200, done.error)
  assert.equal(done.pid, old)
  assert.deepEqual(await app.started.exited, { code: 0, signal: null })
  await waitFor(() => app.started.lines.find((l) => l.includes('SIGTERM while draining after a handover: the drain continues')), { timeoutMs: 2000, what: 'the log line' })
  await waitForAnswerFrom(keepAlive, next, { onlyNew: true })
  const r = await keepAlive.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  assert.equal(readPidFile(app.pidFile), next)
  assert.deepEqual(processesWithMarker(track.marker), [next])
})

test('a second SIGTERM during that drain is an order: the old generation exits at once with 143, the new one serves on', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  // NODE_DEBUG shows the line that says the first SIGTERM was heard (two signals sent at
  // once may reach the process as one).
  const app = await startApp(track, tempDir(t), { NODE_DEBUG: 'graceful-restart' })
  const slow = outcome(app.port, '/sleep?ms=10000&announce=1')
  await arrived(app.started.lines, '/sleep')
  const old = app.pid
  const next = await handover(app)
  process.kill(old, 'SIGTERM')
  await waitFor(() => app.started.lines.find((l) => l.includes('SIGTERM while draining after a handover')), { timeoutMs: 10_000, what: 'the first SIGTERM heard' })
  process.kill(old, 'SIGTERM')
  const exit = await app.started.exited
  assert.deepEqual(exit, { code: 143, signal: null })
  assert.ok((await slow).error !== undefined, 'the request the operator chose to cut')
  const res = await outcome(app.port, '/')
  assert.equal(res.pid, next)
  assert.deepEqual(processesWithMarker(track.marker), [next])
})

test('a next generation that hangs in a CPU loop without a word: SIGTERM cannot stop it, SIGKILL does at drainTimeout + 1 s; the old one serves throughout', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t), { UPGRADE_TIMEOUT: '1500', DRAIN_TIMEOUT: '1000' }, PROTOCOL_APP)
  const keepAlive = startLoad({ port: app.port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 })
  const fresh = startLoad({ port: app.port, keepAlive: false, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  setMode(app, 'busy')
  const old = app.pid
  process.kill(old, 'SIGUSR2')
  const child = Number((await waitFor(() => events(app.started, 'handover:spawn')[0], { timeoutMs: 5000, what: 'spawn' })).childPid)
  const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 10_000, what: 'rollback' })
  assert.equal(rollback.reason, 'timeout')
  // The rollback is reported once the child is gone. upgradeTimeout (1.5 s) sent SIGTERM: had
  // that stopped it, the rollback would come at about 1.5 s. It comes after the SIGKILL.
  assert.ok(Number(rollback.durationMs) >= 1500 + 1000 + 1000 - 50, `SIGTERM did not stop a process whose event loop never turns; SIGKILL came at upgradeTimeout + drainTimeout + 1 s (${String(rollback.durationMs)} ms)`)
  assert.ok(Number(rollback.durationMs) < 6000, `and not much later (${String(rollback.durationMs)} ms)`)
  assert.equal(isAlive(child), false)
  await waitFor(() => app.started.lines.find((l) => l.includes('not ready within 1500 ms')), { timeoutMs: 2000, what: 'the reason on stderr' })
  // Its one line is the context it detected while the orchestrator was created, before the loop.
  const said = app.started.lines.filter((l) => l.includes(`"pid":${child},`) && !l.startsWith('{"event":"context"'))
  assert.deepEqual(said, [], 'the child printed nothing after start-up: it never listened nor reported')
  assert.deepEqual(processesWithMarker(track.marker), [old])

  setMode(app, 'ok')
  const next = await handover(app)
  await waitGone([old])
  await waitForAnswerFrom([keepAlive, fresh], next)
  for (const r of [await keepAlive.stop(), await fresh.stop()]) {
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  }
  t.diagnostic(`a spinning child was SIGKILLed ${String(rollback.durationMs)} ms after SIGUSR2 (upgradeTimeout 1500 + drainTimeout 1000 + 1000)`)
})

test('a ready report that does not reach the old generation before upgradeTimeout: the rollback leaves the public names (unix socket path, PID file) with the generation that serves', {
  timeout: 60_000
}, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  const app = await startApp(track, dir, { SOCKET_PATH: socketPath, UPGRADE_TIMEOUT: '1500', DRAIN_TIMEOUT: '2000' }, PROTOCOL_APP)
  const load = startLoad({ socketPath, keepAlive: false, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  setMode(app, 'ready-lost')
  process.kill(app.pid, 'SIGUSR2')
  const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 10_000, what: 'rollback' })
  assert.equal(rollback.reason, 'timeout')
  await waitGone([Number(rollback.childPid)])
  // Served over the path after the child is gone, which is when it could have unlinked it.
  await waitForAnswerFrom(load, app.pid, { onlyNew: true })
  const r = await load.stop()
  assert.ok(fs.existsSync(socketPath), 'the socket path the old generation serves is still there')
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 3)))
  assert.equal(readPidFile(app.pidFile), app.pid, 'the PID file names the generation that serves')
})

// --- A full disk under the PID file ---------------------------------------------------------

interface Disk { dir: string, kind: string, fill: () => void, free: () => void }

/**
 * A directory on a 16 KiB tmpfs that can be filled to ENOSPC; undefined where mount is not
 * permitted. Once the filler is gone there is room (4 KiB pages) for the PID file, the status
 * beside it, and the temporary the next write goes through.
 */
function smallDisk (t: { after: (fn: () => unknown) => unknown, diagnostic: (s: string) => void }): Disk | undefined {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-disk-'))
  const dir = path.join(base, 'run')
  fs.mkdirSync(dir)
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0755', 'tmpfs', dir]).status === 0
  t.after(() => {
    if (mounted) spawnSync('umount', ['-l', dir])
    fs.rmSync(base, { recursive: true, force: true })
  })
  if (!mounted) return undefined
  const filler = path.join(dir, 'filler')
  return {
    dir,
    kind: 'a 16 KiB tmpfs filled to ENOSPC',
    fill: () => {
      const fd = fs.openSync(filler, 'a')
      try {
        for (let i = 0; i < 64; i++) fs.writeSync(fd, Buffer.alloc(1024, 1))
        assert.fail('the 16 KiB tmpfs did not fill up')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      } finally {
        fs.closeSync(fd)
      }
    },
    free: () => { fs.rmSync(filler, { force: true }) }
  }
}

test('a full disk at the first start: the server serves without its PID file and says so with ERR_GRACEFUL_PIDFILE', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  let disk = smallDisk(t)
  let pidFile: string
  if (disk !== undefined) {
    disk.fill()
    pidFile = path.join(disk.dir, 'app.pid')
  } else {
    // No mount here: a directory that is a regular file fails the same write path (ENOTDIR).
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, 'run'), '')
    pidFile = path.join(dir, 'run', 'app.pid')
    disk = { dir, kind: 'mount not permitted: the PID file\'s directory is a regular file (ENOTDIR)', fill: () => {}, free: () => {} }
  }
  t.diagnostic(`PID file failure simulated by ${disk.kind}`)
  const started = track.startNode(HTTP_APP, { env: { PID_FILE: pidFile } })
  const ready = await waitFor(() => events(started, 'ready')[0], { timeoutMs: 10_000, what: 'ready' })
  const port = (events(started, 'listening')[0]?.address as { port: number }).port
  await waitFor(() => started.lines.find((l) => l.includes('ERR_GRACEFUL_PIDFILE') && l.includes(`cannot write PID file ${pidFile}`)), { timeoutMs: 2000, what: 'the error on stderr' })
  assert.ok(started.lines.some((l) => l.includes('ERR_GRACEFUL_PIDFILE') && /ENOSPC|ENOTDIR/.test(l)), started.lines.join('\n'))
  assert.equal((await outcome(port, '/')).pid, ready.pid)
  assert.equal(fs.existsSync(pidFile), false)
  assert.deepEqual(fs.readdirSync(path.dirname(pidFile)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind')
  process.kill(Number(ready.pid), 'SIGTERM')
  assert.deepEqual(await started.exited, { code: 0, signal: null })
})

test('a disk that fills up before a handover: the next generation cannot write the PID file, so it does not take over; the PID file keeps naming the live one', {
  timeout: 60_000
}, async (t) => {
  const track = tracker(t)
  const disk = smallDisk(t)
  if (disk === undefined) {
    t.skip('mount -t tmpfs is not permitted here')
    return
  }
  t.diagnostic(`PID file failure simulated by ${disk.kind}`)
  const app = await startApp(track, disk.dir)
  const load = startLoad({ port: app.port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  disk.fill()
  const old = app.pid
  process.kill(old, 'SIGUSR2')
  const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 8000, what: 'the handover rolled back' })
  assert.equal(rollback.reason, 'exit')
  await app.started.waitForLine((l) => l.includes('ERR_GRACEFUL_PIDFILE')) // the child said why (its stderr, not ordered with the parent's event)
  assert.equal(readPidFile(app.pidFile), old, 'the PID file still names the generation that serves')
  assert.ok(isAlive(old))

  disk.free()
  const next = await handover(app)
  await waitGone([old])
  assert.equal(readPidFile(app.pidFile), next)
  const r = await load.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
})

// --- The fd limit ---------------------------------------------------------------------------

const FD_LIMIT = 64

/** The protocol app under `ulimit -n 64`; its handovers inherit the limit. */
async function startLimited (track: Parameters<typeof spawnMarked>[0], dir: string): Promise<{ pid: number, port: number, lines: string[], pidFile: string }> {
  const pidFile = path.join(dir, 'app.pid')
  const app = spawnMarked(track, 'sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, PROTOCOL_APP], { env: { PID_FILE: pidFile } })
  const pid = await waitFor(() => readPidFile(pidFile), { timeoutMs: 10_000, what: 'ready' })
  assert.equal(pid, app.pid, 'sh exec\'d node in place')
  const limit = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1]
  assert.equal(Number(limit), FD_LIMIT)
  const listening = await waitFor(() => app.lines.find((l) => l.includes('"event":"listening"')), { timeoutMs: 5000, what: 'listening' })
  return { pid, port: (JSON.parse(listening) as { address: { port: number } }).address.port, lines: app.lines, pidFile }
}

/** Socket fds of pid: its listener and the connections it accepted. */
function socketFds (pid: number): number {
  return [...openFds(pid).values()].filter((target) => target.startsWith('socket:')).length
}

/**
 * Opens `n` connections and keeps those the server accepted; at its fd limit it closes the
 * rest. Every connection ends up one or the other: wait until all have (accepted ones add a
 * socket fd in the server; closed ones end here), however long the server takes.
 */
async function holdConnections (pid: number, port: number, n: number): Promise<net.Socket[]> {
  const before = socketFds(pid)
  const closed = new Set<net.Socket>()
  const sockets = Array.from({ length: n }, () => {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('end', () => closed.add(s))
    s.on('close', () => closed.add(s))
    return s
  })
  await waitFor(() => closed.size + socketFds(pid) - before === n, { timeoutMs: 20_000, what: `the server to accept or close each of ${n} connections` })
  return sockets.filter((s) => !closed.has(s))
}

/** Closes the held connections; resolves once the server closed its side too (its fds are free). */
async function release (pid: number, held: net.Socket[], sockets: number): Promise<void> {
  for (const s of held) s.destroy()
  await waitFor(() => socketFds(pid) <= sockets, { timeoutMs: 10_000, what: `pid ${pid} to close the released connections` })
}

/** One request over an already accepted connection: needs no new fd in the server. */
function requestOver (socket: net.Socket, urlPath: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`no answer to ${urlPath} within ${timeoutMs} ms`)), timeoutMs)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buf += chunk
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const length = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1])
      const body = buf.slice(end + 4)
      const chunked = /transfer-encoding:\s*chunked/i.test(buf.slice(0, end))
      if (chunked) {
        const m = /^([0-9a-f]+)\r\n([\s\S]*?)\r\n0\r\n\r\n$/i.exec(body)
        if (m?.[2] === undefined) return
        clearTimeout(timer)
        resolve(JSON.parse(m[2]) as Record<string, unknown>)
      } else if (body.length >= length) {
        clearTimeout(timer)
        resolve(JSON.parse(body.slice(0, length)) as Record<string, unknown>)
      }
    })
    socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  })
}

test(`EMFILE: at the fd limit (ulimit -n ${FD_LIMIT}) the live server stays up, connections over the limit are closed, and it serves again once fds are free`, { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startLimited(track, tempDir(t))
  const idle = socketFds(app.pid)
  const held = await holdConnections(app.pid, app.port, 100)
  t.after(() => { for (const s of held) s.destroy() })
  t.diagnostic(`${held.length} of 100 connections kept by a server limited to ${FD_LIMIT} fds`)
  assert.ok(held.length < 100 && held.length > 20, `the server ran out of fds (${held.length} kept)`)
  // A connection it did accept still works.
  assert.equal((await requestOver(held[0] as net.Socket, '/')).pid, app.pid)
  assert.ok(isAlive(app.pid))
  await release(app.pid, held, idle)
  assert.equal((await outcome(app.port, '/')).pid, app.pid)
  assert.equal(app.lines.filter((l) => l.includes('Error')).length, 0, app.lines.join('\n'))
})

test(`EMFILE: a handover at the fd limit fails with ERR_GRACEFUL_SPAWN, the old generation keeps serving, and the next handover works once fds are free`, {
  timeout: 60_000
}, async (t) => {
  const track = tracker(t)
  const app = await startLimited(track, tempDir(t))
  const idle = socketFds(app.pid)
  const held = await holdConnections(app.pid, app.port, 100)
  t.after(() => { for (const s of held) s.destroy() })
  const [control, api] = held
  assert.ok(control !== undefined && api !== undefined)
  const answer = await requestOver(api, '/handover')
  assert.deepEqual({ ok: answer.ok, code: answer.code, reason: answer.reason }, { ok: false, code: 'ERR_GRACEFUL_SPAWN', reason: 'spawn' }, JSON.stringify(answer))
  assert.match(String(answer.message), /EMFILE/)
  await waitFor(() => app.lines.find((l) => l.includes('"event":"handover:rollback"')), { timeoutMs: 5000, what: 'the rollback event' })
  assert.equal((await requestOver(control, '/')).pid, app.pid, 'the old generation serves on')
  assert.equal(readPidFile(app.pidFile), app.pid)

  await release(app.pid, held, idle)
  process.kill(app.pid, 'SIGUSR2')
  const next = await waitFor(() => {
    const pid = readPidFile(app.pidFile)
    return pid !== app.pid ? pid : undefined
  }, { timeoutMs: 10_000, what: 'a handover once fds are free' })
  await waitGone([app.pid])
  assert.equal((await outcome(app.port, '/')).pid, next)
})
