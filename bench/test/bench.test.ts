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
import { runScenario, type ScenarioConfig, type ScenarioResult } from '../src/scenario.ts'
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

const results: ScenarioResult[] = []

test('this project (core) loses no request across handovers, keep-alive clients', { timeout: 60_000 }, async () => {
  const s = await runScenario(contenderById('core'), 'keep-alive', tiny)
  results.push(s)
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
  results.push(s)
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
      scenarios: [...results, { ...(results[0] as ScenarioResult), contender: 'supervisor', label: 'graceful-restart supervisor', status: 'unavailable', note: 'not yet built (issue 5)', restarts: [] }],
      scaling: null
    }
    const files = writeResults(r, dir, 'test')
    const md = fs.readFileSync(path.join(dir, 'test.md'), 'utf8')
    assert.match(md, /not yet built/)
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
