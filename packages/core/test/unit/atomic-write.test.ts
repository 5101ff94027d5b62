import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { writeFileAtomic } from '../../src/atomic-write.ts'
import { writePidFile } from '../../src/pidfile.ts'
import { writeStatus, type SupervisorStatus } from '../../src/supervisor/status.ts'

function tempDir (t: { after: (fn: () => unknown) => unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-atomic-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

// The "random" suffixes the writer will draw, in order; the test plants links at them.
function forceSuffixes (t: { after: (fn: () => unknown) => unknown }, suffixes: string[]): void {
  const queue = [...suffixes]
  const original = crypto.randomBytes.bind(crypto)
  const fake = mock.method(crypto, 'randomBytes', (size: number) => {
    const next = queue.shift()
    return next === undefined ? original(size) : Buffer.from(next, 'hex')
  })
  t.after(() => fake.mock.restore())
}

function plant (dir: string, name: string, suffix: string, target: string): void {
  fs.symlinkSync(target, path.join(dir, `.${name}.${suffix}.tmp`))
}

const STATUS = { kind: 'supervisor', pid: 1, identity: {}, reloadSignal: 'SIGUSR2', lastHandover: undefined } as unknown as SupervisorStatus

for (const [what, name, write] of [
  ['PID file', 'app.pid', (file: string) => writePidFile(file, 4242)],
  ['status file', 'app.pid.json', (file: string) => writeStatus(file, STATUS)],
  ['any file', 'data', (file: string) => writeFileAtomic(file, 'new\n', 0o644)]
] as const) {
  test(`${what}: a symlink planted at the temporary name is not followed; another name is used`, (t) => {
    const dir = tempDir(t)
    const victim = path.join(dir, 'victim')
    fs.writeFileSync(victim, 'precious\n', { mode: 0o600 })
    const first = 'aaaaaaaaaaaaaaaa'
    plant(dir, name, first, victim)
    forceSuffixes(t, [first])
    write(path.join(dir, name))
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched')
    assert.equal(fs.statSync(victim).mode & 0o777, 0o600)
    assert.ok(fs.lstatSync(path.join(dir, `.${name}.${first}.tmp`)).isSymbolicLink(), 'the planted link is left alone')
    assert.ok(fs.readFileSync(path.join(dir, name), 'utf8').length > 0, 'the file itself was written')
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [`.${name}.${first}.tmp`], 'no temporary file left behind')
  })
}

test('when every temporary name is taken the write fails and touches nothing', (t) => {
  const dir = tempDir(t)
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious\n')
  const suffixes = Array.from({ length: 8 }, (_, i) => String(i).repeat(16))
  for (const s of suffixes) plant(dir, 'app.pid', s, victim)
  forceSuffixes(t, suffixes)
  assert.throws(() => writePidFile(path.join(dir, 'app.pid'), 4242), (err: unknown) => (err as { code?: string }).code === 'ERR_GRACEFUL_PIDFILE')
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n')
  assert.equal(fs.existsSync(path.join(dir, 'app.pid')), false)
})

test('a symlink at the final name is replaced, not written through', (t) => {
  const dir = tempDir(t)
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'precious\n')
  fs.symlinkSync(victim, path.join(dir, 'app.pid'))
  writePidFile(path.join(dir, 'app.pid'), 4242)
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n')
  assert.equal(fs.lstatSync(path.join(dir, 'app.pid')).isFile(), true)
  assert.equal(fs.readFileSync(path.join(dir, 'app.pid'), 'utf8'), '4242\n')
})

test('the mode is exactly the one asked for, whatever the umask', (t) => {
  const dir = tempDir(t)
  const previous = process.umask(0o077)
  t.after(() => process.umask(previous))
  writePidFile(path.join(dir, 'app.pid'), 1)
  writeStatus(path.join(dir, 'app.pid.json'), STATUS)
  assert.equal(fs.statSync(path.join(dir, 'app.pid')).mode & 0o777, 0o644)
  assert.equal(fs.statSync(path.join(dir, 'app.pid.json')).mode & 0o777, 0o644)
})
