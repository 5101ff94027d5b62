#!/usr/bin/env node
// The full comparison (root script `bench`): node bench/run.mjs [--quick] [options, see src/cli.ts]
// Supervisor reloads by --surge (root script `bench:surge`): node bench/run.mjs surge [options, see src/surge.ts]
import fs from 'node:fs'

const [first, ...rest] = process.argv.slice(2)
const surge = first === 'surge'
const entry = new URL(surge ? './dist/src/surge.js' : './dist/src/cli.js', import.meta.url)
if (!fs.existsSync(entry)) {
  process.stderr.write('bench is not built: run `pnpm build` (or `pnpm bench`, which builds first)\n')
  process.exit(2)
}
const { main } = await import(entry.href)
process.exitCode = await main(surge ? rest : process.argv.slice(2))
