import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { commandLineOf, compareIdentity, identityOf, ownIdentity, parseStatStartTime } from '../../src/identity.ts'

// A /proc/<pid>/stat line: field 22 (starttime) is 12345 here.
const stat = (comm: string): string =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`

test('the start time is field 22, counted after the last ")" of the command name', () => {
  assert.equal(parseStatStartTime(stat('node')), '12345')
  assert.equal(parseStatStartTime(stat('my app')), '12345', 'spaces in the name')
  assert.equal(parseStatStartTime(stat('a) S 1 2 3 (b')), '12345', 'parentheses in the name')
  assert.equal(parseStatStartTime(stat(') ) )')), '12345')
  assert.equal(parseStatStartTime('garbage'), undefined)
  assert.equal(parseStatStartTime('1 (x) S 1'), undefined, 'truncated')
})

test('identities: same process, a later process, another boot, another executable, unreadable', () => {
  const recorded = { start: '100', boot: 'b1', exe: '/usr/bin/node' }
  assert.deepEqual(compareIdentity(recorded, { start: '100', boot: 'b1', exe: '/usr/bin/node' }), { same: true })
  assert.deepEqual(compareIdentity(recorded, { start: '100', boot: 'b1' }), { same: true }, 'an exe we may not read does not decide')
  assert.equal(compareIdentity(recorded, { start: '250', boot: 'b1', exe: '/usr/bin/node' }).same, false)
  assert.equal(compareIdentity(recorded, { start: '100', boot: 'b2', exe: '/usr/bin/node' }).same, false)
  assert.equal(compareIdentity(recorded, { start: '100', boot: 'b1', exe: '/usr/bin/sleep' }).same, false)
  assert.equal(compareIdentity(recorded, {}).same, undefined, 'alive but unreadable: cannot tell')
  assert.deepEqual(compareIdentity({}, {}), { same: true }, 'nothing recorded (Windows): no check')
})

test('on this machine: our own identity, a child that differs, its command line', { skip: process.platform === 'win32' }, async (t) => {
  const own = ownIdentity()
  assert.ok(own.start !== undefined, JSON.stringify(own))
  assert.deepEqual(compareIdentity(own, identityOf(process.pid)), { same: true })
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.after(() => { child.kill('SIGKILL') })
  await once(child, 'spawn')
  const pid = child.pid as number
  // What a reused PID looks like: the file's identity, another process's start.
  const verdict = compareIdentity({ ...identityOf(pid), start: String(Number(identityOf(pid).start) - 1) }, identityOf(pid))
  assert.equal(verdict.same, false)
  assert.equal(commandLineOf(pid), 'sleep 30')
  if (process.platform === 'linux') assert.match(identityOf(pid).exe ?? '', /sleep$/)
  child.kill('SIGKILL')
  await once(child, 'exit')
  assert.deepEqual(identityOf(pid), {}, 'no process: nothing to read')
})
