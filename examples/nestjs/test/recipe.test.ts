// The recipe contract (packages/adapter-contract/src/recipe.ts) against this example, on
// both platforms, unmodified: enableShutdownHooks() is on, and a release that fails at
// boot still leaves the old generation serving.
import { fileURLToPath } from 'node:url'
import { runRecipeContract } from '@graceful-restart/adapter-contract'
import { rounds } from '@graceful-restart/test-utils'

// Compiled to dist/test/; the app to dist/src/.
const dist = new URL('../src/', import.meta.url)
const hooks = ['onModuleDestroy', 'beforeApplicationShutdown', 'onApplicationShutdown']

runRecipeContract('NestJS on Express', { server: fileURLToPath(new URL('main.js', dist)), hooks })
// The same recipe on the other platform: a few handovers show the wiring (the Fastify
// plugin, then Nest's close); the 20 above show the load. Nest boots slowly, CI time is scarce.
runRecipeContract('NestJS on Fastify', { server: fileURLToPath(new URL('main-fastify.js', dist)), hooks, handovers: rounds(5) })
