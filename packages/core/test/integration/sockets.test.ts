import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { freePort, get, processesWithMarker, readPidFile, startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, events, handover, startApp, tempDir, waitGone } from './app.ts'

test('a unix socket path stays connectable across handovers and goes with the last generation', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  const app = await startApp(track, dir, { SOCKET_PATH: socketPath })
  const load = startLoad({ socketPath, keepAlive: true, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
  const fresh = startLoad({ socketPath, keepAlive: false, clients: 8, slowEvery: 10, slowMs: 200, durationMs: 30_000 })
  t.after(async () => { await load.stop(); await fresh.stop() })
  const pids = [app.pid]
  for (let i = 0; i < 5; i++) {
    pids.push(await handover(app))
    await waitGone([pids.at(-2) as number])
    assert.ok(fs.existsSync(socketPath), 'the old generation did not unlink the path the new one serves')
    assert.equal((await get(undefined, '/', { socketPath })).pid, app.pid)
  }
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.gr-')), [], 'no temporary socket name is left')
  for (const r of [await load.stop(), await fresh.stop()]) assert.equal(r.failed, 0, JSON.stringify(r.errorSamples))
  process.kill(app.pid, 'SIGTERM')
  await waitGone([app.pid])
  assert.equal(fs.existsSync(socketPath), false, 'the last generation removes its socket')
  assert.equal(fs.existsSync(app.pidFile), false, 'and its PID file')
})

test('a stale socket file from a crashed process is replaced; a live one is not stolen', { timeout: 30_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  // A socket file nobody listens on, as a SIGKILLed server leaves behind.
  const stale = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`])
  assert.equal(stale.signal, 'SIGKILL')
  assert.ok(fs.existsSync(socketPath))
  const app = await startApp(track, dir, { SOCKET_PATH: socketPath })
  assert.equal((await get(undefined, '/', { socketPath })).pid, app.pid)

  const second = track.startNode(FIXTURE, { env: { SOCKET_PATH: socketPath, PID_FILE: path.join(dir, 'other.pid') } })
  const exit = await second.exited
  assert.notEqual(exit.code, 0)
  await second.waitForLine((l) => l.includes('ERR_GRACEFUL_ADDRESS_IN_USE')) // 'exit' may come before the pipes' last lines
  assert.equal((await get(undefined, '/', { socketPath })).pid, app.pid, 'the live server still owns its path')
})

test('several servers, one of them HTTPS, each keep their socket; listeners the new code dropped are closed', { timeout: 60_000 }, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
  const serversFile = path.join(dir, 'servers')
  fs.writeFileSync(serversFile, '3')
  const app = await startApp(track, dir, { SERVERS_FILE: serversFile, TLS_KEY: key, TLS_CERT: cert })
  const ports = await waitFor(() => {
    const list = events(app.started, 'listening').filter((e) => e.pid === app.pid)
    return list.length === 3 ? list.sort((a, b) => Number(a.index) - Number(b.index)).map((e) => (e.address as { port: number }).port) : undefined
  }, { timeoutMs: 5000, what: 'three listeners' })
  const [tlsPort, plainPort, droppedPort] = ports as [number, number, number]
  const tlsLoad = startLoad({ port: plainPort, keepAlive: true, clients: 8, durationMs: 30_000 })
  t.after(async () => { await tlsLoad.stop() })

  const first = app.pid
  await handover(app)
  assert.equal((await get(tlsPort, '/', { insecure: true })).pid, app.pid)
  assert.equal((await get(plainPort, '/')).pid, app.pid)

  // The next release serves two servers only: the third socket must stop accepting.
  fs.writeFileSync(serversFile, '2')
  await waitGone([first])
  const second = app.pid
  await handover(app)
  await waitGone([second])
  await assert.rejects(new Promise((resolve, reject) => {
    const socket = net.connect(droppedPort, '127.0.0.1', () => { socket.destroy(); resolve(undefined) })
    socket.on('error', reject)
  }), { code: 'ECONNREFUSED' })
  assert.equal((await get(tlsPort, '/', { insecure: true })).pid, app.pid)
  const report = await tlsLoad.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
})

test('systemd socket activation: the first generation takes the socket from systemd-socket-activate', { timeout: 60_000 }, async (t) => {
  const tool = spawnSync('sh', ['-c', 'command -v systemd-socket-activate']).stdout.toString().trim()
  if (tool === '') {
    if (process.env.CI !== undefined) assert.fail('systemd-socket-activate is missing (CI installs the systemd package)')
    t.skip('systemd-socket-activate not installed')
    return
  }
  const track = tracker(t)
  const dir = tempDir(t)
  const port = await freePort()
  const pidFile = path.join(dir, 'app.pid')
  // The tool binds the socket and, at the first connection, execs node in place with
  // LISTEN_FDS/LISTEN_PID set and only the variables given with -E.
  const vars = { PID_FILE: pidFile, PORT: String(port), HOST: '127.0.0.1', GR_TEST_MARKER: track.marker, PATH: process.env.PATH ?? '' }
  const activated = spawn(tool, ['-l', `127.0.0.1:${port}`, '--fdname=web', ...Object.entries(vars).map(([k, v]) => `-E${k}=${v}`), process.execPath, FIXTURE], {
    stdio: ['ignore', 'ignore', 'pipe']
  })
  t.after(() => { activated.kill('SIGKILL') })
  let stderr = ''
  activated.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  await waitFor(() => stderr.includes('Listening on'), { timeoutMs: 10_000, what: 'systemd-socket-activate listening' })
  // This first request makes the tool start the app; the app answers it on the same socket.
  const first = await get(port, '/')
  const pid = await waitFor(() => readPidFile(pidFile), { timeoutMs: 15_000, what: 'activated app ready' })
  assert.equal(first.pid, pid)
  assert.equal(pid, activated.pid, 'systemd-socket-activate execs the app in place')
  assert.equal((await get(port, '/')).pid, pid)
  const env = JSON.parse((await get(port, '/env')).body) as { env: string[] }
  assert.deepEqual(env.env, [], 'LISTEN_* are removed from the environment')

  const load = startLoad({ port, keepAlive: true, clients: 8, durationMs: 30_000 })
  t.after(async () => { await load.stop() })
  const next = await handover({ pid, pidFile })
  await waitGone([pid])
  assert.equal((await get(port, '/')).pid, next)
  const report = await load.stop()
  assert.equal(report.failed, 0, JSON.stringify(report.errorSamples))
  assert.deepEqual(processesWithMarker(track.marker), [next])
})

