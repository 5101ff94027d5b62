// A tiny bench: this project's contender loses no request across handovers, the naive stop +
// start loses some, and the report renders. Real processes on loopback, about 20 s.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { contenderById } from '../src/contenders.ts'
import { classify } from '../src/load.ts'
import { fullScenario } from '../src/cli.ts'
import { writeResults, terminalTable, type BenchResults } from '../src/report.ts'
import { runScenario, type RestartRecord, type ScenarioConfig, type ScenarioResult } from '../src/scenario.ts'
import { linearFit, percentile } from '../src/stats.ts'

const tiny: ScenarioConfig = {
  ...fullScenario(),
  restarts: 2,
  clients: 16,
  warmupMs: 500,
  baselineMs: 300,
  intervalMs: 300,
  tailMs: 300,
  coldStartSamples: 1,
  stopTimeoutMs: 3_000,
  newGenTimeoutMs: 15_000,
  completeTimeoutMs: 20_000
}

function explain (s: ScenarioResult): string {
  return JSON.stringify({ failures: s.failures, note: s.note, samples: s.errorSamples.slice(0, 5), restarts: s.restarts }, null, 1)
}

/**
 * A scenario result as runScenario() returns it, made up here so that the report tests
 * depend neither on the scenario tests having run first nor on their numbers.
 */
function made (contender: string, label: string, failed: number): ScenarioResult {
  const restart = (index: number, signalAt: number): RestartRecord => ({
    index, signalAt, firstAnswerAt: signalAt + 90, oldGoneAt: signalAt + 400, handoverMs: 90, completeMs: 400, internalMs: 80, drainMs: 300,
    oldPids: [1000 + index], newPid: 1001 + index, stopTimedOut: false, tcpSockets: 40, error: null
  })
  const ok = Array.from({ length: 17 }, (_, i) => (i === 5 || i === 11 ? 40 : 100))
  const refused = ok.map((_, i) => (failed > 0 && (i === 5 || i === 11) ? failed / 2 : 0))
  return {
    contender, label, ours: contender === 'core', mode: 'keep-alive', status: 'ok', note: null, clients: tiny.clients,
    restartsPlanned: 2, restarts: [restart(0, 500), restart(1, 1100)],
    requests: 1500 + failed, ok: 1500, failed, failures: { refused: failed, reset: 0, timeout: 0, non2xx: 0, other: 0 },
    errorSamples: failed > 0 ? [{ kind: 'refused', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED', atMs: 520, path: '/' }] : [],
    connections: tiny.clients,
    coldStartUnderLoadMs: [80, 85], handoverMedianMs: 90, coldStartMedianMs: 82.5, handoverOverColdMs: 7.5,
    latency: { inRestart: { n: 80, p50: 1, p99: 4, max: 9 }, outside: { n: 1420, p50: 0.8, p99: 3, max: 6 }, slowMax: 310 },
    throughput: { avgRps: 880, steadyRps: 1000, worstRestartRps: 400 },
    series: { bucketMs: 100, ok, failed: { refused } },
    windows: [[500, 900], [1100, 1500]],
    durationMs: 1700,
    foreignCpu: 0.1
  }
}

test('this project (core) loses no request across handovers, keep-alive clients', { timeout: 60_000 }, async () => {
  const s = await runScenario(contenderById('core'), 'keep-alive', tiny)
  assert.equal(s.status, 'ok', explain(s))
  assert.equal(s.restarts.length, 2, explain(s))
  for (const r of s.restarts) {
    assert.equal(r.error, null, explain(s))
    assert.ok(r.handoverMs !== null && r.handoverMs > 0, explain(s))
    assert.notEqual(r.newPid, r.oldPids[0])
  }
  assert.ok(s.requests > 500, `only ${s.requests} requests`)
  assert.equal(s.failed, 0, explain(s))
})

test('naive stop + start loses requests', { timeout: 60_000 }, async () => {
  const s = await runScenario(contenderById('naive'), 'keep-alive', tiny)
  assert.equal(s.restarts.length, 2, explain(s))
  assert.ok(s.failed > 0, `naive stop + start lost nothing: ${explain(s)}`)
  assert.ok(s.failures.refused + s.failures.reset > 0, explain(s))
})

test('the results render as Markdown, JSON and SVG', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-bench-test-'))
  try {
    const r: BenchResults = {
      meta: { run: 'test', date: new Date().toISOString(), node: process.versions.node, cpus: 2, cpuModel: 'x', platform: 'linux', commit: null, durationMs: 1, scenario: tiny, scaling: null },
      coldStartIdle: {},
      scenarios: [
        made('core', 'graceful-restart (core, node:http)', 0),
        made('naive', 'naive stop + start', 120),
        { ...made('pm2', 'PM2 cluster mode', 0), status: 'unavailable', note: 'pm2 is not installed', restarts: [], requests: 0, ok: 0 }
      ],
      scaling: null
    }
    const files = writeResults(r, dir, 'test')
    const md = fs.readFileSync(path.join(dir, 'test.md'), 'utf8')
    assert.match(md, /pm2 is not installed/, 'an unavailable contender is listed with the reason')
    assert.match(md, /naive stop \+ start/)
    const svg = fs.readFileSync(path.join(dir, 'test-restarts.svg'), 'utf8')
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    assert.ok(!svg.includes('NaN'), 'no NaN coordinates in the chart')
    assert.equal(files.length, 3)
    assert.match(terminalTable(r), /contender/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('failure kinds and statistics', () => {
  assert.equal(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).kind, 'refused')
  assert.equal(classify(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })).kind, 'reset')
  assert.equal(classify(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).kind, 'timeout')
  assert.equal(classify(new Error('weird')).kind, 'other')
  assert.equal(percentile([1, 2, 3, 4], 50), 2)
  assert.equal(percentile([1, 2, 3, 4], 99), 4)
  const f = linearFit([0, 1, 2, 3], [1, 3, 5, 7])
  assert.equal(f.slope, 2)
  assert.equal(f.intercept, 1)
  assert.equal(f.r2, 1)
})
