#!/usr/bin/env node
// Every entry of every published package loads with import and with require() (Node >= 20.19 loads ESM
// through require), and loading it installs no signal handler.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const root = path.resolve(import.meta.dirname, '..')
const signals = ['SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP']
const before = signals.map((s) => process.listenerCount(s))
let failed = 0
for (const dir of fs.readdirSync(path.join(root, 'packages'))) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'packages', dir, 'package.json'), 'utf8'))
  if (manifest.private) continue
  // A package resolves its own name through its "exports" map, as an installed one would.
  const require = createRequire(path.join(root, 'packages', dir, 'package.json'))
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (subpath === './package.json') continue
    const specifier = manifest.name + subpath.slice(1)
    try {
      for (const file of [target.types, target.default]) {
        if (!fs.existsSync(path.join(root, 'packages', dir, file))) throw new Error(`${file} is missing (build first)`)
      }
      const viaImport = await import(pathToFileURL(path.join(root, 'packages', dir, target.default)).href)
      const viaRequire = require(specifier)
      // require() of an ES module with a default export adds __esModule, as CommonJS interop expects.
      const names = Object.keys(viaImport).sort().join(',')
      const required = Object.keys(viaRequire).filter((k) => k !== '__esModule').sort().join(',')
      if (names !== required) throw new Error(`import and require() disagree: ${names} / ${required}`)
      console.log(`ok ${specifier}: ${names}`)
    } catch (err) {
      failed++
      console.error(`FAILED ${specifier}: ${err.stack}`)
    }
  }
}
const after = signals.map((s) => process.listenerCount(s))
if (after.some((n, i) => n !== before[i])) {
  failed++
  console.error('FAILED: importing the packages installed signal handlers')
}
process.exit(failed === 0 ? 0 : 1)
