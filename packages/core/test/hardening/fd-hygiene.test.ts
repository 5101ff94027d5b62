// What a generation passes to the next besides its listeners: nothing. Node 22+ reads the
// CA certificates on a thread once node:tls is loaded (an ESM import of node:http loads
// it), through an fd without O_CLOEXEC; a handover spawned during that read used to hand
// the file to every later generation. Here the read is held open on purpose: the CA file
// is a FIFO that the test feeds, so the spawn lands inside it every time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { openFds, processesWithMarker, tracker, waitFor } from '@graceful-restart/test-utils'
import { events, startApp, tempDir, waitGone } from '../integration/app.ts'
import { sleep, tlsFiles } from './helpers.ts'

const major = Number(process.versions.node.split('.')[0])

function fdsOpenOn (pid: number, file: string): string[] {
  return [...openFds(pid)].filter(([, target]) => target === file).map(([fd]) => fd)
}

/** Opens the FIFO for writing once some process reads it (a non-blocking open fails before). */
function writerFor (fifo: string): Promise<number> {
  return waitFor(() => {
    try { return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK) } catch { return undefined }
  }, { timeoutMs: 10_000, intervalMs: 5, what: `a reader of ${fifo}` })
}

test('a handover while Node reads the CA file on its thread hands no fd of it to the next generation', {
  timeout: 60_000,
  skip: major < 22 ? `Node ${major} reads the CA file on the main thread, before any app code runs` : false
}, async (t) => {
  const track = tracker(t)
  const dir = tempDir(t)
  const pem = fs.readFileSync(tlsFiles(dir).TLS_CERT)
  const fifo = path.join(dir, 'extra-ca.pem')
  execFileSync('mkfifo', [fifo])

  const app = await startApp(track, dir, { NODE_EXTRA_CA_CERTS: fifo })
  // The first generation's loader thread has the file open and waits for the rest of it.
  const writer = await writerFor(fifo)
  fs.writeSync(writer, pem.subarray(0, 100))
  await waitFor(() => fdsOpenOn(app.pid, fifo).length > 0, { timeoutMs: 5000, what: 'the loader thread holding the CA file' })

  const old = app.pid
  process.kill(old, 'SIGUSR2')
  // Unfixed, the child is spawned now, while the read is still open.
  await sleep(500)
  const early = processesWithMarker(track.marker).filter((pid) => pid !== old)
  const inherited = early.map((pid) => ({ pid, fds: fdsOpenOn(pid, fifo) })).filter((c) => c.fds.length > 0)
  fs.writeSync(writer, pem.subarray(100))
  fs.closeSync(writer)

  // Every later process reads the FIFO too, on its own: give each its certificate.
  const feeding = (async () => {
    for (let i = 0; i < 3; i++) {
      let fd: number
      try { fd = await writerFor(fifo) } catch { return }
      fs.writeSync(fd, pem)
      fs.closeSync(fd)
    }
  })()
  const spawned = await waitFor(() => events(app.started, 'handover:spawn').find((e) => e.pid === old), { timeoutMs: 10_000, what: 'the spawn' })
  await waitGone([old])
  const next = Number(spawned.childPid)
  await waitFor(() => fdsOpenOn(next, fifo).length === 0 || undefined, { timeoutMs: 5000, what: `pid ${next} to finish its own read` }).catch(() => {})
  const held = fdsOpenOn(next, fifo)
  // A leaked copy is never closed: it outlives the next generation's own read.
  await feeding
  assert.deepEqual(inherited, [], 'no child exists, or holds the file, while the parent\'s read is open')
  assert.deepEqual(held, [], `the next generation (pid ${next}) holds no fd of ${fifo}`)
  assert.equal(events(app.started, 'handover:rollback').length, 0)
})
