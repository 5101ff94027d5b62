// Bad input at the API boundary that test/unit/options.test.ts does not cover yet. Every
// mistake must be an ERR_GRACEFUL_* error, never a TypeError from deep inside.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { resolveOptions } from '../../src/options.ts'
import { resolveHealthPaths } from '../../src/health.ts'
import { Graceful } from '../../src/lifecycle.ts'
import { GracefulError, gracefulRestart } from '../../src/index.ts'
import { FakePlatform } from '../unit/fake-platform.ts'

function assertCode (fn: () => unknown, code: string, label: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof GracefulError, `${label}: a GracefulError, got ${String(err)}`)
    assert.equal(err.code, code, label)
    return true
  }, label)
}

test('more bad options are refused with ERR_GRACEFUL_INVALID_OPTION, naming the option', () => {
  const bad: Array<[unknown, string]> = [
    [{ shutdownDelay: -1 }, 'shutdownDelay'], [{ shutdownDelay: Number.NaN }, 'shutdownDelay'],
    [{ idleGrace: -5 }, 'idleGrace'],
    // setTimeout would fire at once for anything above 2^31 - 1 ms.
    [{ drainTimeout: 2 ** 31 }, 'drainTimeout'], [{ upgradeTimeout: 2 ** 31 }, 'upgradeTimeout'],
    [{ beforeExit: 1 }, 'beforeExit'], [{ onUpgradedSocket: {} }, 'onUpgradedSocket'],
    [{ exit: 'no' }, 'exit'], [{ logger: null }, 'logger'], [{ logger: { info () {}, warn () {} } }, 'logger'],
    [{ signals: [] }, 'signals'], [{ signals: null }, 'signals'], [{ signals: { sigterm: 'shutdown' } }, 'signals.sigterm'],
    [{ signals: { SIGTERM: 'restart' } }, 'signals.SIGTERM'],
    [{ pidFile: {} }, 'pidFile'], ['fast', 'options'], [5, 'options']
  ]
  for (const [options, name] of bad) {
    assert.throws(() => resolveOptions(options as never), (err: unknown) => {
      assert.ok(err instanceof GracefulError)
      assert.equal(err.code, 'ERR_GRACEFUL_INVALID_OPTION')
      assert.ok(err.message.includes(`"${name}"`), `${err.message} names ${name}`)
      return true
    }, JSON.stringify(options))
  }
})

test('health paths: anything but a boolean or an object of absolute paths is refused', () => {
  for (const value of ['yes', 5, null, { live: 5 }, { ready: '' }, { ready: 'readyz' }]) {
    assertCode(() => resolveHealthPaths(value as never), 'ERR_GRACEFUL_INVALID_OPTION', JSON.stringify(value))
  }
})

test('gracefulRestart() with options a second time throws ERR_GRACEFUL_ALREADY_CREATED; without options it returns the same instance', () => {
  const first = gracefulRestart({ signals: false, logger: false, exit: false })
  try {
    assert.equal(gracefulRestart(), first)
    assertCode(() => gracefulRestart({ drainTimeout: 5 }), 'ERR_GRACEFUL_ALREADY_CREATED', 'second call with options')
  } finally {
    first.close()
  }
})

test('attach() of a server that already listens is refused with ERR_GRACEFUL_INVALID_OPTION', async (t) => {
  const g = new Graceful({ signals: false, logger: false, exit: false }, new FakePlatform())
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  assertCode(() => g.attach(server), 'ERR_GRACEFUL_INVALID_OPTION', 'listening server')
})

test('an array (or another non-plain object) as options is refused instead of silently meaning "no options"', {
}, () => {
  for (const options of [[], ['pidFile', '/run/app.pid'], new Map([['drainTimeout', 5]])]) {
    assertCode(() => resolveOptions(options as never), 'ERR_GRACEFUL_INVALID_OPTION', Object.prototype.toString.call(options))
  }
})

test('attach() of something that is not a net.Server is refused with ERR_GRACEFUL_INVALID_OPTION, not a TypeError', {
}, () => {
  const g = new Graceful({ signals: false, logger: false, exit: false }, new FakePlatform())
  for (const value of [undefined, null, {}, 5, { listen () {}, listening: false }]) {
    assertCode(() => g.attach(value as never), 'ERR_GRACEFUL_INVALID_OPTION', String(value))
  }
})
