import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { publicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned: an export added here is a promise kept until the next major,
// so adding one is a decision made in this file, not a side effect of a refactor.
// Left out on purpose: parseListenArgs, listenerKey (how listen() arguments map to
// inherited sockets is the core's business), nodePlatform and Platform (the OS seam for
// unit tests), ROUTABLE_SIGNALS and DEFAULT_* (the README documents the defaults; the
// option types name the signals), the Graceful class as a value (its constructor takes the
// OS seam; gracefulRestart() is the way in).
const ENTRIES = {
  '.': {
    file: '../../src/index',
    values: ['CHANNELS', 'GracefulError', 'HandoverError', 'gracefulRestart', 'healthHandler'],
    types: ['DrainCounts', 'Graceful', 'GracefulErrorCode', 'GracefulOptions', 'HandoverResult', 'HealthPaths', 'Logger', 'RoutableSignal', 'ShutdownResult', 'SignalAction', 'State']
  },
  // For framework adapters: the core decides, adapters translate.
  './adapter': {
    file: '../../src/adapter',
    values: ['currentGraceful', 'healthAnswer', 'resolveHealthPaths', 'serverFactory', 'withHealth'],
    types: ['HealthAnswer', 'ServerFactory', 'ServerFactoryOptions']
  }
}

test('package.json exports exactly the pinned entries', async () => {
  const manifest = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
  assert.deepEqual(Object.keys(manifest.exports).sort(), [...Object.keys(ENTRIES), './package.json'].sort())
})

for (const [entry, pinned] of Object.entries(ENTRIES)) {
  test(`@graceful-restart/core${entry.slice(1)}: its declarations and its module export exactly the pinned names`, async () => {
    const surface = await publicSurface(new URL(`${pinned.file}.d.ts`, import.meta.url))
    assert.deepEqual(surface, { values: pinned.values, types: pinned.types })
    const runtime = Object.keys(await import(new URL(`${pinned.file}.js`, import.meta.url).href)).sort()
    assert.deepEqual(runtime, pinned.values)
  })
}
