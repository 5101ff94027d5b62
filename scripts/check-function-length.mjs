#!/usr/bin/env node
// Fails when a function in a published package's source runs past 60 lines (issue 13): past
// that, a function holds more than one decision and its state hides in closure variables,
// as Graceful.handover() once did. Tests are exempt (a scenario reads top to bottom).
// Usage: node scripts/check-function-length.mjs   (exit 1 and one line per long function)
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const MAX_LINES = 60
const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..')
const packages = path.join(root, 'packages')

function sources (dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) sources(full, out)
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full)
  }
  return out
}

function longFunctions (file) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const found = []
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const last = source.getLineAndCharacterOfPosition(node.end).line
      const lines = last - first + 1
      const name = node.name === undefined ? '(anonymous)' : node.name.getText(source)
      if (lines > MAX_LINES) found.push(`${path.relative(root, file)}:${first + 1} ${name}: ${lines} lines`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const published = fs.readdirSync(packages).filter((name) => {
  const manifest = path.join(packages, name, 'package.json')
  return fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).private !== true
})
const files = published.flatMap((name) => {
  const src = path.join(packages, name, 'src')
  return fs.existsSync(src) ? sources(src) : []
})
const long = files.flatMap(longFunctions)
if (long.length > 0) {
  console.error(`functions over ${MAX_LINES} lines:\n${long.join('\n')}`)
  process.exit(1)
}
console.log(`no function over ${MAX_LINES} lines in ${files.length} files of ${published.join(', ')}`)
