/**
 * The releases directory of `--fetch`: one directory per version, and `current`, a
 * relative symlink to the one the workers run. `current` only ever changes by renaming a
 * fresh symlink over it, so a worker starting at any moment sees one release or the other.
 * Scratch files (downloads, unpacking) live in the same directory, named with a leading
 * dot, so that nothing is ever written outside it and renames stay on one filesystem.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const SCRATCH = /^\.(download|unpack|current|old)-/

export class ReleasesDir {
  readonly dir: string
  readonly current: string

  constructor (dir: string) {
    this.dir = dir
    this.current = path.join(dir, 'current')
  }

  /** Creates the directory and removes what an interrupted run left behind. */
  init (): void {
    fs.mkdirSync(this.dir, { recursive: true })
    for (const name of fs.readdirSync(this.dir)) {
      if (SCRATCH.test(name)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true })
    }
  }

  /** The version `current` points at, if any. */
  running (): string | undefined {
    try {
      return path.basename(fs.readlinkSync(this.current))
    } catch {
      return undefined
    }
  }

  scratch (kind: 'download' | 'unpack', version: string): string {
    return path.join(this.dir, `.${kind}-${version}-${randomBytes(4).toString('hex')}`)
  }

  /** Where `version` unpacks to; an older copy of that name (never the running one) is removed first. */
  freshTarget (version: string): string {
    const target = this.path(version)
    if (fs.existsSync(target)) {
      const aside = path.join(this.dir, `.old-${version}-${randomBytes(4).toString('hex')}`)
      fs.renameSync(target, aside)
      fs.rmSync(aside, { recursive: true, force: true })
    }
    return target
  }

  path (version: string): string {
    return path.join(this.dir, version)
  }

  /** Points `current` at `version` (or removes it) atomically. */
  point (version: string | undefined): void {
    if (version === undefined) {
      fs.rmSync(this.current, { force: true })
      return
    }
    const tmp = path.join(this.dir, `.current-${randomBytes(4).toString('hex')}`)
    fs.symlinkSync(version, tmp)
    try {
      fs.renameSync(tmp, this.current)
    } catch (err) {
      fs.rmSync(tmp, { force: true })
      throw err
    }
  }

  /** Marks `version` as the latest one to have gone live (pruning keeps the latest ones). */
  touch (version: string): void {
    const now = new Date()
    fs.utimesSync(this.path(version), now, now)
  }

  remove (version: string): void {
    if (version === this.running()) return
    fs.rmSync(this.path(version), { recursive: true, force: true })
  }

  /** Keeps the `keep` releases that went live last (the running one always); returns the removed ones. */
  prune (keep: number): string[] {
    const running = this.running()
    const releases = fs.readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => ({ name: e.name, mtime: fs.statSync(path.join(this.dir, e.name)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime || b.name.localeCompare(a.name))
    const kept = new Set<string>(running === undefined ? [] : [running])
    for (const r of releases) if (kept.size < keep) kept.add(r.name)
    const removed: string[] = []
    for (const r of releases) {
      if (kept.has(r.name)) continue
      fs.rmSync(path.join(this.dir, r.name), { recursive: true, force: true })
      removed.push(r.name)
    }
    return removed
  }
}
