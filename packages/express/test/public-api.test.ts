import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { publicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned: adding an export is a decision made here (see core's
// test/unit/public-api.test.ts for what the core keeps internal, and why).
const VALUES = ['default', 'gracefulExpress']
const TYPES = ['ExpressHandler', 'Graceful', 'GracefulExpress', 'GracefulExpressOptions', 'GracefulOptions', 'HandoverResult', 'ListenFunction', 'ShutdownResult', 'State']

test('@graceful-restart/express: one entry, whose declarations and module export exactly the pinned names', async () => {
  const manifest = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  assert.deepEqual(Object.keys(manifest.exports).sort(), ['.', './package.json'])
  assert.deepEqual(await publicSurface(new URL('../src/index.d.ts', import.meta.url)), { values: VALUES, types: TYPES })
  assert.deepEqual(Object.keys(await import(new URL('../src/index.js', import.meta.url).href)).sort(), VALUES)
})
