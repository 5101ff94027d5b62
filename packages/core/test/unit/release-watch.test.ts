// ReleaseWatcher on a real filesystem, in process: the cases fs.watch alone gets wrong.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ReleaseWatcher, type ReleaseChange } from '../../src/release/watch.ts'

function tmp (t: { after: (fn: () => unknown) => unknown }): string {
  // The watcher holds neither the loop (unref'd timers, non-persistent watches) nor so a
  // draining process: the test keeps itself alive.
  const alive = setInterval(() => {}, 1000)
  t.after(() => clearInterval(alive))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-watch-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function swap (link: string, target: string): void {
  const next = `${link}.next`
  fs.symlinkSync(target, next)
  fs.renameSync(next, link)
}

/** A watcher whose changes and comparisons can be awaited one by one. */
function watch (t: { after: (fn: () => unknown) => unknown }, paths: string[], opts: { pollMs?: number, fail?: boolean } = {}) {
  const changes: ReleaseChange[] = []
  const checks: string[][] = []
  let wake: () => void = () => {}
  const next = (): Promise<void> => new Promise((resolve) => { wake = resolve })
  const w = new ReleaseWatcher({
    paths,
    debounceMs: 30,
    pollMs: opts.pollMs ?? 0,
    onChange: async (change) => {
      changes.push(change)
      if (opts.fail === true) throw new Error('handover failed')
    },
    onChecked: (changed) => { checks.push(changed); wake() }
  })
  t.after(() => w.stop())
  return { w, changes, checks, next }
}

test('a symlink swap, and a file under a swapped symlink, are seen; the watch follows the new target', { timeout: 10_000 }, async (t) => {
  const root = tmp(t)
  for (const v of ['v1', 'v2', 'v3']) {
    fs.mkdirSync(path.join(root, v))
    fs.writeFileSync(path.join(root, v, 'package.json'), `{"version":"${v}"}`)
  }
  fs.symlinkSync('v1', path.join(root, 'current'))
  const { w, changes, next } = watch(t, [path.join(root, 'current', 'package.json')])
  w.start()
  for (const v of ['v2', 'v3']) {
    const checked = next()
    swap(path.join(root, 'current'), v)
    await checked
    assert.deepEqual(changes.map((c) => c.paths.length), v === 'v2' ? [1] : [1, 1])
  }
  // The old target (v1) changing no longer matters; the new one (v3) does.
  fs.writeFileSync(path.join(root, 'v1', 'package.json'), '{"version":"v1b"}')
  const checked = next()
  fs.writeFileSync(path.join(root, 'v3', 'package.json'), '{"version":"v3b"}')
  await checked
  assert.equal(changes.length, 3)
})

/** What an editor does on save: a new file beside, renamed over the old one (a new inode). */
function replaceByRename (file: string, content: string): void {
  fs.writeFileSync(`${file}.swp`, content)
  fs.renameSync(`${file}.swp`, file)
}

test("an editor's rename-into-place is seen; a write of the same bytes is not a change", { timeout: 10_000 }, async (t) => {
  const root = tmp(t)
  const stamp = path.join(root, 'BUILD')
  fs.writeFileSync(stamp, 'build 1')
  const { w, changes, checks, next } = watch(t, [stamp])
  w.start()
  await next() // the first comparison, at start
  let checked = next()
  fs.writeFileSync(stamp, 'build 1')
  await checked
  assert.deepEqual(checks.at(-1), [], 'same content: nothing to do')
  assert.equal(changes.length, 0)
  checked = next()
  replaceByRename(stamp, 'build 2')
  await checked
  assert.deepEqual(changes, [{ paths: [stamp] }])
  // The watch survived the inode change.
  checked = next()
  replaceByRename(stamp, 'build 3')
  await checked
  assert.equal(changes.length, 2)
})

test('many writes into a watched directory settle into one change; a failed one is not retried until the next change', { timeout: 10_000 }, async (t) => {
  const root = tmp(t)
  const dist = path.join(root, 'dist')
  fs.mkdirSync(dist)
  const { w, changes, next } = watch(t, [dist], { fail: true })
  w.start()
  await next()
  const checked = next()
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dist, `chunk-${i}.js`), String(i))
  await checked
  assert.equal(changes.length, 1)
  // An unrelated file beside the watched directory does not count.
  const again = next()
  fs.writeFileSync(path.join(root, 'app.log'), 'noise')
  fs.writeFileSync(path.join(dist, 'chunk-0.js'), 'changed')
  await again
  assert.equal(changes.length, 2)
})

test('without fs events, the poll still sees a change', { timeout: 10_000 }, async (t) => {
  const root = tmp(t)
  const file = path.join(root, 'stamp')
  fs.writeFileSync(file, 'a')
  let changed: (c: ReleaseChange) => void = () => {}
  const seen = new Promise<ReleaseChange>((resolve) => { changed = resolve })
  const w = new ReleaseWatcher({ paths: [file], debounceMs: 10, pollMs: 20, events: false, onChange: async (c) => { changed(c) } })
  t.after(() => w.stop())
  w.start()
  fs.writeFileSync(file, 'b')
  assert.deepEqual(await seen, { paths: [file] })
})
