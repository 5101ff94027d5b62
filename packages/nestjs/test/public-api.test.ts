import { test } from 'node:test'
import { assertPublicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned (see core's test/unit/public-api.test.ts).
test('@graceful-restart/nestjs: one entry, exporting exactly the pinned names', async () => {
  await assertPublicSurface(new URL('../../', import.meta.url), {
    '.': { values: ['default', 'gracefulNest'], types: ['Graceful', 'GracefulOptions', 'HandoverResult', 'NestApplicationLike', 'ShutdownResult', 'State'] }
  })
})
