import { test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveOptions } from '../../src/options.ts'
import { GracefulError } from '../../src/errors.ts'

test('applies the documented defaults', () => {
  const o = resolveOptions()
  assert.equal(o.upgradeTimeout, 60_000)
  assert.equal(o.drainTimeout, 30_000)
  assert.equal(o.idleGrace, 1_000)
  assert.deepEqual([...o.signals], [['SIGUSR2', 'handover'], ['SIGTERM', 'shutdown'], ['SIGINT', 'shutdown']])
  assert.equal(o.autoReady, true)
  assert.equal(o.exit, true)
  assert.equal(o.context, 'auto')
  assert.deepEqual(o.envFile, [])
  assert.equal(o.maxDraining, 3)
  assert.equal(o.keepAliveTimeout, undefined)
  assert.equal(o.handoffIdleConnections, true)
  assert.equal(resolveOptions({ handoffIdleConnections: false }).handoffIdleConnections, false)
})

test('envFile takes a path or a list; maxDraining an integer >= 1 or Infinity', () => {
  assert.deepEqual(resolveOptions({ envFile: '.env' }).envFile, ['.env'])
  assert.deepEqual(resolveOptions({ envFile: ['.env', '.env.local'] }).envFile, ['.env', '.env.local'])
  assert.equal(resolveOptions({ maxDraining: Infinity }).maxDraining, Infinity)
  assert.equal(resolveOptions({ keepAliveTimeout: 65_000 }).keepAliveTimeout, 65_000)
})

test('context: auto, or any context the detector knows except the supervisor (only the supervisor says so)', () => {
  assert.equal(resolveOptions({ context: 'standalone' }).context, 'standalone')
  assert.equal(resolveOptions({ context: 'nodemon' }).context, 'nodemon')
  for (const context of ['supervisor', 'docker', '', true]) {
    assert.throws(() => resolveOptions({ context } as never), { code: 'ERR_GRACEFUL_INVALID_OPTION' }, String(context))
  }
})

test('merges the signal table and removes routes set to null', () => {
  const o = resolveOptions({ signals: { SIGHUP: 'handover', SIGINT: null } })
  assert.deepEqual(Object.fromEntries(o.signals), { SIGUSR2: 'handover', SIGTERM: 'shutdown', SIGHUP: 'handover' })
  assert.equal(resolveOptions({ signals: false }).signals.size, 0)
})

test('refuses bad input with ERR_GRACEFUL_INVALID_OPTION', () => {
  const bad: unknown[] = [
    { drainTimeout: -1 }, { upgradeTimeout: 0 }, { upgradeTimeout: Number.NaN }, { drainTimeout: '5s' },
    { idleGrace: Infinity }, { signals: { SIGUSR1: 'handover' } }, { signals: { SIGKILL: 'shutdown' } },
    { signals: { SIGUSR2: 'explode' } }, { signals: 'SIGUSR2' }, { pidFile: '' }, { pidFile: 3 },
    { autoReady: 'yes' }, { logger: console.log }, { ready: 'now' }, { drainTimout: 100 }, null,
    { envFile: '' }, { envFile: [] }, { envFile: ['.env', 3] }, { envFile: true }, { maxDraining: 0 }, { maxDraining: 2.5 },
    { maxDraining: '3' }, { keepAliveTimeout: -1 }, { keepAliveTimeout: '65s' }, { keepAliveTimeout: Infinity }
  ]
  for (const options of bad) {
    assert.throws(() => resolveOptions(options as never), (err: unknown) => {
      assert.ok(err instanceof GracefulError)
      assert.equal(err.code, 'ERR_GRACEFUL_INVALID_OPTION')
      return true
    }, JSON.stringify(options))
  }
})
