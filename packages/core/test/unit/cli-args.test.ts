// The command line of `graceful-restart`, through `run()` as main.ts calls it: which flags
// take a value, `--flag=value`, repeated flags, `--`, and the coded error each mistake gets.
// Every case here fails (or ends) before a supervisor would start or a process be signalled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { run } from '../../src/cli/commands.ts'
import { GracefulError } from '../../src/errors.ts'

function io (): { io: Parameters<typeof run>[1], out: () => string } {
  let text = ''
  const sink = new Writable({ write (chunk, _enc, done) { text += String(chunk); done() } })
  return { io: { stdout: sink, stderr: sink, env: {}, exit: () => { throw new Error('exit called') } }, out: () => text }
}

/** Resolves with what `run` printed and returned. */
async function ok (args: string[]): Promise<{ code: number | undefined, out: string }> {
  const { io: cli, out } = io()
  const code = await run(args, cli)
  return { code, out: out() }
}

/** The first line of the ERR_GRACEFUL_INVALID_OPTION message `run` rejects with (the usage follows it). */
async function refused (args: string[]): Promise<string> {
  const { io: cli } = io()
  try {
    await run(args, cli)
  } catch (err) {
    assert.ok(err instanceof GracefulError, String(err))
    assert.equal(err.code, 'ERR_GRACEFUL_INVALID_OPTION', `${args.join(' ')}: ${err.message}`)
    return err.message.split('\n')[0] as string
  }
  assert.fail(`${args.join(' ')} was accepted`)
}

const missing = path.join(os.tmpdir(), `gr-cli-args-${process.pid}`, 'none.pid')

test('no command prints the usage (exit 2); --help and help print it (exit 0)', async () => {
  for (const [args, code] of [[[], 2], [['--help'], 0], [['help'], 0]] as const) {
    const r = await ok([...args])
    assert.equal(r.code, code)
    assert.match(r.out, /^usage:\n {2}graceful-restart run \[options\] -- <command> \[args\.\.\.\]/)
  }
})

test('a value after the flag or after =, booleans with or without =', async () => {
  assert.ok(!fs.existsSync(missing))
  for (const args of [['--pid-file', missing], [`--pid-file=${missing}`]]) {
    assert.deepEqual(await ok(['status', ...args]), { code: 3, out: `not running (no PID file ${missing})\n` })
  }
  for (const json of ['--json', '--json=', '--json=no']) {
    assert.deepEqual(await ok(['status', json, '--pid-file', missing]), { code: 3, out: '{"alive":false}\n' }, json)
  }
  // `--status-file` with `=` in the value: split at the first `=` only.
  assert.deepEqual(await ok(['status', '--pid-file', missing, '--status-file=/tmp/a=b.json']), { code: 3, out: `not running (no PID file ${missing})\n` })
})

test('unknown options, positionals before --, and a flag without its value', async () => {
  assert.equal(await refused(['status', '--frob']), 'unknown option "--frob"')
  assert.equal(await refused(['status', '--frob=1', '--pid-file', missing]), 'unknown option "--frob=1"')
  assert.equal(await refused(['status', '-x']), 'unknown option "-x"')
  assert.equal(await refused(['status', '-abc']), 'unknown option "-abc"')
  assert.equal(await refused(['status', '-']), 'unknown option "-"')
  assert.equal(await refused(['status', 'positional']), 'unknown option "positional"')
  assert.equal(await refused(['run', 'node', 'app.js']), 'unknown option "node"')
  assert.equal(await refused(['status', '--pid-file']), '--pid-file needs a value')
  assert.equal(await refused(['reload', '--pid-file', missing, '--timeout']), '--timeout needs a value')
  // The flags are read before the command: a bad flag of an unknown command names the flag.
  assert.equal(await refused(['frobnicate', '--bad']), 'unknown option "--bad"')
  assert.equal(await refused(['frobnicate']), 'unknown command "frobnicate"')
})

test('a valued flag takes the next argument whatever it is, -- and dashes included', async () => {
  // `--listen --` takes `--` as the address; `node` then is an option.
  assert.equal(await refused(['run', '--listen', '--', 'node']), 'unknown option "node"')
  assert.equal(await refused(['reload', '--pid-file', missing, '--timeout', '-5']), '--timeout must be an integer >= 1, got "-5"')
  assert.deepEqual(await ok(['status', '--pid-file', '--json']), { code: 3, out: 'not running (no PID file --json)\n' })
})

test('flags given twice: a repeatable one collects, another is refused', async () => {
  assert.equal(await refused(['status', '--pid-file', 'a', '--pid-file', 'b']), '--pid-file given more than once')
  assert.equal(await refused(['status', '--pid-file=a', '--pid-file=b']), '--pid-file given more than once')
  assert.equal(await refused(['run', '--workers=2', '--workers', '3', '--', 'node']), '--workers given more than once')
  // --watch repeats; with --fetch it is refused as a pair, which shows both were read.
  assert.equal(await refused(['run', '--watch', 'a', '--watch=b', '--fetch', 'http://127.0.0.1/m.json', '--', 'node']),
    '--watch and --fetch do not go together: --fetch reloads by itself once a release is in place')
  // A boolean given twice is still one boolean.
  assert.deepEqual(await ok(['status', '--json', '--json', '--pid-file', missing]), { code: 3, out: '{"alive":false}\n' })
})

test('numbers: integers at or above their minimum, checked in a fixed order', async () => {
  assert.equal(await refused(['run', '--workers', '0', '--', 'node']), '--workers must be an integer >= 1, got "0"')
  assert.equal(await refused(['run', '--workers=1.5', '--', 'node']), '--workers must be an integer >= 1, got "1.5"')
  assert.equal(await refused(['run', '--surge', 'x', '--', 'node']), '--surge must be an integer >= 1, got "x"')
  assert.equal(await refused(['run', '--upgrade-timeout', '0', '--', 'node']), '--upgrade-timeout must be an integer >= 1, got "0"')
  assert.equal(await refused(['run', '--drain-timeout', '-1', '--', 'node']), '--drain-timeout must be an integer >= 0, got "-1"')
  assert.equal(await refused(['run', '--max-draining', '0', '--', 'node']), '--max-draining must be an integer >= 1, got "0"')
  assert.equal(await refused(['run', '--keep', '0', '--', 'node']), '--keep must be an integer >= 1, got "0"')
  assert.equal(await refused(['run', '--watch-debounce', 'x', '--', 'node']), '--watch-debounce must be an integer >= 0, got "x"')
  assert.equal(await refused(['reload', '--pid-file', missing, '--timeout', '1e3']), '--timeout must be an integer >= 1, got "1e3"')
  assert.equal(await refused(['stop', '--pid-file', missing, '--timeout=0']), '--timeout must be an integer >= 1, got "0"')
  // The self-upgrade flags first, then the identity flags, then the rest.
  assert.equal(await refused(['run', '--workers', '0', '--group', 'staff', '--keep', '0', '--', 'node']), '--keep must be an integer >= 1, got "0"')
  assert.equal(await refused(['run', '--workers', '0', '--group', 'staff', '--', 'node']), '--group sets the workers\' group: it needs --user')
  assert.equal(await refused(['run', '--workers', '0', '--surge', '0', '--', 'node']), '--workers must be an integer >= 1, got "0"')
})

test('run needs a command after --; reload, stop and status need --pid-file', async () => {
  assert.equal(await refused(['run']), 'run needs a command after --')
  assert.equal(await refused(['run', '--workers', '2', '--']), 'run needs a command after --')
  for (const command of ['reload', 'stop', 'status']) assert.equal(await refused([command]), '--pid-file is required')
  assert.equal(await refused(['run', '--watch-debounce', '10', '--', 'node']), '--watch-debounce needs --watch')
})
