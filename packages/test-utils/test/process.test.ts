import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import {
  fdCount,
  freePort,
  isAlive,
  killMarked,
  newMarker,
  processesWithMarker,
  readPidFile,
  rssKb,
  startNode,
  tracker,
  waitFor,
  waitForPidExit
} from '../src/index.ts'

const bounded = { timeout: 20_000 }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-test-utils-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

// Like a generation that hands over: starts a successor (sharing our stdout), and with
// `exit` leaves it orphaned.
const parentScript = path.join(dir, 'parent.mjs')
fs.writeFileSync(parentScript, `
import { spawn } from 'node:child_process'
const gc = spawn(process.execPath, ['-e', 'console.log("grandchild " + process.pid); setInterval(() => {}, 1000)'], { stdio: 'inherit', detached: true })
console.log('parent ' + process.pid + ' spawned ' + gc.pid)
console.error('to stderr ' + (process.env.EXTRA ?? 'unset'))
if (process.argv.includes('exit')) setTimeout(() => process.exit(3), 100)
else setInterval(() => {}, 1000)
`)

const pidOf = (line: string): number => Number(line.split(' ').at(-1))

test('startNode + processesWithMarker + killMarked reach the grandchild', bounded, async () => {
  const marker = newMarker()
  const started = startNode(parentScript, { marker, env: { EXTRA: 'set' } })
  try {
    const parentLine = await started.waitForLine((l) => l.startsWith('parent '))
    const grandchild = pidOf(parentLine)
    assert.equal(Number(parentLine.split(' ')[1]), started.pid)
    await started.waitForLine((l) => l === `grandchild ${grandchild}`)
    await started.waitForLine((l) => l === 'to stderr set')

    assert.deepEqual(processesWithMarker(marker), [started.pid, grandchild].sort((a, b) => a - b))
    assert.ok(isAlive(grandchild))

    const killed = killMarked(marker)
    assert.deepEqual(killed, [started.pid, grandchild].sort((a, b) => a - b))
    assert.deepEqual(await started.exited, { code: null, signal: 'SIGKILL' })
    // Not our child: found dead through /proc (possibly as an unreaped zombie).
    await waitForPidExit(grandchild, 5000)
    assert.equal(isAlive(grandchild), false)
    assert.deepEqual(processesWithMarker(marker), [])
  } finally {
    killMarked(marker)
  }
})

test('an orphaned grandchild is still found by marker; waitForLine fails fast on exit', bounded, async () => {
  const marker = newMarker()
  const started = startNode(parentScript, { marker, args: ['exit'], env: { EXTRA: undefined } })
  try {
    const grandchild = pidOf(await started.waitForLine((l) => l.startsWith('parent ')))
    await started.waitForLine((l) => l === 'to stderr unset')
    const t0 = Date.now()
    await assert.rejects(started.waitForLine((l) => l === 'never printed', 10_000), /exited \(code 3/)
    assert.ok(Date.now() - t0 < 2000, 'waitForLine waited for its timeout instead of the exit')
    assert.deepEqual(await started.exited, { code: 3, signal: null })
    assert.equal(isAlive(started.pid), false)
    assert.deepEqual(processesWithMarker(marker), [grandchild])
    assert.deepEqual(killMarked(marker), [grandchild])
    await waitForPidExit(grandchild, 5000)
  } finally {
    killMarked(marker)
  }
})

test('tracker kills everything it started when the test ends', bounded, async (t) => {
  let pids: number[] = []
  let marker = ''
  await t.test('inner', async (t2) => {
    const track = tracker(t2)
    marker = track.marker
    const started = track.startNode(parentScript)
    const grandchild = pidOf(await started.waitForLine((l) => l.startsWith('parent ')))
    pids = [started.pid, grandchild]
    assert.equal(processesWithMarker(marker).length, 2)
  })
  // The inner test's after hook has run by now.
  assert.equal(pids.length, 2)
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} survived`)
  assert.deepEqual(processesWithMarker(marker), [])
})

test('waitForLine times out with the output so far', bounded, async (t) => {
  const track = tracker(t)
  const started = track.startNode(parentScript)
  await started.waitForLine((l) => l.startsWith('parent '))
  await assert.rejects(started.waitForLine((l) => l === 'never printed', 300), (err: Error) => {
    assert.match(err.message, /no matching line within 300 ms/)
    assert.match(err.message, /parent \d+ spawned/)
    return true
  })
  await track.killAll()
  assert.equal(isAlive(started.pid), false)
})

test('waitFor resolves with the value and names what it waited for on timeout', bounded, async () => {
  let n = 0
  assert.equal(await waitFor(() => ++n >= 3 && n, { timeoutMs: 1000, intervalMs: 5, what: 'n' }), 3)
  assert.equal(await waitFor(async () => 'x', { timeoutMs: 1000, what: 'async' }), 'x')
  await assert.rejects(waitFor(() => false, { timeoutMs: 100, what: 'the moon' }), /timed out after 100 ms waiting for the moon/)
  // An fn that never settles still loses to the deadline.
  await assert.rejects(waitFor(() => new Promise<undefined>(() => {}), { timeoutMs: 100, what: 'a hang' }), /a hang/)
  await assert.rejects(waitFor(() => { throw new Error('boom') }, { timeoutMs: 1000, what: 'x' }), /boom/)
  await assert.rejects(waitForPidExit(process.pid, 100), new RegExp(`pid ${process.pid} to exit`))
})

test('/proc readers, pid files and free ports', bounded, async () => {
  assert.ok(isAlive(process.pid))
  assert.throws(() => isAlive(0), RangeError)
  assert.throws(() => isAlive(-1), RangeError)
  assert.ok(fdCount(process.pid) >= 3)
  assert.ok(rssKb(process.pid) > 1000)

  const pidFile = path.join(dir, 'server.pid')
  assert.equal(readPidFile(pidFile), undefined)
  fs.writeFileSync(pidFile, '')
  assert.equal(readPidFile(pidFile), undefined)
  fs.writeFileSync(pidFile, '12x')
  assert.equal(readPidFile(pidFile), undefined)
  fs.writeFileSync(pidFile, '4242\n')
  assert.equal(readPidFile(pidFile), 4242)

  const port = await freePort()
  assert.ok(port > 0 && port < 65536)
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  await new Promise((resolve) => server.close(resolve))
})
