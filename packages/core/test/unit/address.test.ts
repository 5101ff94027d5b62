import { test } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalHost, listenerKey, parseListenArgs, tcpMatches } from '../../src/listeners/address.ts'
import { formatKey, hostPort, parseKey } from '../../src/listeners/key.ts'

const cb = (): void => {}

test('parses every listen() form Node accepts into the address it asks for', () => {
  const cases: Array<[unknown[], string | undefined]> = [
    [[], 'tcp:*:0'],
    [[cb], 'tcp:*:0'],
    [[8080], 'tcp:*:8080'],
    [['8080'], 'tcp:*:8080'],
    [[8080, '127.0.0.1'], 'tcp:127.0.0.1:8080'],
    [[8080, '127.0.0.1', 511, cb], 'tcp:127.0.0.1:8080'],
    [[8080, cb], 'tcp:*:8080'],
    [[{ port: 0, host: '::1' }], 'tcp:[::1]:0'],
    [[{ host: 'localhost' }, cb], 'tcp:localhost:0'],
    [['/tmp/app.sock'], 'unix:/tmp/app.sock'],
    [[{ path: '/tmp/app.sock', readableAll: true }], 'unix:/tmp/app.sock'],
    [[{ fd: 3 }], undefined],
    [[{ handle: {} }], undefined],
    [[-1], undefined],
    [[70000], undefined]
  ]
  for (const [args, key] of cases) {
    assert.equal(listenerKey(parseListenArgs(args).request), key, JSON.stringify(args))
  }
})

test('keeps the callback and the backlog', () => {
  const parsed = parseListenArgs([8080, '0.0.0.0', 128, cb])
  assert.equal(parsed.callback, cb)
  assert.deepEqual(parsed.request, { kind: 'tcp', host: '0.0.0.0', port: 8080, backlog: 128 })
  assert.equal(parseListenArgs(['/x.sock', 64]).request.kind, 'unix')
})

test('matches sockets to requests by address, treating port 0 as any port', () => {
  assert.ok(tcpMatches({ host: '127.0.0.1', port: 8080 }, '127.0.0.1', 8080))
  assert.ok(!tcpMatches({ host: '127.0.0.1', port: 8080 }, '127.0.0.1', 8081))
  assert.ok(tcpMatches({ host: '127.0.0.1', port: 0 }, '127.0.0.1', 40000))
  assert.ok(tcpMatches({ host: undefined, port: 80 }, '::', 80))
  assert.ok(tcpMatches({ host: undefined, port: 80 }, '0.0.0.0', 80))
  assert.ok(!tcpMatches({ host: undefined, port: 80 }, '127.0.0.1', 80))
  assert.ok(tcpMatches({ host: 'localhost', port: 80 }, '::1', 80))
  assert.ok(tcpMatches({ host: '0:0::1', port: 80 }, '::1', 80))
  assert.equal(canonicalHost('[0:0:0:0:0:0:0:1]'), '::1')
})

test('listener keys: one module writes them and reads every form, an IPv6 host with or without brackets', () => {
  for (const address of [
    { kind: 'tcp', host: '127.0.0.1', port: 8080 },
    { kind: 'tcp', host: undefined, port: 0 },
    { kind: 'tcp', host: 'localhost', port: 3000 },
    { kind: 'tcp', host: '::1', port: 443 },
    { kind: 'unix', path: '/run/app.sock' },
    { kind: 'unix', path: '/tmp/with:colon.sock' }
  ] as const) {
    assert.deepEqual(parseKey(formatKey(address)), address, JSON.stringify(address))
  }
  assert.deepEqual(parseKey('tcp:::1:8080'), { kind: 'tcp', host: '::1', port: 8080 })
  assert.deepEqual(parseKey('tcp:[::1]:8080'), { kind: 'tcp', host: '::1', port: 8080 })
  assert.deepEqual(parseKey('tcp:*:80'), { kind: 'tcp', host: undefined, port: 80 })
  for (const bad of ['udp:1.2.3.4:53', 'tcp:', 'tcp:host', 'tcp:host:port', 'tcp:host:123456']) assert.equal(parseKey(bad), undefined, bad)
  assert.equal(hostPort('::1', 80), '[::1]:80')
  assert.equal(hostPort('10.0.0.1', 80), '10.0.0.1:80')
  assert.equal(hostPort(undefined, 80), '*:80')
})
