#!/usr/bin/env node
// Supervisor reloads by --surge: peak memory of the process tree and reload time side by
// side (root script `bench:surge`): node bench/surge.mjs [options, see src/surge.ts]
import fs from 'node:fs'

const entry = new URL('./dist/src/surge.js', import.meta.url)
if (!fs.existsSync(entry)) {
  process.stderr.write('bench is not built: run `pnpm build` (or `pnpm bench:surge`, which builds first)\n')
  process.exit(2)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
