/**
 * The public surface of a package entry as its users see it: every name its declaration
 * file exports, split into values (what `import` yields at run time) and types only. The
 * type tests pin these lists, so an export added or removed by accident fails a test
 * instead of becoming a promise. TypeScript is loaded only when asked: most tests never
 * need it.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Surface {
  /** Exports that exist at run time (functions, classes, constants, `default`), sorted. */
  values: string[]
  /** Exports that exist for the type checker only (interfaces, type aliases, `export type`), sorted. */
  types: string[]
}

export async function publicSurface (declarationFile: string | URL): Promise<Surface> {
  const { default: ts } = await import('typescript')
  const file = declarationFile instanceof URL ? fileURLToPath(declarationFile) : declarationFile
  // Only the names and kinds of the entry's own exports matter: the package's declaration
  // files, not its dependencies' (fastify's alone take seconds to load), no lib, no @types.
  // A value re-exported from another package would show as a type here; the runtime check
  // beside every use of this (assertPublicSurface) would catch that.
  const program = ts.createProgram(declarationsBeside(file), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    noLib: true,
    noResolve: true
  })
  const source = program.getSourceFile(file)
  if (source === undefined) throw new Error(`publicSurface: cannot read ${file}`)
  const checker = program.getTypeChecker()
  const moduleSymbol = checker.getSymbolAtLocation(source)
  if (moduleSymbol === undefined) throw new Error(`publicSurface: ${file} is not a module`)
  const values: string[] = []
  const types: string[] = []
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const isValue = !typeOnly(ts, checker, symbol) && (resolve(ts, checker, symbol).flags & ts.SymbolFlags.Value) !== 0
    ;(isValue ? values : types).push(symbol.name)
  }
  return { values: values.sort(), types: types.sort() }
}

type TS = typeof import('typescript')

/** Every .d.ts file in the directory of `file` and below (the package's build output). */
function declarationsBeside (file: string): string[] {
  const dir = path.dirname(file)
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(dir, f))
}

function resolve (ts: TS, checker: import('typescript').TypeChecker, symbol: import('typescript').Symbol): import('typescript').Symbol {
  return (symbol.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(symbol) : symbol
}

/**
 * `export type { X }`, `export { type X }`, `import type { X }` then `export { X }`: a type
 * only, whatever X was where it was declared. Walks the alias chain one step at a time.
 */
function typeOnly (ts: TS, checker: import('typescript').TypeChecker, symbol: import('typescript').Symbol): boolean {
  let current: import('typescript').Symbol | undefined = symbol
  for (let hops = 0; current !== undefined && (current.flags & ts.SymbolFlags.Alias) !== 0 && hops < 32; hops++) {
    for (const declaration of current.declarations ?? []) {
      if (ts.isExportSpecifier(declaration) && (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly)) return true
      if (ts.isImportSpecifier(declaration) && (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly)) return true
      if (ts.isImportClause(declaration) && declaration.isTypeOnly) return true
    }
    current = checker.getImmediateAliasedSymbol(current)
  }
  return false
}

export interface PinnedEntry {
  values: string[]
  types: string[]
}

/**
 * Asserts that a built package exports exactly the pinned entries (`exports` keys, besides
 * `./package.json`), and that each entry's declarations and module export exactly the
 * pinned names, through `require()` (Node >= 20.19 loads ES modules) as through `import()`.
 * Paths come from the package's own `exports` map, as a consumer resolves them; `require()`
 * goes by the package's name, so it resolves through that map too.
 */
export async function assertPublicSurface (packageDir: URL, pinned: Record<string, PinnedEntry>): Promise<void> {
  const manifest = JSON.parse(fs.readFileSync(new URL('package.json', packageDir), 'utf8')) as { name: string, exports: Record<string, { types: string, default: string } | string> }
  const require = createRequire(new URL('package.json', packageDir))
  assert.deepEqual(Object.keys(manifest.exports).filter((k) => k !== './package.json').sort(), Object.keys(pinned).sort(), 'entries in package.json "exports"')
  for (const [entry, expected] of Object.entries(pinned)) {
    const target = manifest.exports[entry]
    if (typeof target !== 'object') throw new assert.AssertionError({ message: `${entry}: expected a { types, default } target, got ${JSON.stringify(target)}` })
    const surface = await publicSurface(new URL(target.types, packageDir))
    assert.deepEqual(surface, { values: [...expected.values].sort(), types: [...expected.types].sort() }, `${entry}: declared exports`)
    // require() first: after an import() it would only hand back the module already loaded.
    const specifier = entry === '.' ? manifest.name : `${manifest.name}/${entry.slice(2)}`
    const required = Object.keys(require(specifier) as object).filter((k) => k !== '__esModule').sort()
    assert.deepEqual(required, [...expected.values].sort(), `${entry}: exports through require()`)
    const runtime = Object.keys(await import(new URL(target.default, packageDir).href)).sort()
    assert.deepEqual(runtime, [...expected.values].sort(), `${entry}: exports at run time`)
  }
}
