import assert from 'node:assert/strict'
import { test } from 'node:test'
import { answeredPids, waitForAnswerFrom } from '../src/index.ts'

test('answeredPids names the pids that answered, by pid, list or predicate', () => {
  const byPid = { 10: 3, 11: 0, 12: 1, unknown: 4 }
  assert.deepEqual(answeredPids(byPid, 10), [10])
  assert.deepEqual(answeredPids(byPid, 11), [], 'a zero count is no answer')
  assert.deepEqual(answeredPids(byPid, [11, 12, 13]), [12])
  assert.deepEqual(answeredPids(byPid, (pid) => pid > 10), [12], 'answers without an x-pid match nothing')
})

test('waitForAnswerFrom waits until every load has an answer from the pid, and says which load it still waits for', { timeout: 10_000 }, async () => {
  const a = { byPid: {} as Record<string, number> }
  const b = { byPid: { 7: 1 } as Record<string, number> }
  const loads = [{ snapshot: () => a }, { snapshot: () => b }]
  const waiting = waitForAnswerFrom(loads, 7, { timeoutMs: 5000 })
  setTimeout(() => { a.byPid = { 7: 2 } }, 50)
  await waiting
  await assert.rejects(waitForAnswerFrom(loads, 8, { timeoutMs: 100, what: 'pid 8' }), /an answer from pid 8.*still waiting: load 0 .*load 1/)
  await assert.rejects(waitForAnswerFrom(loads, 7, { timeoutMs: 100, onlyNew: true }), /a new answer from pid 7/, 'answers counted before the call do not count')
  const again = waitForAnswerFrom(loads, [7], { timeoutMs: 5000, onlyNew: true })
  setTimeout(() => { a.byPid = { 7: 3 }; b.byPid = { 7: 2 } }, 50)
  await again
})
