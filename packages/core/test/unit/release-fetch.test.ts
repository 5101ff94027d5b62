// ReleaseFetcher in process against a real HTTP server on 127.0.0.1 and a real releases
// directory: what it installs, what it refuses, and that a refusal writes nothing outside
// (nor leaves anything inside) the directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ReleaseFetcher, type FetchOptions } from '../../src/release/fetch.ts'
import type { ReleaseHost } from '../../src/release/source.ts'
import { releaseServer, tarball } from '../release-server.ts'

function tmp (t: { after: (fn: () => unknown) => unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-fetch-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function host (fail = false): ReleaseHost & { reloads: string[], logs: string[] } {
  const h = {
    reloads: [] as string[],
    logs: [] as string[],
    reload: async (trigger: string) => {
      h.reloads.push(trigger)
      if (fail) throw new Error('worker 0 of generation 2 exited before it was ready (code 1)')
    },
    changed: () => {},
    log: (msg: string) => { h.logs.push(msg) }
  }
  return h
}

async function setup (t: { after: (fn: () => unknown) => unknown }, opts: Partial<FetchOptions> = {}) {
  const root = tmp(t)
  const dir = path.join(root, 'releases')
  const server = await releaseServer(t)
  const fetcher = new ReleaseFetcher({ url: server.url, releases: dir, intervalMs: 1000, keep: 3, prepare: undefined, publicKey: undefined, env: process.env, ...opts })
  const listing = (): string[] => fs.readdirSync(dir).sort()
  return { root, dir, server, fetcher, listing }
}

const APP = { 'server.mjs': 'console.log(1)\n', 'package.json': '{"name":"app"}\n' }

test('installs a release (package/ stripped), points current at it, reloads once; an unchanged manifest is a 304', { timeout: 10_000 }, async (t) => {
  const { dir, server, fetcher, listing } = await setup(t)
  server.publish('v1', await tarball(APP))
  const h = host()
  await fetcher.check(h, true)
  assert.deepEqual(h.reloads, ['--fetch v1'])
  assert.equal(fs.readlinkSync(path.join(dir, 'current')), 'v1')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'v1')).sort(), ['package.json', 'server.mjs'])
  assert.deepEqual(listing(), ['current', 'v1'])
  assert.equal(fetcher.status().running, 'v1')
  assert.equal(fetcher.status().fetch?.lastFetched?.version, 'v1')
  await fetcher.check(h, true)
  assert.equal(server.hits.notModified, 1)
  assert.equal(fetcher.status().fetch?.lastCheck?.result, 'unchanged')
  assert.equal(h.reloads.length, 1)
})

test('refuses a sha256 mismatch, ../ and absolute entries, and links out of the release; nothing is written outside DIR', { timeout: 10_000 }, async (t) => {
  const { root, dir, server, fetcher, listing } = await setup(t)
  server.publish('v1', await tarball(APP))
  await fetcher.check(host(), true)
  const before = listing()
  const outside = path.join(root, 'evil')
  const absolute = path.join(root, `absolute-${process.pid}`)
  const cases: Array<[string, Buffer, 'checksum' | 'unpack', RegExp, string?]> = [
    ['v2', await tarball(APP), 'checksum', /sha256 mismatch/, '0'.repeat(64)],
    ['v3', await tarball(APP, { raw: { '../evil': 'pwned' } }), 'unpack', /path with "\.\."/],
    ['v4', await tarball(APP, { raw: { 'package/../../evil': 'pwned' } }), 'unpack', /path with "\.\."/],
    ['v5', await tarball(APP, { raw: { [absolute]: 'pwned' } }), 'unpack', /absolute path/],
    ['v6', await tarball(APP, { links: { 'etc': '../../../../etc' } }), 'unpack', /link that leads out/],
    ['v7', await tarball(APP, { links: { 'pw': '/etc/passwd' } }), 'unpack', /link to an absolute path/],
    // Lexically inside, out on disk: a/c -> b/.. where b -> .. is the release's parent.
    ['v8', await tarball(APP, { links: { 'a/b': '..', 'a/c': 'b/..' } }), 'unpack', /link that leads out/]
  ]
  for (const [version, tgz, reason, message, sha256] of cases) {
    server.publish(version, tgz, sha256 === undefined ? {} : { sha256 })
    const h = host()
    await fetcher.check(h, true)
    const refused = fetcher.status().fetch?.refused
    assert.equal(refused?.version, version)
    assert.equal(refused?.reason, reason, refused?.message)
    assert.match(refused?.message ?? '', message)
    assert.deepEqual(h.reloads, [], `${version}: no reload`)
    assert.deepEqual(listing(), before, `${version}: nothing left in DIR`)
    assert.equal(fs.readlinkSync(path.join(dir, 'current')), 'v1')
    // Not tried again while the manifest names it.
    await fetcher.check(h, true)
    assert.deepEqual(h.reloads, [])
  }
  assert.equal(fs.existsSync(outside), false)
  assert.equal(fs.existsSync(absolute), false)
  assert.deepEqual(fs.readdirSync(root), ['releases'])
})

test('a release whose workers fail: current goes back to the previous one and the release is removed', { timeout: 10_000 }, async (t) => {
  const { dir, server, fetcher, listing } = await setup(t)
  server.publish('v1', await tarball(APP))
  await fetcher.check(host(), true)
  server.publish('v2', await tarball(APP))
  const h = host(true)
  await fetcher.check(h, true)
  assert.deepEqual(h.reloads, ['--fetch v2'])
  assert.equal(fs.readlinkSync(path.join(dir, 'current')), 'v1')
  assert.deepEqual(listing(), ['current', 'v1'])
  const refused = fetcher.status().fetch?.refused
  assert.equal(refused?.reason, 'not-ready')
  assert.match(refused?.message ?? '', /exited before it was ready.*current -> v1 again/)
})

test('--public-key: a valid signature is taken, a bad or missing one refused', { timeout: 10_000 }, async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const other = generateKeyPairSync('ed25519').privateKey
  const { server, fetcher } = await setup(t, { publicKey })
  server.publish('v1', await tarball(APP), { key: privateKey })
  await fetcher.check(host(), true)
  assert.equal(fetcher.status().running, 'v1')
  server.publish('v2', await tarball(APP), { key: other })
  await fetcher.check(host(), true)
  assert.equal(fetcher.status().fetch?.refused?.reason, 'signature')
  server.publish('v3', await tarball(APP))
  await fetcher.check(host(), true)
  assert.deepEqual([fetcher.status().fetch?.refused?.version, fetcher.status().fetch?.refused?.reason], ['v3', 'signature'])
  assert.equal(fetcher.status().running, 'v1')
})

test('--prepare runs in the new release; a failing one refuses it. A download over the size limit is tried again', { timeout: 10_000 }, async (t) => {
  const { dir, server, fetcher } = await setup(t, { prepare: 'test -f server.mjs && echo prepared > PREPARED && [ "$(cat VERSION 2>/dev/null)" != bad ]', maxBytes: 4096 })
  server.publish('v1', await tarball(APP))
  const h = host()
  await fetcher.check(h, true)
  assert.equal(fs.readFileSync(path.join(dir, 'v1', 'PREPARED'), 'utf8'), 'prepared\n')
  server.publish('v2', await tarball({ ...APP, VERSION: 'bad' }))
  await fetcher.check(h, true)
  assert.equal(fetcher.status().fetch?.refused?.reason, 'prepare')
  assert.equal(fs.existsSync(path.join(dir, 'v2')), false)

  server.publish('v3', await tarball({ ...APP, 'big.bin': randomBytes(32 * 1024).toString('hex') }))
  const full = server.hits.full
  await fetcher.check(h, true)
  assert.match(fetcher.status().fetch?.lastCheck?.error ?? '', /limit of 4096 bytes/)
  await fetcher.check(h, true)
  assert.equal(server.hits.full, full + 2, 'a failed download keeps no ETag: the manifest is read again')
  assert.equal(fetcher.status().running, 'v1')
})
