import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeListeners, decodeMessage, encodeListeners, encodeReady } from '../../src/handover/protocol.ts'

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
