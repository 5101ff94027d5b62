/**
 * The behaviour every framework adapter promises, run against a fixture app in real
 * processes on 127.0.0.1: what a user sees across `kill -USR2` and `kill -TERM`.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { get, rounds, startLoad, waitFor } from '@graceful-restart/test-utils'
import type { Answer, LoadReport } from '@graceful-restart/test-utils'
import { RunningApp } from './app.ts'
import type { AppEvent } from './app.ts'
import { SLOW_READY_MS } from './fixture.ts'

export interface AdapterContractOptions {
  /** Absolute path of the fixture script (its contract: fixture.ts). */
  fixture: string
  /** Back-to-back handovers in the load test. Default GR_CONTRACT_HANDOVERS, else rounds(50) (fewer when GR_TEST_SCALE < 1). */
  handovers?: number
  /**
   * The framework finishes its startup work before it binds (Fastify's onReady): the
   * fixture's 'slow' boot delays listen(), so the next generation answers nothing before
   * it is ready. Otherwise 'slow' delays the core's `ready` hook, after listen().
   */
  readyWorkBeforeListen?: boolean
  /** The fixture reports Fastify's lifecycle hooks as 'hook' events (onReady, preClose, onClose, with `inFlight`). */
  closeHooks?: boolean
  /** Extra environment for the fixture. */
  env?: Record<string, string>
}

const kill = (pid: number, signal: NodeJS.Signals): void => { process.kill(pid, signal) }

export function summary (label: string, r: LoadReport): string {
  const f = r.failures
  return `${label}: ${r.requests} requests, ${r.failed} failed (refused ${f.refused}, reset ${f.reset}, timeout ${f.timeout}, non2xx ${f.non2xx}, other ${f.other}), ` +
    `${r.slow.length} slow, ${Object.keys(r.byPid).length} pids, p99 ${r.latencyMs.p99.toFixed(1)} ms`
}

export function assertNoFailure (label: string, r: LoadReport): void {
  assert.equal(r.failed, 0, `${summary(label, r)}\n${JSON.stringify(r.errorSamples.slice(0, 5), null, 2)}`)
  const notOk = r.slow.filter((s) => s.status !== 200)
  assert.deepEqual(notOk, [], `${label}: slow requests that did not get a 200`)
}

function hooksOf (events: AppEvent[], pid: number): AppEvent[] {
  return events.filter((e) => e.event === 'hook' && e.pid === pid && e.name !== 'onReady')
}

function assertCloseHooks (app: RunningApp, pid: number): void {
  const events = app.events()
  const hooks = hooksOf(events, pid)
  assert.deepEqual(hooks.map((h) => h.name), ['preClose', 'onClose'], `hooks of ${pid}`)
  for (const h of hooks) assert.equal(h.inFlight, 0, `${String(h.name)} ran with requests in flight`)
  const drained = events.findIndex((e) => e.event === 'drain:end' && e.pid === pid)
  const preClose = events.findIndex((e) => e.event === 'hook' && e.pid === pid && e.name === 'preClose')
  assert.ok(drained >= 0 && preClose > drained, 'preClose ran after the drain ended')
}

/**
 * A keep-alive client (one connection) served once by `app`, then a handover: resolves once
 * the old generation started draining, with the handover still under way.
 */
async function keepAliveIntoDrain (t: { after: (fn: () => unknown) => unknown }, app: RunningApp): Promise<{ agent: http.Agent, from: number, mark: number, handover: ReturnType<RunningApp['handover']> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const first = await get(app.port, '/', { agent })
  assert.equal(first.pid, app.pid)
  const from = app.pid
  const mark = app.mark
  const handover = app.handover()
  await app.waitEvent((e) => e.event === 'drain:start' && e.pid === from, 'the old generation to start draining', { from: mark })
  return { agent, from, mark, handover }
}

/** Registers the contract suite for one adapter (call it at the top level of a test file). */
export function runAdapterContract (name: string, options: AdapterContractOptions): void {
  const handovers = options.handovers ?? (process.env.GR_CONTRACT_HANDOVERS !== undefined ? Number(process.env.GR_CONTRACT_HANDOVERS) : rounds(50))
  const start = (t: Parameters<typeof RunningApp.start>[0], env: Record<string, string> = {}): Promise<RunningApp> =>
    RunningApp.start(t, { fixture: options.fixture, env: { ...options.env, ...env } })

  describe(`${name} adapter contract`, () => {
    test('listen() takes over the inherited socket: port 0 keeps its port, the pid changes', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      const before = await get(app.port, '/')
      assert.equal(before.status, 200)
      assert.deepEqual(JSON.parse(before.body), { pid: app.pid, version: 'v1' })

      const { from, to } = await app.handover()
      assert.notEqual(to, from)
      const after = await app.answeredBy(to, from, () => get(app.port, '/'))
      assert.equal(after.status, 200, 'the new generation answers on the same port')
      assert.ok(app.events().some((e) => e.event === 'listener:inherited' && e.pid === to), 'the listener was inherited, not bound anew')
      assert.equal((await app.exitOf(from)).code, 0, 'the old generation exits 0')
      assert.equal(app.events().filter((e) => e.event === 'listening' && e.pid === to && (e.address as { port?: number } | null)?.port === app.port).length, 1)
    })

    test('health on (fleet mode): idle connections outlive a balancer\'s (keepAliveTimeout >= 65 s, headersTimeout above it)', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      const listening = app.events().find((e) => e.event === 'listening' && e.pid === app.pid)
      const keepAlive = listening?.keepAliveTimeout as number
      t.diagnostic(`keepAliveTimeout ${keepAlive} ms, headersTimeout ${String(listening?.headersTimeout)} ms`)
      // ALB and nginx keep idle upstream connections 60 s: the server must be the one that waits longer.
      assert.ok(keepAlive >= 65_000, `keepAliveTimeout ${keepAlive}`)
      assert.ok((listening?.headersTimeout as number) > keepAlive)
    })

    test('the old generation keeps serving until the new one is ready', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      app.setBootMode('slow')
      const answers: Answer[] = []
      const errors: unknown[] = []
      let probing = true
      const probe = (async () => {
        while (probing) {
          try { answers.push(await get(app.port, '/')) } catch (err) { errors.push(err) }
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })()
      const mark = app.mark
      const { from, to, readyAt } = await app.handover()
      app.setBootMode(undefined)
      const exit = await app.exitOf(from)
      // A probe sent after the old generation was gone has come back.
      await waitFor(() => answers.some((a) => a.startedAt > exit.at) || errors.length > 0, { timeoutMs: 10_000, what: 'an answer to a probe sent after the old generation exited' })
      probing = false
      await probe

      assert.deepEqual(errors, [], 'no request failed')
      const spawned = await app.waitEvent((e) => e.event === 'handover:spawn' && e.pid === from, 'the spawn event', { from: mark })
      assert.ok(readyAt - spawned.at >= SLOW_READY_MS - 50, `ready ${readyAt - spawned.at} ms after the spawn: readiness waited for the app`)
      const beforeReady = answers.filter((a) => a.startedAt >= spawned.at && a.endedAt <= readyAt)
      assert.ok(beforeReady.some((a) => a.pid === from && a.startedAt >= readyAt - 1000), 'the old generation still answered in the last second before the new one was ready')
      const listening = await app.waitEvent((e) => e.event === 'listening' && e.pid === to, 'the listening event', { from: mark })
      if (options.readyWorkBeforeListen === true) {
        // The start-up work ran before the bind: the next generation could take no request during it.
        assert.ok(listening.at - spawned.at >= SLOW_READY_MS - 50, 'the next generation listened only after its start-up work')
      } else {
        t.diagnostic(`answered by the next generation during its start-up work (listen() came first): ${beforeReady.filter((a) => a.pid === to).length} of ${beforeReady.length}`)
      }
      assert.equal(answers.at(-1)?.pid, to, 'the new generation answers once the old one is gone')
      if (options.closeHooks === true) {
        const events = app.events(mark)
        const onReady = events.findIndex((e) => e.event === 'hook' && e.name === 'onReady' && e.pid === to)
        const ready = events.findIndex((e) => e.event === 'ready' && e.pid === to)
        assert.ok(onReady >= 0 && onReady < ready, 'onReady ran before the generation reported ready')
      }
    })

    test('a keep-alive client keeps its connection across a handover: its next request, sent as the drain starts, is answered once; the one after it by the new generation', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      const { agent, from, mark, handover } = await keepAliveIntoDrain(t, app)
      const second = await get(app.port, '/', { agent })
      const { to } = await handover
      assert.equal(second.status, 200, `not a ${second.status}: ${second.body}`)
      assert.equal(second.reusedSocket, true, 'sent on the kept-alive connection')
      assert.ok(second.pid === from || second.pid === to, `answered by ${second.pid}`)
      assert.notEqual(second.headers.connection, 'close', 'the connection is kept')
      const end = await app.waitEvent((e) => e.event === 'drain:end' && e.pid === from, 'the old generation\'s drain to end', { from: mark })
      assert.equal(end.handedOff, 1, `the connection went to the next generation: ${JSON.stringify(end)}`)
      const third = await get(app.port, '/', { agent })
      assert.equal(third.reusedSocket, true, 'still the same connection')
      assert.equal(third.pid, to, 'served by the new generation')
      t.diagnostic(`during the drain answered by the ${second.pid === from ? 'old' : 'new'} generation; drain:end ${JSON.stringify(end)}`)
    })

    test('handoffIdleConnections false: a keep-alive client whose next request arrives during the handover is answered by the draining generation, which closes the connection', { timeout: 30_000 }, async (t) => {
      const app = await start(t, { HANDOFF: '0' })
      const { agent, from, handover } = await keepAliveIntoDrain(t, app)
      const second = await get(app.port, '/', { agent })
      assert.equal(second.status, 200, `not a ${second.status}: ${second.body}`)
      assert.equal(second.reusedSocket, true, 'sent on the kept-alive connection')
      assert.equal(second.pid, from, 'answered by the draining generation')
      assert.equal(second.headers.connection, 'close', 'which closes the connection after it')
      const { to } = await handover
      const third = await app.answeredBy(to, from, () => get(app.port, '/', { agent }))
      assert.equal(third.reusedSocket, false, 'a new connection')
    })

    test(`${handovers} back-to-back handovers under keep-alive and new-connection load with slow requests in flight: 0 failed requests`, { timeout: 150_000 }, async (t) => {
      const app = await start(t)
      const load = { port: app.port, clients: 8, slowEvery: 20, slowMs: 300, durationMs: 160_000 }
      const keepAlive = startLoad({ ...load, keepAlive: true })
      const fresh = startLoad({ ...load, keepAlive: false })
      const { replaced, durationMs: handoverMs } = await app.handoversInARow(handovers)
      const last = replaced.at(-1)
      if (last !== undefined) await app.exitOf(last.from)
      const reports = await Promise.all([keepAlive.stop(), fresh.stop()])
      t.diagnostic(`${handovers} handovers in ${handoverMs} ms (${Math.round(handoverMs / Math.max(handovers, 1))} ms each)`)
      t.diagnostic(summary('keep-alive', reports[0]))
      t.diagnostic(summary('new connection per request', reports[1]))
      assertNoFailure('keep-alive', reports[0])
      assertNoFailure('new connection per request', reports[1])

      const slow = [...reports[0].slow, ...reports[1].slow]
      const caught = replaced.filter(({ from, drainAt }) => slow.some((s) => s.pid === from && s.startedAt < drainAt && s.endedAt > drainAt))
      t.diagnostic(`handovers with a slow request in flight on the old generation: ${caught.length} of ${handovers}`)
      assert.ok(caught.length >= handovers / 2, 'most handovers drained a slow request')
      const exits = app.events().filter((e) => e.event === 'exit' && replaced.some((r) => r.from === e.pid))
      assert.equal(exits.length, handovers, 'every replaced generation exited')
      assert.deepEqual(exits.filter((e) => e.code !== 0), [], 'each with code 0')
      for (const r of reports) assert.ok(r.ok > handovers, 'the load made progress')
    })

    test('listen(path) on a unix socket: the path answers across handovers under load, and goes with the last generation', { timeout: 30_000 }, async (t) => {
      const socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gr-unix-')), 'app.sock')
      t.after(() => fs.rmSync(path.dirname(socketPath), { recursive: true, force: true }))
      const app = await start(t, { SOCKET_PATH: socketPath })
      assert.equal((await get(undefined, '/', { socketPath })).pid, app.pid)
      const load = { socketPath, clients: 4, slowEvery: 10, slowMs: 200, durationMs: 25_000 }
      const keepAlive = startLoad({ ...load, keepAlive: true })
      const fresh = startLoad({ ...load, keepAlive: false })
      const replaced: number[] = []
      for (let i = 0; i < 3; i++) {
        const { from, to } = await app.handover()
        replaced.push(from)
        await app.answeredBy(to, from, () => get(undefined, '/', { socketPath }))
      }
      for (const pid of replaced) assert.equal((await app.exitOf(pid)).code, 0)
      const reports = await Promise.all([keepAlive.stop(), fresh.stop()])
      t.diagnostic(summary('keep-alive', reports[0]))
      t.diagnostic(summary('new connection per request', reports[1]))
      assertNoFailure('keep-alive', reports[0])
      assertNoFailure('new connection per request', reports[1])
      kill(app.pid, 'SIGTERM')
      assert.equal((await app.exitOf(app.pid)).code, 0)
      assert.equal(fs.existsSync(socketPath), false, 'the last generation removed the socket file')
    })

    test('SIGTERM drains: the in-flight request completes, new connections are refused, exit code 0', { timeout: 30_000 }, async (t) => {
      const app = await start(t)
      const mark = app.mark
      const slow = get(app.port, '/sleep?ms=800')
      await app.waitEvent((e) => e.event === 'request', 'the slow request to arrive', { from: mark })
      kill(app.pid, 'SIGTERM')
      await app.waitEvent((e) => e.event === 'drain:start' && e.pid === app.pid, 'the drain to start', { from: mark })
      // Refused: nobody listens any more (a connect racing the close itself would be reset).
      await assert.rejects(get(app.port, '/'), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET')
      const answer = await slow
      assert.equal(answer.status, 200)
      assert.equal(answer.pid, app.pid)
      const exited = await app.started.exited
      assert.deepEqual(exited, { code: 0, signal: null })
      const end = await app.waitEvent((e) => e.event === 'drain:end' && e.pid === app.pid, 'the drain end', { from: mark })
      assert.equal(end.timedOut, false)
      if (options.closeHooks === true) assertCloseHooks(app, app.pid)
    })

    test('health: /healthz 200; /readyz 200 when ready, 503 from SIGTERM on while it still serves for shutdownDelay, then it drains', { timeout: 30_000 }, async (t) => {
      const app = await start(t, { SHUTDOWN_DELAY_MS: '3000' })
      const mark = app.mark
      assert.equal((await get(app.port, '/healthz')).status, 200)
      const ready = await get(app.port, '/readyz')
      assert.equal(ready.status, 200)
      assert.equal(JSON.parse(ready.body).status, 'ready')
      const signalled = Date.now()
      kill(app.pid, 'SIGTERM')
      // The signal reaches the process asynchronously: ask until readiness flips, which must
      // happen well inside the 3 s delay, while the process keeps serving.
      let draining = await get(app.port, '/readyz')
      while (draining.status === 200 && Date.now() - signalled < 1000) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        draining = await get(app.port, '/readyz')
      }
      assert.equal(draining.status, 503, 'readiness fails once SIGTERM arrived')
      assert.equal(JSON.parse(draining.body).status, 'draining')
      assert.equal((await get(app.port, '/healthz')).status, 200, 'liveness stays up')
      const served = await get(app.port, '/')
      assert.equal(served.status, 200, 'new connections are still served during shutdownDelay')
      assert.equal(served.pid, app.pid)
      await app.waitEvent((e) => e.event === 'drain:start' && e.pid === app.pid, 'the drain after the delay', { from: mark })
      assert.deepEqual(await app.started.exited, { code: 0, signal: null })
    })

    test('a next generation that throws at import, exits 1 or hangs is rolled back; the old one serves on, the next handover succeeds', { timeout: 60_000 }, async (t) => {
      // A crash at boot must be reported as one however slowly the machine starts the child,
      // so the first generation waits long for its successors. Only the hang case runs into
      // upgradeTimeout: a good generation that boots with 1.5 s takes over before it.
      const app = await start(t, { UPGRADE_TIMEOUT: '60000' })
      const load = { port: app.port, clients: 4, slowEvery: 10, slowMs: 200, durationMs: 50_000 }
      const keepAlive = startLoad({ ...load, keepAlive: true })
      const fresh = startLoad({ ...load, keepAlive: false })
      const first = app.pid
      for (const mode of ['throw', 'exit1'] as const) {
        app.setBootMode(mode)
        const rollback = await app.failedHandover()
        assert.equal(rollback.reason, 'exit', `${mode}: ${String(rollback.reason)}`)
        assert.equal((await get(app.port, '/')).pid, first, `${mode}: the old generation still serves`)
      }
      app.setBootMode(undefined)
      app.setUpgradeTimeout(1500)
      const { to: second } = await app.handover()
      await app.exitOf(first)
      app.setBootMode('hang')
      const rollback = await app.failedHandover()
      assert.equal(rollback.reason, 'timeout', `hang: ${String(rollback.reason)}`)
      assert.equal((await get(app.port, '/')).pid, second, 'hang: the old generation still serves')
      app.setBootMode(undefined)
      const { to } = await app.handover()
      assert.notEqual(to, second)
      await app.exitOf(second)
      assert.equal((await get(app.port, '/')).pid, to, 'once the old generation is gone, the new one answers')
      const reports = await Promise.all([keepAlive.stop(), fresh.stop()])
      t.diagnostic(summary('keep-alive', reports[0]))
      t.diagnostic(summary('new connection per request', reports[1]))
      assertNoFailure('keep-alive', reports[0])
      assertNoFailure('new connection per request', reports[1])
    })

    if (options.closeHooks === true) {
      test('on a handover, preClose and onClose run once, in order, after the in-flight requests finished', { timeout: 30_000 }, async (t) => {
        const app = await start(t)
        const mark = app.mark
        const slow = get(app.port, '/sleep?ms=800')
        await app.waitEvent((e) => e.event === 'request', 'the slow request to arrive', { from: mark })
        const { from } = await app.handover()
        const answer = await slow
        assert.equal(answer.status, 200)
        assert.equal(answer.pid, from)
        assert.equal((await app.exitOf(from)).code, 0)
        assertCloseHooks(app, from)
        assert.deepEqual(hooksOf(app.events(), app.pid), [], 'the new generation ran no close hook')
      })
    }
  })
}
