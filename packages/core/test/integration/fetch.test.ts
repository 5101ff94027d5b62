// `graceful-restart run --fetch` with real processes and a real release server on
// 127.0.0.1: releases published one after another under load are taken over, one that
// throws at boot is rolled back (current back at the previous one), --keep prunes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { startLoad, tracker, waitFor } from '@graceful-restart/test-utils'
import { FIXTURE, events, tempDir, versionOf } from './app.ts'
import { releaseServer, tarball } from '../release-server.ts'
import { cli, supervise } from './supervised.ts'

const PRINT_CHANNELS = fileURLToPath(new URL('../fixtures/print-channels.js', import.meta.url))

/** A release as npm pack would make it: its entry reports its version, v3-style ones throw at boot. */
function app (version: string, boot: 'ok' | 'throw' = 'ok'): Promise<Buffer> {
  return tarball({
    'package.json': JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }),
    'server.mjs': boot === 'throw'
      ? `throw new Error('${version} cannot boot')\n`
      : `process.env.APP_VERSION = ${JSON.stringify(version)}\nawait import(${JSON.stringify(FIXTURE)})\n`
  })
}

test('--fetch: v1 -> v2 -> v3 (throws at boot) -> v4 under load; v3 rolled back; --keep 3 prunes', { timeout: 120_000 }, async (t) => {
  const track = tracker(t)
  const root = tempDir(t)
  const releases = path.join(root, 'releases')
  const server = await releaseServer(t)
  server.publish('v1', await app('v1'))
  const { port, pidFile, started: sup, status } = await supervise(t, track, {
    dir: root,
    execArgv: ['--import', PRINT_CHANNELS],
    args: ['--workers', '2', '--upgrade-timeout', '10000', '--fetch', server.url, '--releases', releases, '--interval', '100ms', '--keep', '3'],
    command: [process.execPath, 'server.mjs'],
    cwd: root
  })
  const current = (): string => fs.readlinkSync(path.join(releases, 'current'))
  assert.equal(await versionOf(port), 'v1')
  assert.equal(current(), 'v1')

  const keepAlive = startLoad({ port, keepAlive: true, clients: 8, slowEvery: 20, slowMs: 200, durationMs: 90_000 })
  const fresh = startLoad({ port, keepAlive: false, clients: 4, slowEvery: 20, slowMs: 200, durationMs: 90_000 })
  t.after(async () => { await keepAlive.stop(); await fresh.stop() })
  const took: Record<string, number> = {}
  const publish = async (version: string): Promise<void> => {
    server.publish(version, await app(version))
    const t0 = performance.now()
    await waitFor(async () => (await versionOf(port)) === version, { timeoutMs: 30_000, intervalMs: 10, what: `${version} to answer` })
    took[version] = Math.round(performance.now() - t0)
  }

  await publish('v2')
  server.publish('v3', await app('v3', 'throw'))
  await waitFor(() => status()?.release?.fetch?.refused?.version === 'v3', { timeoutMs: 30_000, what: 'v3 refused' })
  const refused = status()?.release?.fetch?.refused
  assert.equal(refused?.reason, 'not-ready')
  assert.match(refused?.message ?? '', /exited before it was ready/)
  assert.equal(current(), 'v2', 'current points at v2 again')
  assert.equal(await versionOf(port), 'v2')
  assert.equal(fs.existsSync(path.join(releases, 'v3')), false)
  // Not tried again while the manifest still names v3.
  const checks = server.hits.notModified
  await waitFor(() => server.hits.notModified >= checks + 3, { timeoutMs: 10_000, what: 'three more checks' })
  assert.equal(events(sup, 'release:switch').filter((e) => e.version === 'v3').length, 1)
  assert.equal(current(), 'v2')

  await publish('v4')
  const reports = [await keepAlive.stop(), await fresh.stop()]
  await publish('v5')
  await waitFor(() => events(sup, 'release:prune').length > 0, { timeoutMs: 10_000, what: 'a prune' })
  assert.deepEqual(fs.readdirSync(releases).sort(), ['current', 'v2', 'v4', 'v5'])
  assert.equal(current(), 'v5')

  // A tarball that does not match its sha256 is refused; nothing is added to DIR.
  server.publish('v6', await app('v6'), { sha256: 'f'.repeat(64) })
  await waitFor(() => status()?.release?.fetch?.refused?.version === 'v6', { timeoutMs: 10_000, what: 'v6 refused' })
  assert.equal(status()?.release?.fetch?.refused?.reason, 'checksum')
  assert.deepEqual(fs.readdirSync(releases).sort(), ['current', 'v2', 'v4', 'v5'])
  assert.deepEqual(fs.readdirSync(root).sort(), ['releases', 'sup.pid', 'sup.pid.json'], 'nothing written outside DIR')

  await waitFor(() => status()?.release?.fetch?.lastCheck?.result === 'unchanged', { timeoutMs: 10_000, what: 'a check after the refusal' })
  const text = (await cli(['status', '--pid-file', pidFile])).stdout
  assert.match(text, /release {5}v5/)
  assert.match(text, /fetched {5}v6/)
  assert.match(text, /refused {5}v6 \(checksum\)/)
  assert.match(text, /last check {2}\d+s ago: unchanged/)

  for (const name of ['release:check', 'release:download', 'release:unpack', 'release:switch', 'release:live', 'release:refused', 'release:prune']) {
    assert.ok(events(sup, name).length > 0, `a ${name} event`)
  }
  for (const r of reports) {
    t.diagnostic(`${r.requests} requests, ${r.failed} failed`)
    assert.equal(r.failed, 0, JSON.stringify(r.errorSamples.slice(0, 5)))
  }
  const live = events(sup, 'release:live').map((e) => `${String(e.version)} ${String(e.durationMs)} ms`)
  t.diagnostic(`publish to first answer from the new version: ${Object.entries(took).map(([v, ms]) => `${v} ${ms} ms`).join(', ')}; check to live: ${live.join(', ')}`)
})
