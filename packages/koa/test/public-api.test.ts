import { test } from 'node:test'
import { assertPublicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned (see core's test/unit/public-api.test.ts).
test('@graceful-restart/koa: one entry, exporting exactly the pinned names', async () => {
  await assertPublicSurface(new URL('../../', import.meta.url), {
    '.': { values: ['default', 'gracefulKoa'], types: ['Graceful', 'GracefulKoa', 'GracefulKoaOptions', 'GracefulOptions', 'HandoverResult', 'KoaLike', 'ListenFunction', 'ShutdownResult', 'State'] }
  })
})
