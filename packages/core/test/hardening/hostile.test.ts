// Hostile or broken input to real processes: the inheritance variables, the fds behind them,
// systemd's LISTEN_* variables. The promise: a coded error (ERR_GRACEFUL_*), no crash of a
// live server, and no socket adopted that the process should not own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { freePort, processesWithMarker, readPidFile, startLoad, tracker, waitFor, waitForAnswerFrom, type Tracker } from '@graceful-restart/test-utils'
import { events, handover, setMode, startApp, tempDir, waitGone } from '../integration/app.ts'
import { PROTOCOL_APP, canConnect, spawnMarked, type Spawned } from './helpers.ts'

/** A listening socket owned by the test: whoever accepts on it shows up in `accepted`. */
async function decoy (t: { after: (fn: () => unknown) => unknown }): Promise<{ server: net.Server, port: number, fd: number, accepted: () => number }> {
  let accepted = 0
  const server = net.createServer((socket) => { accepted++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
  return { server, port: (server.address() as net.AddressInfo).port, fd, accepted: () => accepted }
}

/** Connects `n` times; resolves once each connection was answered (accepted and closed by the decoy). */
async function knock (port: number, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.on('close', () => resolve())
    s.on('error', () => {})
    s.setTimeout(3000, () => s.destroy())
  })))
}

function startApp2 (track: Tracker, env: Record<string, string | undefined>, fds: number[] = [], wrapper?: string): Spawned {
  const base = { PORT: '0', PID_FILE: undefined, BOOT_MODE_FILE: undefined, ...env }
  return wrapper === undefined
    ? spawnMarked(track, process.execPath, [PROTOCOL_APP], { env: base, fds })
    : spawnMarked(track, 'sh', ['-c', wrapper, process.execPath, PROTOCOL_APP], { env: base, fds })
}

async function listeningPort (p: Spawned): Promise<number> {
  const line = await waitFor(() => p.lines.find((l) => l.includes('"event":"listening"')), { timeoutMs: 10_000, what: 'listening' })
  return (JSON.parse(line) as { address: { port: number } }).address.port
}

async function envLeft (port: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/env`)
  return (await res.json() as { env: string[] }).env
}

/** The process must stop before listening, exit 1 and name the error code. */
async function assertRefused (p: Spawned, code: string, text: RegExp, label: string): Promise<void> {
  const exit = await p.exited
  assert.equal(exit.code, 1, `${label}: exit code\n${p.output()}`)
  assert.ok(p.output().includes(code), `${label}: ${code} in the output\n${p.output()}`)
  assert.match(p.output(), text, label)
  assert.ok(!p.output().includes('"event":"listening"'), `${label}: never listened`)
}

test('foreign inheritance variables (copied from a live generation) are ignored with a warning: nothing adopted, the live server untouched', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const app = await startApp(track, dir, {}, PROTOCOL_APP)
  const first = app.pid
  const live = await handover(app)
  await waitGone([first])
  const load = startLoad({ port: app.port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  // What a copied environment carries: the variables the live generation was started with.
  const copied = Object.fromEntries(fs.readFileSync(`/proc/${live}/environ`, 'latin1').split('\0')
    .filter((kv) => kv.startsWith('GRACEFUL_RESTART_')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  assert.equal(copied.GRACEFUL_RESTART_PARENT, String(first))
  // Even with a real listening socket at the fd those variables name.
  const trap = await decoy(t)
  const intruder = startApp2(track, { ...copied, PID_FILE: path.join(dir, 'intruder.pid') }, [trap.fd])
  const port = await listeningPort(intruder)
  assert.notEqual(port, app.port)
  assert.notEqual(port, trap.port)
  await waitFor(() => intruder.lines.find((l) => l.includes('ERR_GRACEFUL_INHERIT_ENV') && l.includes(`GRACEFUL_RESTART_PARENT=${first} does not name this process's parent`)), { timeoutMs: 5000, what: 'the warning' })
  assert.deepEqual(await envLeft(port), [], 'the variables are removed all the same')
  await knock(trap.port, 5)
  assert.equal(trap.accepted(), 5, 'the socket at fd 3 was not adopted: its owner accepts every connection')
  process.kill(intruder.pid, 'SIGTERM')
  assert.equal((await intruder.exited).code, 0)
  assert.equal(readPidFile(app.pidFile), live)
  const r = await load.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  assert.deepEqual(Object.keys(r.byPid), [String(live)])
})

test('garbage in the inheritance variables from the real parent: the process exits 1 with ERR_GRACEFUL_INHERIT_ENV before it listens', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const parent = String(process.pid)
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['not JSON', { GRACEFUL_RESTART_FDS: '{' }, /GRACEFUL_RESTART_FDS is malformed/],
    ['not a list', { GRACEFUL_RESTART_FDS: '"3"' }, /GRACEFUL_RESTART_FDS is malformed/],
    ['stdout named as a listener', { GRACEFUL_RESTART_FDS: '[{"fd":1,"key":"tcp:127.0.0.1:1"}]' }, /GRACEFUL_RESTART_FDS is malformed/],
    ['unknown address scheme', { GRACEFUL_RESTART_FDS: '[{"fd":3,"key":"ftp:x"}]' }, /GRACEFUL_RESTART_FDS is malformed/],
    ['fd out of range', { GRACEFUL_RESTART_FDS: '[{"fd":1e9,"key":"tcp:*:1"}]' }, /GRACEFUL_RESTART_FDS is malformed/],
    ['ready fd not a number', { GRACEFUL_RESTART_FDS: '[]', GRACEFUL_RESTART_READY_FD: 'four' }, /GRACEFUL_RESTART_READY_FD is malformed/],
    ['supervisor that is not the parent', { GRACEFUL_RESTART_FDS: '[]', GRACEFUL_RESTART_SUPERVISOR: '1' }, /GRACEFUL_RESTART_SUPERVISOR does not name the parent/]
  ]
  const runs = cases.map(([label, env, text]) => ({ label, text, p: startApp2(track, { GRACEFUL_RESTART_PARENT: parent, ...env }) }))
  for (const { label, text, p } of runs) await assertRefused(p, 'ERR_GRACEFUL_INHERIT_ENV', text, label)
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('an inherited fd that is not a listening socket for its name (a regular file, a socket bound elsewhere, UDP, a closed fd): ERR_GRACEFUL_INHERITED_FD, nothing adopted', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const parent = String(process.pid)
  const port = await freePort()
  const named = JSON.stringify([{ fd: 3, key: `tcp:127.0.0.1:${port}` }])
  const env = { GRACEFUL_RESTART_PARENT: parent, GRACEFUL_RESTART_FDS: named, PORT: String(port) }

  const file = path.join(dir, 'not-a-socket')
  fs.writeFileSync(file, 'x')
  const fileFd = fs.openSync(file, 'r')
  t.after(() => fs.closeSync(fileFd))
  const trap = await decoy(t)
  // dgram hides its fd (its _handle is deprecated): it is the socket that appears.
  const sockets = (): Map<string, string> => {
    const out = new Map<string, string>()
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      try {
        const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
        if (target.startsWith('socket:')) out.set(fd, target)
      } catch {}
    }
    return out
  }
  const before = new Set(sockets().values())
  const udp = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
  t.after(() => udp.close())
  const udpFd = Number([...sockets()].find(([, target]) => !before.has(target))?.[0])
  assert.ok(udpFd > 2, 'found the UDP socket fd')
  // A connection that stays open: accepted and held by a server of the test.
  const held: net.Socket[] = []
  const holder = net.createServer((socket) => { held.push(socket) })
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const peer = net.connect((holder.address() as net.AddressInfo).port, '127.0.0.1')
  peer.on('error', () => {})
  await new Promise((resolve) => peer.once('connect', resolve))
  t.after(() => { peer.destroy(); for (const s of held) s.destroy(); holder.close() })
  const connectedFd = (peer as unknown as { _handle: { fd: number } })._handle.fd

  const runs: Array<[string, Spawned, RegExp]> = [
    ['a regular file at fd 3', startApp2(track, env, [fileFd]), /inherited fd 3 is not a socket/],
    ['a listening socket for another port', startApp2(track, env, [trap.fd]), new RegExp(`inherited fd 3 is not a listening socket for tcp:127.0.0.1:${port}`)],
    ['a UDP socket', startApp2(track, env, [udpFd]), /inherited fd 3 is not a listening socket \(no TCP or unix stream socket/],
    ['a connected, not listening, TCP socket', startApp2(track, env, [connectedFd]), /inherited fd 3 is not a listening socket/],
    // Nothing passed: fd 3 is whatever Node opened for itself (its epoll fd).
    ['nothing passed at fd 3', startApp2(track, env), /inherited fd 3 is not a socket/],
    ['a closed fd', startApp2(track, { ...env, GRACEFUL_RESTART_FDS: JSON.stringify([{ fd: 200, key: `tcp:127.0.0.1:${port}` }]) }), /inherited fd 200 is not open/]
  ]
  for (const [label, p, text] of runs) await assertRefused(p, 'ERR_GRACEFUL_INHERITED_FD', text, label)
  await knock(trap.port, 3)
  assert.equal(trap.accepted(), 3, 'the decoy still accepts every connection itself')
  assert.equal(await canConnect(port), false, 'nobody bound the port the variables named')
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('systemd variables: a spoofed LISTEN_PID is ignored with a warning and its fd not adopted; with the right pid, a bad fd or count is a coded error', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const trap = await decoy(t)
  // Another process's pid: the fd is not meant for this one.
  const spoofed = startApp2(track, { LISTEN_FDS: '1', LISTEN_PID: String(process.pid), LISTEN_FDNAMES: 'web' }, [trap.fd])
  const port = await listeningPort(spoofed)
  assert.notEqual(port, trap.port)
  await waitFor(() => spoofed.lines.find((l) => l.includes('ERR_GRACEFUL_INHERIT_ENV') && l.includes(`LISTEN_PID=${process.pid} is not this process`)), { timeoutMs: 5000, what: 'the warning' })
  assert.deepEqual(await envLeft(port), [])
  await knock(trap.port, 5)
  assert.equal(trap.accepted(), 5, 'the spoofed socket was not adopted')
  process.kill(spoofed.pid, 'SIGTERM')
  assert.equal((await spoofed.exited).code, 0)

  // LISTEN_PID set by the shell that execs node, so it names the process itself.
  const file = path.join(dir, 'not-a-socket')
  fs.writeFileSync(file, 'x')
  const fileFd = fs.openSync(file, 'r')
  t.after(() => fs.closeSync(fileFd))
  const self = 'LISTEN_PID=$$ exec "$0" "$@"'
  const runs: Array<[string, Spawned, string, RegExp]> = [
    ['a regular file as systemd fd 3', startApp2(track, { LISTEN_FDS: '1' }, [fileFd], self), 'ERR_GRACEFUL_INHERITED_FD', /inherited fd 3 is not a socket/],
    ['LISTEN_FDS not a number', startApp2(track, { LISTEN_FDS: 'all' }, [], self), 'ERR_GRACEFUL_INHERIT_ENV', /LISTEN_FDS is malformed/],
    // fd 3 is fine, fd 4 is not one of the passed sockets (whatever sits there).
    ['LISTEN_FDS beyond the fds passed', startApp2(track, { LISTEN_FDS: '2' }, [trap.fd], self), 'ERR_GRACEFUL_INHERITED_FD', /inherited fd 4 is not (a socket|open)/]
  ]
  for (const [label, p, code, text] of runs) await assertRefused(p, code, text, label)
  assert.deepEqual(processesWithMarker(track.marker), [])
})

test('a corrupted environment reaching the next generation of a live server: the child stops at once with a coded error, the live one rolls back and serves on', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const app = await startApp(track, tempDir(t), { UPGRADE_TIMEOUT: '8000' }, PROTOCOL_APP)
  const keepAlive = startLoad({ port: app.port, keepAlive: true, clients: 4, slowEvery: 0, durationMs: 30_000 })
  const fresh = startLoad({ port: app.port, keepAlive: false, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const cases: Array<[string, string]> = [['env-garbage', 'ERR_GRACEFUL_INHERIT_ENV'], ['env-wrong-port', 'ERR_GRACEFUL_INHERITED_FD']]
  for (const [index, [mode, code]] of cases.entries()) {
    setMode(app, mode)
    process.kill(app.pid, 'SIGUSR2')
    const rollback = await waitFor(() => events(app.started, 'handover:rollback')[index], { timeoutMs: 10_000, what: `rollback (${mode})` })
    assert.equal(rollback.reason, 'exit', mode)
    assert.equal(rollback.exitCode, 1, mode)
    assert.ok(Number(rollback.durationMs) < 8000, `${mode}: the child stopped by itself, before upgradeTimeout (${String(rollback.durationMs)} ms)`)
    await waitFor(() => app.started.lines.find((l) => l.includes(code)), { timeoutMs: 3000, what: `${code} on stderr` })
    assert.deepEqual(processesWithMarker(track.marker), [app.pid], `${mode}: the live generation alone`)
  }
  setMode(app, 'ok')
  const old = app.pid
  const next = await handover(app)
  await waitGone([old])
  await waitForAnswerFrom([keepAlive, fresh], next)
  for (const r of [await keepAlive.stop(), await fresh.stop()]) assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
})

test('GRACEFUL_RESTART_READY_FD naming a listening socket or stdout is refused with ERR_GRACEFUL_INHERIT_ENV instead of being written to and closed', {
  timeout: 60_000
}, async (t) => {
  const track = tracker(t)
  // Through a real handover: the readiness fd names the inherited listener (fd 3).
  const app = await startApp(track, tempDir(t), { UPGRADE_TIMEOUT: '8000' }, PROTOCOL_APP)
  const load = startLoad({ port: app.port, keepAlive: false, clients: 4, slowEvery: 0, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  setMode(app, 'env-ready-fd')
  process.kill(app.pid, 'SIGUSR2')
  const rollback = await waitFor(() => events(app.started, 'handover:rollback')[0], { timeoutMs: 12_000, what: 'rollback' })
  const stderr = app.started.lines.join('\n')
  assert.equal(rollback.reason, 'exit', `the child refused at once instead of running into upgradeTimeout: ${JSON.stringify(rollback)}`)
  assert.ok(stderr.includes('ERR_GRACEFUL_INHERIT_ENV') && stderr.includes('GRACEFUL_RESTART_READY_FD'), stderr)
  const r = await load.stop()
  assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))

  // From a parent that names stdout as the readiness fd.
  const p = startApp2(track, { GRACEFUL_RESTART_PARENT: String(process.pid), GRACEFUL_RESTART_FDS: '[]', GRACEFUL_RESTART_READY_FD: '1' })
  await assertRefused(p, 'ERR_GRACEFUL_INHERIT_ENV', /GRACEFUL_RESTART_READY_FD/, 'stdout as the readiness fd')
})
