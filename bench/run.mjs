#!/usr/bin/env node
// The full comparison (root script `bench`): node bench/run.mjs [--quick] [options, see src/cli.ts]
import fs from 'node:fs'

const entry = new URL('./dist/src/cli.js', import.meta.url)
if (!fs.existsSync(entry)) {
  process.stderr.write('bench is not built: run `pnpm build` (or `pnpm bench`, which builds first)\n')
  process.exit(2)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
