#!/usr/bin/env node
// Fails when files of this repository import each other in a circle (issue 13): a circle
// makes load order decide what a module sees, and a design where two files each need the
// other. Reads the sources as they are (no build needed), with TypeScript's own import
// scanner: every `import`/`export ... from`/`import()` with a relative specifier, type-only
// imports included. Packages import each other through their names, never relatively, so a
// circle between packages would show in pnpm's workspace graph instead.
// Usage: node scripts/check-circles.mjs   (exit 1 and one line per circle when there is any)
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..')
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/
const SKIP = new Set(['node_modules', 'dist', '.git', '.turbo', 'results'])

function walk (dir, out) {
  if (!fs.existsSync(dir)) return out
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full)
  }
  return out
}

/** The file a relative specifier names: as written, or the .ts source of a .js specifier. */
function resolve (from, specifier) {
  const base = path.resolve(path.dirname(from), specifier)
  const candidates = [base, base.replace(/\.(m|c)?js$/, '.$1ts'), `${base}.ts`, path.join(base, 'index.ts')]
  return candidates.find((file) => fs.existsSync(file) && fs.statSync(file).isFile())
}

const files = ['packages', 'bench', 'examples', 'scripts'].flatMap((dir) => walk(path.join(root, dir), []))
const graph = new Map()
for (const file of files) {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true)
  const targets = importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.')).map((s) => resolve(file, s)).filter((f) => f !== undefined)
  graph.set(file, [...new Set(targets)])
}

// Tarjan's strongly connected components: every component of more than one file (or a file
// that imports itself) is a circle.
let index = 0
const stack = []
const meta = new Map()
const circles = []
function connect (file) {
  const m = { index, low: index, onStack: true }
  index++
  meta.set(file, m)
  stack.push(file)
  for (const next of graph.get(file) ?? []) {
    if (!meta.has(next)) {
      connect(next)
      m.low = Math.min(m.low, meta.get(next).low)
    } else if (meta.get(next).onStack) {
      m.low = Math.min(m.low, meta.get(next).index)
    }
  }
  if (m.low !== m.index) return
  const component = []
  let member
  do {
    member = stack.pop()
    meta.get(member).onStack = false
    component.push(member)
  } while (member !== file)
  if (component.length > 1 || (graph.get(file) ?? []).includes(file)) circles.push(component)
}
for (const file of graph.keys()) if (!meta.has(file)) connect(file)

if (circles.length > 0) {
  for (const circle of circles) console.error(`import circle: ${circle.map((f) => path.relative(root, f)).sort().join(' <-> ')}`)
  process.exit(1)
}
console.log(`no import circle among ${graph.size} files`)
