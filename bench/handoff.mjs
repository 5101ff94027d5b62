#!/usr/bin/env node
// The core with and without handoffIdleConnections, side by side (root script `bench:handoff`):
// node bench/handoff.mjs [--restarts=N] [--clients=N] [--name=NAME], see src/handoff.ts
import fs from 'node:fs'

const entry = new URL('./dist/src/handoff.js', import.meta.url)
if (!fs.existsSync(entry)) {
  process.stderr.write('bench is not built: run `pnpm build` (or `pnpm bench:handoff`, which builds first)\n')
  process.exit(2)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
