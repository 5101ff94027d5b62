/**
 * @graceful-restart/adapter-contract: the one behaviour suite every framework adapter
 * passes. An adapter's `test/contract.test.ts` calls `runAdapterContract()` with its
 * fixture; fixtures use `@graceful-restart/adapter-contract/fixture` for the shared parts.
 */
export { runAdapterContract } from './contract.ts'
export type { AdapterContractOptions } from './contract.ts'
export { RunningApp } from './app.ts'
export type { AppEvent, StartOptions } from './app.ts'
// The tests' one GET lives in test-utils; adapter tests have long imported it from here.
export { closeServer, get } from '@graceful-restart/test-utils'
export type { Answer, GetOptions } from '@graceful-restart/test-utils'
export { selfSignedCert } from './tls.ts'
export { OBSERVE, runRecipeContract, shutdownHooks, startRecipe } from './recipe.ts'
export type { RecipeContractOptions } from './recipe.ts'
