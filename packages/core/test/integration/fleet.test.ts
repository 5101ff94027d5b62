import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { freePort, readPidFile, startLoad, tracker, waitFor, waitForAnswerFrom, type Tracker } from '@graceful-restart/test-utils'
import { FIXTURE, tempDir, waitGone } from './app.ts'

// The app behind the balancer: the Fastify example when the workspace has it, which is what
// users deploy; the plain node:http fixture otherwise.
const EXAMPLE = path.resolve(path.dirname(FIXTURE), '../../../../../examples/fastify/server.js')
const APP = process.env.FLEET_APP ?? (fs.existsSync(EXAMPLE) ? EXAMPLE : FIXTURE)

interface Instance { port: number, pidFile: string, pid: number }

async function startInstance (track: Tracker, dir: string, port: number, version: string, shutdownDelay: number): Promise<Instance> {
  const pidFile = path.join(dir, `app-${port}.pid`)
  fs.rmSync(pidFile, { force: true })
  track.startNode(APP, {
    env: { PORT: String(port), HOST: '127.0.0.1', PID_FILE: pidFile, APP_VERSION: version, HEALTH: '1', SHUTDOWN_DELAY_MS: String(shutdownDelay) }
  })
  const pid = await waitFor(() => readPidFile(pidFile), { timeoutMs: 15_000, what: `instance on ${port} ready` })
  return { port, pidFile, pid }
}

function haproxyConfig (front: number, ports: number[]): string {
  // An ordinary production setup: health checks on /readyz every 200 ms, down after two
  // failures, connection retries to the same server (no redispatch), keep-alive to servers.
  // Slots without an instance are simply down until one starts there.
  return `global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option http-keep-alive
frontend web
  bind 127.0.0.1:${front}
  default_backend app
backend app
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200ms fall 2 rise 1
${ports.map((p, i) => `  server s${i} 127.0.0.1:${p} check`).join('\n')}
`
}

/** Closes a slot's placeholder, its check connections included, so that the instance can bind the port. */
async function freeSlot (placeholder: http.Server | undefined): Promise<void> {
  if (placeholder === undefined || !placeholder.listening) return
  const closed = once(placeholder, 'close')
  placeholder.close()
  placeholder.closeAllConnections()
  await closed
}

async function rollingDeploy (t: { after: (fn: () => unknown) => unknown, diagnostic: (msg: string) => void }, shutdownDelay: number) {
  const track = tracker(t)
  const dir = tempDir(t)
  // Six slots: v1 runs on the first three; each v2 instance gets a slot of its own, as a
  // replaced pod gets a new address (a restart on the same port would let the balancer's
  // retries hide the failures).
  const ports: number[] = []
  for (let i = 0; i < 3; i++) ports.push(await freePort())
  // The empty slots are held until their instance starts, answering 503 to the checks: a
  // free port could be taken meanwhile by another process on the machine (another suite
  // running beside this one) that HAProxy would find healthy.
  const placeholders: http.Server[] = []
  for (let i = 0; i < 3; i++) {
    const placeholder = http.createServer((_req, res) => { res.writeHead(503, { connection: 'close' }).end() })
    placeholder.listen(0, '127.0.0.1')
    await once(placeholder, 'listening')
    t.after(() => { placeholder.close() })
    placeholders.push(placeholder)
    ports.push((placeholder.address() as AddressInfo).port)
  }
  const instances = []
  for (const port of ports.slice(0, 3)) instances.push(await startInstance(track, dir, port, 'v1', shutdownDelay))
  const front = await freePort()
  const cfg = path.join(dir, 'haproxy.cfg')
  fs.writeFileSync(cfg, haproxyConfig(front, ports))
  const haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.after(() => { haproxy.kill('SIGKILL') })
  // HAProxy reports each server's state change on stderr ("Server app/s3 is DOWN, ..."):
  // the test waits for the balancer's view instead of guessing how long its checks take.
  let log = ''
  haproxy.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
  const state = async (slot: number, up: 'UP' | 'DOWN'): Promise<void> => {
    try {
      await waitFor(() => log.includes(`Server app/s${slot} is ${up}`), { timeoutMs: 15_000, what: `HAProxy to mark s${slot} ${up}` })
    } catch (err) {
      throw new Error(`${(err as Error).message}; HAProxy said:\n${log}`)
    }
  }
  await waitFor(async () => {
    try { return (await fetch(`http://127.0.0.1:${front}/`, { headers: { connection: 'close' } })).status === 200 } catch { return false }
  }, { timeoutMs: 10_000, what: 'haproxy serving' })
  // Servers start in service: the empty slots must be marked down before traffic is counted.
  for (const slot of [3, 4, 5]) await state(slot, 'DOWN')

  const keepAlive = startLoad({ port: front, keepAlive: true, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 130_000 })
  const fresh = startLoad({ port: front, keepAlive: false, clients: 16, slowEvery: 25, slowMs: 300, durationMs: 130_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  await waitForAnswerFrom([keepAlive, fresh], instances.map((i) => i.pid))
  const started = Date.now()
  for (const [i, old] of instances.entries()) {
    process.kill(old.pid, 'SIGTERM')
    await waitGone([old.pid])
    await freeSlot(placeholders[i])
    instances[i] = await startInstance(track, dir, ports[3 + i] as number, 'v2', shutdownDelay)
    // In service once the balancer's next check passed (rise 1).
    await state(3 + i, 'UP')
  }
  const deployMs = Date.now() - started
  for (const instance of instances) await waitForAnswerFrom([keepAlive, fresh], instance.pid, { what: `v2 on port ${instance.port}` })
  const reports = [await keepAlive.stop(), await fresh.stop()]
  return { reports, deployMs }
}

test('fleet: a rolling deploy behind HAProxy (SIGTERM, shutdownDelay, drain, start the new version) fails no request', { timeout: 120_000 }, async (t) => {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).stdout.toString().trim() === '') {
    if (process.env.CI !== undefined) assert.fail('haproxy is missing (CI installs it)')
    t.skip('haproxy not installed')
    return
  }
  const { reports, deployMs } = await rollingDeploy(t, 1000)
  for (const [name, r] of [['keep-alive', reports[0]], ['new connection', reports[1]]] as const) {
    assert.ok(r !== undefined)
    t.diagnostic(`with the fleet sequence (${path.basename(APP)}), ${name}: ${r.requests} requests, ${r.failed} failed ${JSON.stringify(r.failures)}; deploy of 3 instances took ${deployMs} ms`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
    assert.ok(r.slow.every((s) => s.status === 200))
  }
})

test('fleet contrast: the same deploy without shutdownDelay loses requests at the balancer', { timeout: 120_000 }, async (t) => {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).stdout.toString().trim() === '') {
    if (process.env.CI !== undefined) assert.fail('haproxy is missing (CI installs it)')
    t.skip('haproxy not installed')
    return
  }
  const { reports, deployMs } = await rollingDeploy(t, 0)
  const failed = reports.reduce((n, r) => n + r.failed, 0)
  for (const [name, r] of [['keep-alive', reports[0]], ['new connection', reports[1]]] as const) {
    t.diagnostic(`without the fleet sequence, ${name}: ${r?.requests} requests, ${r?.failed} failed ${JSON.stringify(r?.failures)}; deploy took ${deployMs} ms`)
  }
  // A server that stops accepting at once is still sent traffic until the balancer's checks
  // notice: that is the failure the fleet sequence exists to prevent.
  assert.ok(failed > 0, 'expected failures without shutdownDelay')
})
