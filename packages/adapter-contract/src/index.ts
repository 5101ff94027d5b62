/**
 * @graceful-restart/adapter-contract: the one behaviour suite every framework adapter
 * passes. An adapter's `test/contract.test.ts` calls `runAdapterContract()` with its
 * fixture; fixtures use `@graceful-restart/adapter-contract/fixture` for the shared parts.
 */
export { runAdapterContract } from './contract.ts'
export type { AdapterContractOptions } from './contract.ts'
export { RunningApp } from './app.ts'
export type { AppEvent, StartOptions } from './app.ts'
export { closeServer, get } from './http.ts'
export type { Answer, GetOptions } from './http.ts'
export { selfSignedCert } from './tls.ts'
export { OBSERVE, runRecipeContract, shutdownHooks, startRecipe } from './recipe.ts'
export type { RecipeContractOptions } from './recipe.ts'
