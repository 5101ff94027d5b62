/**
 * The process-level part of the contract, run against an example as users copy it: a
 * framework wired to the core in a few lines (a recipe), or through a thin package. The
 * example runs unmodified; observe.ts, loaded with `--import`, makes each generation
 * print the fixture events. Besides the requests, the suite checks the framework's own
 * shutdown hooks: an example prints `[pid N] shutdown hook: NAME` when one runs, and each
 * must run once per generation, after that generation's drain.
 */
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import { get, parseEventLine, readPidFile, rounds, startLoad } from '@graceful-restart/test-utils'
import type { AfterHookHost, LoadReport } from '@graceful-restart/test-utils'
import { RunningApp } from './app.ts'
import { assertNoFailure, summary } from './contract.ts'

export interface RecipeContractOptions {
  /** Absolute path of the example's entry script. */
  server: string
  /** The shutdown hooks the example reports, in the order they run. */
  hooks: string[]
  /** Back-to-back handovers under load. Default rounds(20). */
  handovers?: number
  /** Extra environment for the example. */
  env?: Record<string, string>
}

/** The preload that makes an example print fixture events. */
export const OBSERVE = fileURLToPath(new URL('./observe.js', import.meta.url))

const HOOK_LINE = /^\[pid (\d+)\] shutdown hook: (\S+)/

/** Starts an example under observe.ts (killed with every generation when the test ends). */
export async function startRecipe (t: AfterHookHost, server: string, env: Record<string, string> = {}): Promise<RunningApp> {
  return await RunningApp.start(t, { fixture: server, execArgv: ['--import', OBSERVE], env, timeoutMs: 30_000 })
}

/** The shutdown hooks `pid` reported, and whether each came after its drain ended. */
export function shutdownHooks (app: RunningApp, pid: number): { names: string[], afterDrain: boolean } {
  const names: string[] = []
  let drained = false
  let afterDrain = true
  for (const line of app.started.lines) {
    const hook = HOOK_LINE.exec(line)
    if (hook !== null && Number(hook[1]) === pid) {
      names.push(hook[2] as string)
      if (!drained) afterDrain = false
    } else {
      const event = parseEventLine(line)
      if (event?.event === 'drain:end' && event.pid === pid) drained = true
    }
  }
  return { names, afterDrain }
}

/** Reports both loads and asserts that neither failed a request. */
function checkLoads (t: { diagnostic: (message: string) => void }, [keepAlive, fresh]: LoadReport[]): void {
  t.diagnostic(summary('keep-alive', keepAlive as LoadReport))
  t.diagnostic(summary('new connection per request', fresh as LoadReport))
  assertNoFailure('keep-alive', keepAlive as LoadReport)
  assertNoFailure('new connection per request', fresh as LoadReport)
}

function assertHooksOnce (app: RunningApp, pid: number, expected: string[]): void {
  const { names, afterDrain } = shutdownHooks(app, pid)
  assert.deepEqual(names, expected, `shutdown hooks of ${pid}, once each and in order`)
  assert.ok(afterDrain, `the shutdown hooks of ${pid} ran after its drain ended`)
}

/** Registers the recipe suite for one example (call it at the top level of a test file). */
export function runRecipeContract (name: string, options: RecipeContractOptions): void {
  const handovers = options.handovers ?? rounds(20)
  const start = (t: AfterHookHost): Promise<RunningApp> => startRecipe(t, options.server, options.env)

  describe(`${name} recipe`, () => {
    test(`${handovers} handovers under keep-alive and new-connection load, slow requests in flight: 0 failed; each old generation ran its shutdown hooks once, after its drain`, { timeout: 180_000 }, async (t) => {
      const app = await start(t)
      const load = { port: app.port, clients: 4, slowEvery: 20, slowMs: 300, durationMs: 170_000 }
      const keepAlive = startLoad({ ...load, keepAlive: true })
      const fresh = startLoad({ ...load, keepAlive: false })
      const { replaced, durationMs: handoverMs } = await app.handoversInARow(handovers)
      const exits = await Promise.all(replaced.map(({ from }) => app.exitOf(from)))
      const reports = await Promise.all([keepAlive.stop(), fresh.stop()])
      t.diagnostic(`${handovers} handovers in ${handoverMs} ms (${Math.round(handoverMs / Math.max(handovers, 1))} ms each)`)
      checkLoads(t, reports)
      const slow = [...reports[0].slow, ...reports[1].slow]
      const caught = replaced.filter(({ from, drainAt }) => slow.some((s) => s.pid === from && s.startedAt < drainAt && s.endedAt > drainAt))
      t.diagnostic(`handovers with a slow request in flight on the old generation: ${caught.length} of ${handovers}`)
      assert.ok(caught.length > 0, 'some handover drained a slow request')
      assert.deepEqual(exits.filter((e) => e.code !== 0), [], 'every replaced generation exited 0')
      for (const { from } of replaced) assertHooksOnce(app, from, options.hooks)
      assert.deepEqual(shutdownHooks(app, app.pid).names, [], 'the serving generation ran none')
      for (const r of reports) assert.ok(r.ok > handovers, 'the load made progress')
      assert.deepEqual(app.started.lines.filter((l) => l.includes('ERR_GRACEFUL_SIGNAL_LISTENER')), [],
        'the recipe leaves the routed signals to graceful-restart')
    })

    test('a release that throws at boot is rolled back: the old generation serves on and keeps the PID file; the next release takes over', { timeout: 60_000 }, async (t) => {
      const app = await start(t)
      const load = { port: app.port, clients: 3, slowEvery: 10, slowMs: 200, durationMs: 50_000 }
      const keepAlive = startLoad({ ...load, keepAlive: true })
      const fresh = startLoad({ ...load, keepAlive: false })
      const first = app.pid
      app.setBootMode('throw')
      const rollback = await app.failedHandover()
      assert.equal(rollback.reason, 'exit')
      assert.notEqual(rollback.serving, false)
      const after = await get(app.port, '/')
      assert.equal(after.status, 200)
      assert.equal(after.pid, first, 'the old generation still serves')
      assert.equal(readPidFile(app.pidFile), first, 'the PID file names the generation that serves')
      assert.deepEqual(shutdownHooks(app, first).names, [], 'a rollback runs no shutdown hook')

      app.setBootMode(undefined)
      const { to } = await app.handover()
      assert.equal((await app.exitOf(first)).code, 0)
      assert.equal(readPidFile(app.pidFile), to)
      assertHooksOnce(app, first, options.hooks)
      const reports = await Promise.all([keepAlive.stop(), fresh.stop()])
      checkLoads(t, reports)
    })

    test('SIGTERM drains: the request in flight completes, new connections are refused, exit 0, the shutdown hooks ran once after the drain', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      const mark = app.mark
      const slow = get(app.port, '/sleep?ms=800')
      await app.waitEvent((e) => e.event === 'request', 'the slow request to arrive', { from: mark })
      process.kill(app.pid, 'SIGTERM')
      await app.waitEvent((e) => e.event === 'drain:start' && e.pid === app.pid, 'the drain to start', { from: mark })
      await assert.rejects(get(app.port, '/'), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET')
      const answer = await slow
      assert.equal(answer.status, 200)
      assert.equal(answer.pid, app.pid)
      assert.deepEqual(await app.started.exited, { code: 0, signal: null })
      assert.equal((await app.exitOf(app.pid)).code, 0)
      assertHooksOnce(app, app.pid, options.hooks)
      assert.equal(readPidFile(app.pidFile), undefined, 'the last generation removed the PID file')
    })
  })
}
