// The shared adapter contract (packages/adapter-contract) against this package's fixture.
import { fileURLToPath } from 'node:url'
import { runAdapterContract } from '@graceful-restart/adapter-contract'

// Compiled to dist/test/; the fixture is plain JS and stays in test/fixtures/.
const root = new URL('../../', import.meta.url)

runAdapterContract('Koa', {
  fixture: fileURLToPath(new URL('test/fixtures/app.mjs', root))
})
