// The self-upgrade flags of `run`: what goes together, and the manifest's shape.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GracefulError } from '../../src/errors.ts'
import { parseInterval, releaseSources, type ReleaseFlags } from '../../src/release/cli.ts'
import { parseManifest } from '../../src/release/manifest.ts'

const none: ReleaseFlags = { watch: [], watchDebounce: undefined, fetch: undefined, releases: undefined, interval: undefined, keep: undefined, prepare: undefined, publicKey: undefined, env: {}, cwd: '/srv' }
const invalid = (msg: string): GracefulError => new GracefulError('ERR_GRACEFUL_INVALID_OPTION', msg)

test('flags that need --fetch or --watch, and --watch with --fetch, are refused', () => {
  const cases: Array<[Partial<ReleaseFlags>, RegExp]> = [
    [{ keep: 2 }, /--keep needs --fetch/],
    [{ releases: '/x' }, /--releases needs --fetch/],
    [{ publicKey: '/k.pem' }, /--public-key needs --fetch/],
    [{ watchDebounce: 10 }, /--watch-debounce needs --watch/],
    [{ watch: ['.'], fetch: 'http://127.0.0.1/m.json', releases: '/x' }, /do not go together/],
    [{ fetch: 'http://127.0.0.1/m.json' }, /--fetch needs --releases/],
    [{ fetch: 'file:///etc/m.json', releases: '/x' }, /http\(s\) URL/],
    [{ fetch: 'http://127.0.0.1/m.json', releases: '/x', interval: 'soon' }, /--interval must be a time/]
  ]
  for (const [flags, message] of cases) {
    assert.throws(() => releaseSources({ ...none, ...flags }, invalid), (err: unknown) => err instanceof GracefulError && err.code === 'ERR_GRACEFUL_INVALID_OPTION' && message.test(err.message))
  }
  assert.deepEqual(releaseSources(none, invalid).sources, [])
  const watching = releaseSources({ ...none, watch: ['current', '/etc/app/BUILD'] }, invalid)
  assert.deepEqual(watching.sources[0]?.status(), { watch: { paths: ['/srv/current', '/etc/app/BUILD'], lastChange: undefined } })
})

test('intervals: 30s, 500ms, 5m, 1h; a bare number is seconds', () => {
  assert.equal(parseInterval('30s'), 30_000)
  assert.equal(parseInterval('500ms'), 500)
  assert.equal(parseInterval('5m'), 300_000)
  assert.equal(parseInterval('1h'), 3_600_000)
  assert.equal(parseInterval('2'), 2000)
  for (const bad of ['', '0', '-1s', '1d', '1 s', '0.1ms']) assert.equal(parseInterval(bad), undefined, bad)
})

test('the manifest: url relative to the manifest, a plain version name, 64 hex digits', () => {
  const sha256 = 'A'.repeat(64)
  assert.deepEqual(parseManifest(JSON.stringify({ version: 'v8', url: 'files/app-v8.tgz', sha256 }), 'https://example.test/app/manifest.json'),
    { version: 'v8', url: 'https://example.test/app/files/app-v8.tgz', sha256: 'a'.repeat(64), signature: undefined })
  for (const bad of [
    'not json', '[]', JSON.stringify({ version: '../v8', url: 'a.tgz', sha256 }), JSON.stringify({ version: 'current', url: 'a.tgz', sha256 }),
    JSON.stringify({ version: '.hidden', url: 'a.tgz', sha256 }), JSON.stringify({ version: 'v8', url: 'file:///etc/passwd', sha256 }),
    JSON.stringify({ version: 'v8', url: 'a.tgz', sha256: 'abc' }), JSON.stringify({ version: 'v8', url: 'a.tgz', sha256, signature: 'not base64!' })
  ]) {
    assert.throws(() => parseManifest(bad, 'https://example.test/m.json'), { code: 'ERR_GRACEFUL_RELEASE_MANIFEST' }, bad)
  }
})
