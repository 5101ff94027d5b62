import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeDraining, decodeListeners, decodeMessage, decodeNames, encodeDraining, encodeListeners, encodeReady } from '../../src/handover/protocol.ts'

test('round-trips the listener list and the ready message', () => {
  const list = [{ fd: 3, key: 'tcp:127.0.0.1:0' }, { fd: 4, key: 'unix:/run/app.sock' }]
  assert.deepEqual(decodeListeners(encodeListeners(list)), list)
  assert.deepEqual(decodeMessage(encodeReady(42).trim()), { v: 1, type: 'ready', pid: 42 })
})

test('rejects malformed or hostile listener lists', () => {
  for (const text of ['', 'nope', '{}', '[1]', '[{"fd":0,"key":"tcp:x:1"}]', '[{"fd":2,"key":"tcp:x:1"}]',
    '[{"fd":3.5,"key":"tcp:x:1"}]', '[{"fd":3,"key":"udp:x:1"}]', '[{"fd":3}]', '[{"fd":"3","key":"tcp:x:1"}]']) {
    assert.equal(decodeListeners(text), undefined, text)
  }
  assert.equal(decodeMessage('garbage'), undefined)
  assert.equal(decodeMessage('{"type":"ready"}'), undefined)
})

test('round-trips the draining list and the names set from env files; rejects anything else', () => {
  const draining = [{ pid: 4242, start: '1234567' }, { pid: 4300, start: '1234999' }]
  assert.deepEqual(decodeDraining(encodeDraining(draining)), draining)
  for (const text of ['', '{}', '[1]', '[{"pid":1,"start":"5"}]', '[{"pid":0,"start":"5"}]', '[{"pid":-1,"start":"5"}]',
    '[{"pid":7,"start":5}]', '[{"pid":7,"start":"x"}]', '[{"pid":7.5,"start":"5"}]']) {
    assert.equal(decodeDraining(text), undefined, text)
  }
  assert.deepEqual(decodeNames('["APP_VERSION","DB_URL"]'), ['APP_VERSION', 'DB_URL'])
  for (const text of ['', '"A"', '[1]', '["A=B"]', '[""]']) assert.equal(decodeNames(text), undefined, text)
})
