#!/usr/bin/env node
// The published packages as a user gets them. Packs them (`pnpm pack`, which rewrites the
// `workspace:` ranges), checks what each tarball holds, installs the tarballs with npm into
// a fresh project outside the workspace beside the frameworks from the registry, and then:
//   - runs every usage snippet of the READMEs, extracted from README.md and the package
//     READMEs (so they cannot drift), through one handover under load: 0 failed;
//   - require()s every entry from CommonJS;
//   - type-checks a TypeScript consumer under `module: nodenext` and `moduleResolution: bundler`;
//   - runs publint and @arethetypeswrong/cli on each tarball.
// Usage (after `pnpm build`): node scripts/check-consumer.mjs [--keep]
// CI runs it once, on Node 20. It needs the npm registry (the frameworks, TypeScript).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const root = path.resolve(import.meta.dirname, '..')
const { freePort, isAlive, killMarked, newMarker, startLoad, startNode, waitFor, waitForPidExit } =
  await import(pathToFileURL(path.join(root, 'packages/test-utils/dist/src/index.js')).href)

const PACKAGES = ['core', 'fastify', 'express', 'koa', 'nestjs']
const keep = process.argv.includes('--keep')
const t0 = performance.now()
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-consumer-'))
const tarballs = path.join(work, 'tarballs')
const app = path.join(work, 'app')
fs.mkdirSync(tarballs)
fs.mkdirSync(app)
let failed = 0

function fail (what) {
  failed++
  console.error(`FAILED ${what}`)
}

function run (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts })
  if (r.error) throw r.error
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd() }
}

function runAsync (cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('error', (err) => resolve({ ok: false, output: String(err) }))
    child.on('close', (code) => resolve({ ok: code === 0, output: output.trimEnd() }))
  })
}

async function step (name, fn) {
  const started = performance.now()
  console.log(`== ${name}`)
  try {
    await fn()
  } catch (err) {
    fail(`${name}: ${err.stack ?? err}`)
  }
  console.log(`   (${((performance.now() - started) / 1000).toFixed(1)} s)`)
}

const manifest = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
const rootManifest = manifest(root)
const pnpmVersion = rootManifest.packageManager.replace(/^pnpm@/, '')
const pnpm = run('pnpm', ['--version']).output === pnpmVersion ? ['pnpm'] : ['npx', '--yes', `pnpm@${pnpmVersion}`]

// ---------------------------------------------------------------------------------------
const packed = {}
await step('pack (pnpm pack) and what each tarball holds', () => {
  for (const name of PACKAGES) {
    const dir = path.join(root, 'packages', name)
    const before = new Set(fs.readdirSync(tarballs))
    const r = run(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', tarballs], { cwd: dir })
    if (!r.ok) throw new Error(`pnpm pack in packages/${name}: ${r.output}`)
    const file = fs.readdirSync(tarballs).find((f) => !before.has(f))
    if (file === undefined) throw new Error(`pnpm pack in packages/${name} wrote no tarball`)
    const tgz = path.join(tarballs, file)
    const files = run('tar', ['-tzf', tgz]).output.split('\n').map((f) => f.replace(/^package\//, '')).sort()
    const unpacked = path.join(work, 'unpacked', name)
    fs.mkdirSync(unpacked, { recursive: true })
    run('tar', ['-xzf', tgz, '-C', unpacked, '--strip-components=1'])
    packed[name] = { tgz, files, unpacked }
    const kinds = { js: 0, 'js.map': 0, 'd.ts': 0 }
    const problems = []
    for (const f of files) {
      const m = /^dist\/src\/(.+)\.(js|js\.map|d\.ts)$/.exec(f)
      if (m !== null) {
        kinds[m[2]]++
        // Shipped build output comes from a source file that exists (no stale or test output).
        if (!fs.existsSync(path.join(dir, 'src', `${m[1]}.ts`))) problems.push(`${f}: no src/${m[1]}.ts`)
        if (m[2] === 'js.map') {
          const map = JSON.parse(fs.readFileSync(path.join(unpacked, f), 'utf8'))
          if (!Array.isArray(map.sourcesContent) || map.sourcesContent.length !== map.sources.length || map.sourcesContent.some((s) => typeof s !== 'string')) {
            problems.push(`${f}: does not carry its sources`)
          }
        }
      } else if (!['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f)) {
        problems.push(`${f}: not meant to ship`)
      }
    }
    for (const must of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
      if (!files.includes(must)) problems.push(`${must} missing`)
    }
    if (kinds.js !== kinds['d.ts'] || kinds.js !== kinds['js.map']) problems.push(`${kinds.js} .js, ${kinds['d.ts']} .d.ts, ${kinds['js.map']} .js.map`)
    const shipped = manifest(unpacked)
    for (const field of ['dependencies', 'peerDependencies']) {
      for (const [dep, range] of Object.entries(shipped[field] ?? {})) {
        if (String(range).startsWith('workspace:')) problems.push(`${field}.${dep} is still ${range}`)
      }
    }
    const size = fs.statSync(tgz).size
    console.log(`   ${file}: ${(size / 1024).toFixed(1)} kB packed, ${files.length} files (${kinds.js} .js, ${kinds['d.ts']} .d.ts, ${kinds['js.map']} .js.map with sources, ${files.filter((f) => !f.startsWith('dist/')).join(', ')})`)
    for (const p of problems) fail(`${file}: ${p}`)
  }
})

// ---------------------------------------------------------------------------------------
// Ranges come from the workspace, so the consumer tests what the packages declare.
const peer = (name, dep) => manifest(path.join(root, 'packages', name)).peerDependencies[dep]
const dev = (name, dep) => manifest(path.join(root, 'packages', name)).devDependencies[dep]
const registryDeps = [
  `fastify@${peer('fastify', 'fastify')}`,
  `express@${peer('express', 'express')}`,
  `koa@${peer('koa', 'koa')}`,
  `typescript@${rootManifest.devDependencies.typescript}`,
  `@types/node@${rootManifest.devDependencies['@types/node']}`,
  `@types/express@${dev('express', '@types/express')}`,
  `@types/koa@${dev('koa', '@types/koa')}`,
  ...['@nestjs/core', '@nestjs/common', '@nestjs/platform-express', 'reflect-metadata', 'rxjs'].map((dep) => `${dep}@${dev('nestjs', dep)}`)
]
await step(`npm install of the tarballs and ${registryDeps.join(' ')} into ${app}`, async () => {
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2))
  const r = await runAsync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...PACKAGES.map((n) => packed[n].tgz), ...registryDeps], { cwd: app })
  if (!r.ok) throw new Error(r.output)
  // Each package once, from its tarball: the adapters' `^0.1.0` on core must not have
  // fetched anything from the registry.
  const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8'))
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (!where.includes('node_modules/@graceful-restart/')) continue
    if (where.split('node_modules/').length > 2) fail(`a nested copy at ${where}`)
    else if (!String(entry.resolved).startsWith('file:')) fail(`${where} resolved to ${entry.resolved}`)
  }
  console.log(`   installed: ${Object.keys(lock.packages).length - 1} packages`)
})

// ---------------------------------------------------------------------------------------
/**
 * The usage snippets: the root README's Usage block (one snippet per `// Name` part) and the
 * first js (or, for NestJS, ts) block of each package README.
 */
function snippets () {
  const out = []
  const blocks = (text, lang = 'js') => [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1])
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  const usage = readme.slice(readme.indexOf('## Usage'))
  const [block] = blocks(usage)
  if (block === undefined) throw new Error('README.md: no js block under ## Usage')
  for (const part of block.split(/\n\s*\n(?=\/\/ )/)) {
    const title = /^\/\/ (.+)/.exec(part.trim())?.[1]
    out.push({ name: `README.md "${title}"`, code: part.trim() + '\n' })
  }
  for (const name of PACKAGES) {
    const lang = name === 'nestjs' ? 'ts' : 'js'
    const [code] = blocks(fs.readFileSync(path.join(root, 'packages', name, 'README.md'), 'utf8'), lang)
    if (code === undefined) throw new Error(`packages/${name}/README.md: no ${lang} block`)
    out.push({ name: `packages/${name}/README.md`, code, lang })
  }
  return out
}

function get (port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
    req.setTimeout(2000, () => req.destroy(new Error('timeout')))
  })
}

/** Runs one snippet, hands it over once under load, stops it. */
async function handoverUnderLoad (snippet, index) {
  const port = await freePort()
  const pidFile = path.join(work, `app-${index}.pid`)
  // What the snippet is pointed at: its port (8080 in the READMEs) and its PID file path.
  // Nothing else changes; a name it uses without defining is a placeholder of the README.
  let code = snippet.code.replaceAll('8080', String(port)).replaceAll('/run/app.pid', pidFile)
  const changes = [`port ${port}`]
  if (snippet.code.includes('/run/app.pid')) changes.push('pid file in a temp dir')
  if (/\bhandler\b/.test(code) && !/\b(const|let|var|function)\s+handler\b/.test(code)) {
    code = `const handler = (req, res) => { res.end('ok\\n') } // the app's handler, left to the reader in the README\n${code}`
    changes.push('`handler` defined')
  }
  if (snippet.lang === 'ts') {
    // Compiled as the user's build would (types are checked in the TypeScript step); its
    // `./app.module.js` is the user's, here an empty module.
    const { default: ts } = await import(pathToFileURL(path.join(app, 'node_modules', 'typescript', 'lib', 'typescript.js')).href)
    code = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    fs.writeFileSync(path.join(app, 'app.module.js'), 'export class AppModule {}\n')
    changes.push('compiled from TypeScript, `./app.module.js` an empty module')
  }
  const file = path.join(app, `snippet-${index}.mjs`)
  fs.writeFileSync(file, code)
  const marker = newMarker()
  // NODE_DEBUG makes each generation say when it is ready, with its pid.
  const child = startNode(file, { cwd: app, marker, env: { NODE_DEBUG: 'graceful-restart' } })
  const readyLine = (pred) => child.waitForLine((l) => { const m = /GRACEFUL-RESTART \d+: ready (\{.*\})/.exec(l); return m !== null && pred(JSON.parse(m[1]).pid) }, 20_000)
  try {
    await readyLine((pid) => pid === child.pid)
    const status = await get(port)
    if (status >= 500) throw new Error(`the snippet answers ${status}`)
    const load = { port, slowEvery: 0, expectStatus: status, durationMs: 30_000 }
    const keepAlive = startLoad({ ...load, keepAlive: true, clients: 8 })
    const fresh = startLoad({ ...load, keepAlive: false, clients: 4 })
    try {
      const served = () => keepAlive.snapshot().ok + fresh.snapshot().ok
      await waitFor(() => served() > 200, { timeoutMs: 10_000, what: 'load flowing' })
      const signalledAt = performance.now()
      process.kill(child.pid, 'SIGUSR2')
      const line = await readyLine((pid) => pid !== child.pid)
      const next = JSON.parse(/ready (\{.*\})/.exec(line)[1]).pid
      await waitForPidExit(child.pid, 20_000)
      const handoverMs = performance.now() - signalledAt
      const after = served()
      await waitFor(() => served() > after + 200, { timeoutMs: 10_000, what: `the new generation ${next} serving` })
      const reports = [await keepAlive.stop(), await fresh.stop()]
      process.kill(next, 'SIGTERM')
      await waitForPidExit(next, 20_000)
      const requests = reports.reduce((n, r) => n + r.requests, 0)
      const lost = reports.reduce((n, r) => n + r.failed, 0)
      const result = `${requests} requests (answer ${status}), ${lost} failed, handover ${child.pid} -> ${next}, old generation gone after ${handoverMs.toFixed(0)} ms [${changes.join(', ')}]`
      if (lost > 0) fail(`${snippet.name}: ${result} ${JSON.stringify(reports.map((r) => r.errorSamples.slice(0, 3)))}`)
      else console.log(`   ok ${snippet.name}: ${result}`)
    } finally {
      await keepAlive.stop()
      await fresh.stop()
    }
  } catch (err) {
    fail(`${snippet.name}: ${err.message}\n${child.lines.slice(-15).join('\n')}`)
  } finally {
    killMarked(marker)
    if (isAlive(child.pid)) child.child.kill('SIGKILL')
  }
}

await step('README usage snippets, verbatim, one handover each under load (8 keep-alive + 4 new-connection clients)', async () => {
  const all = snippets()
  // Two at a time: the machine has two cores, and each snippet has its own port.
  for (let i = 0; i < all.length; i += 2) {
    await Promise.all(all.slice(i, i + 2).map((s, j) => handoverUnderLoad(s, i + j)))
  }
})

// ---------------------------------------------------------------------------------------
await step('require() of every entry from CommonJS', () => {
  const entries = []
  for (const name of PACKAGES) {
    for (const subpath of Object.keys(manifest(packed[name].unpacked).exports)) {
      if (subpath !== './package.json') entries.push(`@graceful-restart/${name}${subpath.slice(1)}`)
    }
  }
  fs.writeFileSync(path.join(app, 'require.cjs'), `'use strict'
const signals = ['SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP']
for (const name of ${JSON.stringify(entries)}) {
  const mod = require(name)
  const names = Object.keys(mod).filter((k) => k !== '__esModule')
  if (names.length === 0) throw new Error(name + ': nothing exported')
  console.log('   ok require(' + JSON.stringify(name) + '): ' + names.join(', '))
}
const core = require('@graceful-restart/core')
if (typeof core.gracefulRestart !== 'function' || typeof require('@graceful-restart/fastify').default !== 'function') throw new Error('unexpected shapes')
if (signals.some((s) => process.listenerCount(s) > 0)) throw new Error('requiring the packages installed signal handlers')
`)
  const r = run(process.execPath, ['require.cjs'], { cwd: app })
  console.log(r.output)
  if (!r.ok) fail('require() from CommonJS')
})

// ---------------------------------------------------------------------------------------
const consumerTs = `import http from 'node:http'
import Fastify from 'fastify'
import express from 'express'
import Koa from 'koa'
import { CHANNELS, GracefulError, HandoverError, gracefulRestart, healthHandler } from '@graceful-restart/core'
import type { DrainCounts, Graceful, GracefulErrorCode, GracefulOptions, HandoverResult, HealthPaths, Logger, RoutableSignal, ShutdownResult, SignalAction, State } from '@graceful-restart/core'
import { currentGraceful, healthAnswer, resolveHealthPaths, serverFactory, setKeepAliveTimeout, withHealth } from '@graceful-restart/core/adapter'
import type { HealthAnswer, ServerFactory, ServerFactoryOptions } from '@graceful-restart/core/adapter'
import gracefulFastify, { fastifyGracefulRestart, type FastifyGracefulRestartOptions } from '@graceful-restart/fastify'
import gracefulExpressDefault, { gracefulExpress, type GracefulExpressOptions } from '@graceful-restart/express'
import gracefulKoaDefault, { gracefulKoa, type GracefulKoaOptions } from '@graceful-restart/koa'
import gracefulNestDefault, { gracefulNest, type NestApplicationLike } from '@graceful-restart/nestjs'
import type { INestApplication } from '@nestjs/common'
// @ts-expect-error internals are not part of the public API
import { parseListenArgs } from '@graceful-restart/core'
// @ts-expect-error nor reachable by a deep import
import { nodePlatform } from '@graceful-restart/core/dist/src/platform.js'

const logger: Logger = { info () {}, warn () {}, error () {} }
const signals: Partial<Record<RoutableSignal, SignalAction | null>> = { SIGHUP: 'handover', SIGINT: null }
const options: GracefulOptions = { drainTimeout: 30_000, pidFile: '/run/app.pid', logger, signals, ready: async () => {} }
const graceful: Graceful = gracefulRestart(options)
const server: http.Server = graceful.attach(http.createServer((req, res) => {
  if (health(req, res)) return
  res.end('ok')
}))
const paths: HealthPaths = { live: '/live' }
const health = healthHandler(graceful, paths)
const state: State = graceful.state
const counts: DrainCounts = graceful.counts()
const handover: Promise<HandoverResult> = graceful.handover()
const shutdown: Promise<ShutdownResult> = graceful.shutdown()
const code: GracefulErrorCode | undefined = new GracefulError('ERR_GRACEFUL_NOT_READY', 'x').code as GracefulErrorCode
const isHandoverError: boolean = new Error() instanceof HandoverError
const channel: string = CHANNELS.handoverReady

const factoryOptions: ServerFactoryOptions = { health: true }
const factory: ServerFactory = serverFactory(factoryOptions)
const answer: HealthAnswer | undefined = healthAnswer(factory.graceful, resolveHealthPaths(true)!, '/readyz')
const wrapped = withHealth(graceful, (req: http.IncomingMessage, res: http.ServerResponse) => res.end(), true)
const current: Graceful | undefined = currentGraceful()
setKeepAliveTimeout(server, 65_000)

const fastifyOptions: FastifyGracefulRestartOptions = { drainTimeout: 30_000, health: true }
const app = Fastify()
await app.register(gracefulFastify, fastifyOptions)
await app.register(fastifyGracefulRestart)
const decorated: Graceful = app.graceful

const expressOptions: GracefulExpressOptions = { health: true }
const e = gracefulExpress(express(), expressOptions)
const expressServer: http.Server = e.listen(8080, '127.0.0.1', (err?: Error) => { if (err) throw err })
const k = gracefulKoa(new Koa(), {} satisfies GracefulKoaOptions)
const koaServer: http.Server = k.listen(8081)

declare const nest: INestApplication
const nestApp: NestApplicationLike = nest
const nestGraceful: Promise<Graceful> = gracefulNest(nest, { drainTimeout: 30_000 })

void [server, state, counts, handover, shutdown, code, isHandoverError, channel, answer, wrapped, current, decorated, expressServer, koaServer, gracefulExpressDefault, gracefulKoaDefault, gracefulNestDefault, nestApp, nestGraceful, parseListenArgs, nodePlatform]
`
// The type check and the linters run side by side: each is one process that mostly waits
// on the other's CPU on a busy 2-core machine.
async function typescriptConsumer () {
  fs.writeFileSync(path.join(app, 'consumer.ts'), consumerTs)
  // The NestJS README's snippet as written, with an empty AppModule of the user's.
  fs.writeFileSync(path.join(app, 'nest-snippet.ts'), snippets().find((s) => s.lang === 'ts').code)
  fs.writeFileSync(path.join(app, 'app.module.ts'), 'export class AppModule {}\n')
  // CommonJS TypeScript: require() of the ESM packages (Node >= 20.19), as nodenext models it.
  fs.writeFileSync(path.join(app, 'consumer.cts'), `import core = require('@graceful-restart/core')
import fastify = require('@graceful-restart/fastify')
const graceful: core.Graceful = core.gracefulRestart({ drainTimeout: 1000 })
void [graceful, fastify.default]
`)
  // skipLibCheck as most apps set it: the frameworks' own declarations are not ours to check
  // (@types/koa does not type-check against content-disposition's today).
  const base = { target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }
  const configs = {
    'tsconfig.nodenext.json': { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['consumer.ts', 'consumer.cts', 'nest-snippet.ts'] },
    'tsconfig.bundler.json': { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['consumer.ts'] }
  }
  const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  return await Promise.all(Object.entries(configs).map(async ([file, config]) => {
    fs.writeFileSync(path.join(app, file), JSON.stringify(config, null, 2))
    const r = await runAsync(process.execPath, [tsc, '-p', file], { cwd: app })
    const what = Object.entries(config.compilerOptions).filter(([k]) => k.startsWith('module')).map(([k, v]) => `${k}: ${v}`).join(', ')
    return { ok: r.ok, line: r.ok ? `ok tsc -p ${file} (${what}; ${config.files.join(', ')})` : `tsc -p ${file}:\n${r.output}` }
  }))
}

async function linters () {
  const bin = (name) => path.join(root, 'node_modules', '.bin', name)
  // ESM-only on purpose: require() of them works on Node >= 20.19 (checked above), which
  // attw's CommonJS resolution does not model, and there is no node10 resolution without
  // "exports". The profile ignores exactly those two.
  return await Promise.all(PACKAGES.flatMap((name) => {
    const tgz = packed[name].tgz
    return [
      runAsync(bin('publint'), ['run', '--strict', tgz]).then((r) => ({ ok: r.ok, line: r.ok ? `ok publint --strict ${path.basename(tgz)}: ${r.output.split('\n').at(-1)}` : `publint ${path.basename(tgz)}:\n${r.output}` })),
      runAsync(bin('attw'), ['--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color', tgz]).then((r) => ({ ok: r.ok, line: r.ok ? `ok attw --profile esm-only ${path.basename(tgz)}: ${(r.output.match(/: OK/g) ?? []).length} resolutions OK, no problem` : `attw ${path.basename(tgz)}:\n${r.output}` }))
    ]
  }))
}

await step('TypeScript consumer (module nodenext, moduleResolution bundler); publint and attw on each tarball', async () => {
  const results = (await Promise.all([typescriptConsumer(), linters()])).flat()
  for (const r of results) {
    if (r.ok) console.log(`   ${r.line}`)
    else fail(r.line)
  }
})

const seconds = ((performance.now() - t0) / 1000).toFixed(1)
if (keep) console.log(`kept ${work}`)
else fs.rmSync(work, { recursive: true, force: true })
console.log(failed === 0 ? `check-consumer: ok in ${seconds} s` : `check-consumer: ${failed} FAILED in ${seconds} s`)
process.exit(failed === 0 ? 0 : 1)
