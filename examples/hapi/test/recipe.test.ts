// The recipe contract (packages/adapter-contract/src/recipe.ts) against this example, unmodified.
import { fileURLToPath } from 'node:url'
import { runRecipeContract } from '@graceful-restart/adapter-contract'

// Compiled to dist/test/; the example is server.js at the root.
const root = new URL('../../', import.meta.url)

runRecipeContract('hapi', {
  server: fileURLToPath(new URL('server.js', root)),
  hooks: ['onPreStop', 'onPostStop']
})
