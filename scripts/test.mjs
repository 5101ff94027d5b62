#!/usr/bin/env node
// Runs every compiled test file of the workspace in one node:test run, so CI reads one
// summary (`# tests N`, `# pass N`, `# fail N`). Files are listed explicitly: given a
// directory, node --test would also run fixtures and helpers found under test/.
// Usage: node scripts/test.mjs [substring ...]   (only files whose path contains one)
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..')
const filters = process.argv.slice(2)

function walk (dir, out) {
  if (!fs.existsSync(dir)) return out
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (entry.name.endsWith('.test.js')) out.push(full)
  }
  return out
}

const files = []
for (const group of ['packages', 'examples']) {
  const base = path.join(root, group)
  if (!fs.existsSync(base)) continue
  for (const pkg of fs.readdirSync(base).sort()) walk(path.join(base, pkg, 'dist', 'test'), files)
}
walk(path.join(root, 'bench', 'dist', 'test'), files)
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
if (selected.length === 0) {
  console.error('no test files found: run the build first (pnpm build)')
  process.exit(1)
}
// One file at a time: the restart tests put real load on a 2-core machine, and a test
// that starves another of CPU proves nothing about either.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...selected.map((f) => path.relative(root, f))], {
  cwd: root, stdio: 'inherit'
})
process.exit(result.status ?? 1)
