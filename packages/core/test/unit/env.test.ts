import { test } from 'node:test'
import assert from 'node:assert/strict'
import { captureEnvOrigin, envFilesInArgs, nextEnvironment, withEnvFiles, type EnvSource } from '../../src/handover/env.ts'

function files (map: Record<string, string>): (file: string) => string {
  return (file) => {
    const text = map[file]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' })
    return text
  }
}

function source (over: Partial<EnvSource>): EnvSource {
  return { env: {}, execArgv: [], cwd: '/srv', environ: [], fromParentFiles: [], envFiles: [], read: files({}), ...over }
}

test('finds --env-file and --env-file-if-exists in both spellings, in order', () => {
  assert.deepEqual(envFilesInArgs(['--env-file=.env', '--max-old-space-size=64', '--env-file-if-exists', 'local.env', '--env-file', 'b.env']), [
    { path: '.env', optional: false }, { path: 'local.env', optional: true }, { path: 'b.env', optional: false }
  ])
  assert.deepEqual(envFilesInArgs(['--env-files=x', '--env-file']), [])
})

test('--env-file: drops what the file gave so Node reads it again; the real environment and runtime changes stay', () => {
  // Started as `REAL=shell node --env-file=.env app.js` with .env: APP_VERSION=v1, REAL=file, GONE=1.
  const env = { PATH: '/bin', REAL: 'shell', APP_VERSION: 'v1', GONE: '1', SET_LATER: 'file', MINE: 'app' }
  const read = files({ '/srv/.env': 'APP_VERSION=v1\nREAL=file\nGONE=1\nSET_LATER=file\n' })
  const origin = captureEnvOrigin(source({ env, execArgv: ['--env-file=.env'], environ: ['PATH=/bin', 'REAL=shell'], read }))
  env.SET_LATER = 'changed by the app'
  // Deployed since: .env says APP_VERSION=v2 and no longer has GONE.
  const now = files({ '/srv/.env': 'APP_VERSION=v2\nREAL=file\nSET_LATER=file\nNEW=1\n' })
  const next = nextEnvironment(env, origin, { cwd: '/srv', envFiles: [], read: now })
  assert.deepEqual(next.env, { PATH: '/bin', REAL: 'shell', SET_LATER: 'changed by the app', MINE: 'app' })
  assert.deepEqual(next.fromFiles, [])
  assert.deepEqual(next.diff, { added: ['NEW'], removed: ['GONE'], changed: ['APP_VERSION'] })
})

test('envFile (dotenv): the file is read again and wins over what the last read gave, not over the real environment', () => {
  const env: NodeJS.ProcessEnv = { PATH: '/bin', REAL: 'shell' }
  const origin = captureEnvOrigin(source({
    env, environ: ['PATH=/bin', 'REAL=shell'], envFiles: ['.env'], read: files({ '/srv/.env': 'APP_VERSION=v1\nREAL=file\n' })
  }))
  // dotenv runs after gracefulRestart(): it never overrides.
  env.APP_VERSION = 'v1'
  const next = nextEnvironment(env, origin, { cwd: '/srv/current', envFiles: ['.env'], read: files({ '/srv/current/.env': 'APP_VERSION=v2\nREAL=file\nADDED=1\n' }) })
  assert.deepEqual(next.env, { PATH: '/bin', REAL: 'shell', APP_VERSION: 'v2', ADDED: '1' })
  assert.deepEqual(next.fromFiles.sort(), ['ADDED', 'APP_VERSION'])
  assert.deepEqual(next.diff, { added: ['ADDED'], removed: [], changed: ['APP_VERSION'] })

  // The next generation was exec'd with those values and is told which came from the file.
  const childEnv = { ...next.env }
  const childOrigin = captureEnvOrigin(source({
    env: childEnv, environ: Object.entries(childEnv).map(([k, v]) => `${k}=${String(v)}`), fromParentFiles: next.fromFiles,
    envFiles: ['.env'], read: files({ '/srv/.env': 'APP_VERSION=v2\nREAL=file\nADDED=1\n' })
  }))
  const third = nextEnvironment(childEnv, childOrigin, { cwd: '/srv', envFiles: ['.env'], read: files({ '/srv/.env': 'APP_VERSION=v3\nREAL=file\n' }) })
  assert.deepEqual(third.env, { PATH: '/bin', REAL: 'shell', APP_VERSION: 'v3' })
  assert.deepEqual(third.diff, { added: [], removed: ['ADDED'], changed: ['APP_VERSION'] })
})

test('an envFile that cannot be read at the handover throws (the handover fails); at start-up it is not required', () => {
  const origin = captureEnvOrigin(source({ envFiles: ['.env'] }))
  assert.throws(() => nextEnvironment({}, origin, { cwd: '/srv', envFiles: ['.env'], read: files({}) }), /ENOENT/)
  // A missing --env-file-if-exists is fine; a missing --env-file is Node's to report in the child.
  const node = captureEnvOrigin(source({ execArgv: ['--env-file-if-exists=a.env', '--env-file=b.env'] }))
  assert.deepEqual(nextEnvironment({ A: '1' }, node, { cwd: '/srv', envFiles: [], read: files({}) }).env, { A: '1' })
})

test('without /proc, a variable whose value is the file\'s is taken to come from the file', () => {
  const env = { FROM_FILE: 'x', REAL: 'shell' }
  const origin = captureEnvOrigin(source({ env, execArgv: ['--env-file=.env'], environ: undefined, read: files({ '/srv/.env': 'FROM_FILE=x\nREAL=file\n' }) }))
  assert.deepEqual([...origin.real].sort(), ['REAL'])
  assert.deepEqual(nextEnvironment(env, origin, { cwd: '/srv', envFiles: [], read: files({}) }).env, { REAL: 'shell' })
})

test('the supervisor adds the files\' values where the real environment has none', () => {
  const read = files({ '/srv/a.env': 'A=1\nB=file\n', '/srv/b.env': 'A=2\n' })
  assert.deepEqual(withEnvFiles({ B: 'real' }, ['a.env', 'b.env'], '/srv', read), { A: '2', B: 'real' })
  assert.throws(() => withEnvFiles({}, ['missing.env'], '/srv', read), /ENOENT/)
})
