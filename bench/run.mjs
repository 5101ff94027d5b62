#!/usr/bin/env node
// The full comparison (root script `bench`): node bench/run.mjs [--quick] [options, see src/cli.ts]
// Supervisor reloads by --surge (root script `bench:surge`): node bench/run.mjs surge [options, see src/surge.ts]
// The core with and without handoffIdleConnections (root script `bench:handoff`): node bench/run.mjs handoff [options, see src/handoff.ts]
import fs from 'node:fs'

const commands = { surge: './dist/src/surge.js', handoff: './dist/src/handoff.js' }
const [first, ...rest] = process.argv.slice(2)
const command = Object.hasOwn(commands, first ?? '') ? first : undefined
const entry = new URL(command === undefined ? './dist/src/cli.js' : commands[command], import.meta.url)
if (!fs.existsSync(entry)) {
  process.stderr.write('bench is not built: run `pnpm build` (or `pnpm bench`, which builds first)\n')
  process.exit(2)
}
const { main } = await import(entry.href)
process.exitCode = await main(command === undefined ? process.argv.slice(2) : rest)
