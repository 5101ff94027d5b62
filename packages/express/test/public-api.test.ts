import { test } from 'node:test'
import { assertPublicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned (see core's test/unit/public-api.test.ts).
test('@graceful-restart/express: one entry, exporting exactly the pinned names', async () => {
  await assertPublicSurface(new URL('../../', import.meta.url), {
    '.': { values: ['default', 'gracefulExpress'], types: ['ExpressHandler', 'Graceful', 'GracefulExpress', 'GracefulExpressOptions', 'GracefulOptions', 'HandoverResult', 'ListenFunction', 'ShutdownResult', 'State'] }
  })
})
