#!/usr/bin/env node
// README command 1 (`pnpm demo`, after install and build): starts the Fastify example,
// hands it over a few times under load with a live progress line, and ends with one summary
// line. Exits 0 only if every handover completed and no request failed; kills everything it
// started. Options: --restarts=N (default 5), --app=PATH (another app that hands over on SIGUSR2).
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'

const root = path.resolve(import.meta.dirname, '..')
const demoModule = path.join(root, 'bench', 'dist', 'src', 'demo.js')
if (!fs.existsSync(demoModule)) {
  console.error('The bench package is not built: run `pnpm build` first (`pnpm demo` does).')
  process.exit(2)
}

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([a-z-]+)=(.*)$/.exec(a)
  if (m === null) {
    console.error(`unknown argument ${a}; usage: node scripts/demo.mjs [--restarts=N] [--app=PATH]`)
    process.exit(2)
  }
  return [m[1], m[2]]
}))
const restarts = args.restarts === undefined ? 5 : Number(args.restarts)
if (!Number.isInteger(restarts) || restarts < 1 || restarts > 50) {
  console.error(`--restarts wants 1 to 50, got ${args.restarts}`)
  process.exit(2)
}

// The Fastify example; until it exists, the core on a plain node:http app (same behaviour).
const candidates = [
  [path.join(root, 'examples', 'fastify', 'server.js'), 'examples/fastify/server.js (Fastify 5 with @graceful-restart/fastify)'],
  [path.join(root, 'examples', 'fastify', 'server.mjs'), 'examples/fastify/server.js (Fastify 5 with @graceful-restart/fastify)'],
  [path.join(root, 'bench', 'contenders', 'graceful-core.mjs'), 'a plain node:http app with @graceful-restart/core']
]
let script
let label
if (args.app !== undefined) {
  script = path.resolve(args.app)
  label = path.relative(root, script)
} else {
  [script, label] = candidates.find(([file]) => fs.existsSync(file))
  if (!script.includes(`${path.sep}examples${path.sep}`)) console.log('(examples/fastify is not there yet: using the core\'s plain node:http app)')
}

const { runDemo } = await import(demoModule)
const started = performance.now()
const result = await runDemo({ script, label, restarts })
console.log(`\n${result.summary}`)
console.log(`(${Math.round((performance.now() - started) / 100) / 10} s; handover = from kill -USR2 to the first answer from the new generation. The full comparison with the alternatives: pnpm bench)`)
process.exitCode = result.ok ? 0 : 1
