/**
 * Notices that a release changed on disk: the target of a symlink (`current -> releases/v8`)
 * or the content of a file (a build stamp, package.json, the entry) or of a directory's
 * listing. fs.watch alone misses most deploys: a watch on a file or through a symlink
 * follows the inode it was opened on, and a symlink swap or an editor's rename-into-place
 * leaves that inode behind. So the watches are on parent directories (and on the parent of
 * every symlink on the way), each event only starts a debounce, and what decides is a
 * fingerprint read anew: realpath, then a content hash of files and the listing of
 * directories. The watches are re-armed after each check, since the directories a path
 * resolves through change with the release. A slow poll is the safety net for filesystems
 * that send no events (network mounts, some container bind mounts).
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export interface ReleaseChange {
  /** The watched paths whose fingerprint differs from the last one acted on. */
  paths: string[]
}

export interface ReleaseWatchOptions {
  /** Absolute paths. */
  paths: string[]
  /** Quiet time after the last event before the paths are compared (ms). */
  debounceMs: number
  /** Re-read the fingerprints this often even without events (ms); 0: never. */
  pollMs: number
  /** false: no fs.watch at all, only the poll (as on a filesystem that sends no events). Default true. */
  events?: boolean
  /**
   * Runs once per settled change. The next change is looked at only after it settled, so a
   * change is never acted on twice at once; a change that failed is not retried until the
   * paths change again.
   */
  onChange: (change: ReleaseChange) => Promise<unknown>
  /** After each settled comparison, with the paths that changed (none: nothing to do). For tests and debug logs. */
  onChecked?: (changed: string[]) => void
}

export interface ReleaseWatch {
  /** Begins watching; a difference from the fingerprint read at creation is acted on at once. */
  start: () => void
  /** Stops every watch and timer; a running onChange is not waited for. */
  stop: () => void
}

type Fingerprint = Map<string, string>

interface HashCacheEntry { key: string, hash: string }

export class ReleaseWatcher implements ReleaseWatch {
  readonly #o: ReleaseWatchOptions
  readonly #hashes = new Map<string, HashCacheEntry>()
  /** The fingerprint of the release last acted on (or seen at creation). */
  #acted: Fingerprint
  #lastPolled: Fingerprint | undefined
  readonly #watchers = new Map<string, fs.FSWatcher>()
  #timer: NodeJS.Timeout | undefined
  #poll: NodeJS.Timeout | undefined
  #running = false
  #again = false
  #stopped = true

  constructor (options: ReleaseWatchOptions) {
    this.#o = options
    // Read now: what this process loaded is what it is compared with later.
    this.#acted = this.#fingerprint()
  }

  start (): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#arm()
    if (this.#o.pollMs > 0) {
      this.#poll = setInterval(() => this.#onPoll(), this.#o.pollMs)
      this.#poll.unref()
    }
    this.#schedule()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearInterval(this.#poll)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
  }

  #schedule (): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { void this.#check() }, this.#o.debounceMs)
    this.#timer.unref()
  }

  #onPoll (): void {
    const now = this.#fingerprint()
    // A poll counts as an event only when it saw something move since the previous poll:
    // during a deploy the debounce keeps being pushed back, as with real events.
    if (this.#lastPolled !== undefined && !same(now, this.#lastPolled)) this.#schedule()
    else if (this.#lastPolled === undefined && !same(now, this.#acted)) this.#schedule()
    this.#lastPolled = now
  }

  async #check (): Promise<void> {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#arm()
    const now = this.#fingerprint()
    const changed = [...now.keys()].filter((p) => now.get(p) !== this.#acted.get(p))
    this.#o.onChecked?.(changed)
    if (changed.length === 0) return
    // Set before acting: a release whose handover fails is not retried until it changes.
    this.#acted = now
    this.#running = true
    try {
      await this.#o.onChange({ paths: changed })
    } catch {
      // onChange reports its own failures.
    } finally {
      this.#running = false
    }
    if (this.#again) {
      this.#again = false
      this.#schedule()
    }
  }

  #fingerprint (): Fingerprint {
    const out: Fingerprint = new Map()
    for (const p of this.#o.paths) out.set(p, this.#describe(p))
    return out
  }

  #describe (p: string): string {
    let real: string
    let stat: fs.Stats
    try {
      real = fs.realpathSync(p)
      stat = fs.statSync(real)
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`
    }
    if (stat.isFile()) return `file:${real}:${this.#hash(real, stat)}`
    if (stat.isDirectory()) {
      try {
        const entries = fs.readdirSync(real, { withFileTypes: true }).map((e) => {
          let s: fs.Stats | undefined
          try { s = fs.lstatSync(path.join(real, e.name)) } catch {}
          return `${e.name}/${s?.isDirectory() === true ? 'd' : s?.isSymbolicLink() === true ? `l>${readlink(path.join(real, e.name))}` : `${s?.size ?? '?'}@${s?.mtimeMs ?? '?'}`}`
        }).sort()
        return `dir:${real}:${entries.join('|')}`
      } catch (err) {
        return `dir:${real}:${(err as NodeJS.ErrnoException).code ?? 'error'}`
      }
    }
    return `other:${real}`
  }

  /** sha256 of a file's content, read again only when its inode, size or times changed. */
  #hash (real: string, stat: fs.Stats): string {
    const key = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`
    const cached = this.#hashes.get(real)
    if (cached?.key === key) return cached.hash
    let hash: string
    try {
      hash = createHash('sha256').update(fs.readFileSync(real)).digest('hex')
    } catch (err) {
      hash = `unreadable:${(err as NodeJS.ErrnoException).code ?? 'error'}`
    }
    this.#hashes.set(real, { key, hash })
    return hash
  }

  /** Watches the directories whose entries name each path, as the paths resolve now. */
  #arm (): void {
    if (this.#stopped || this.#o.events === false) return
    const wanted = new Map<string, Set<string> | 'all'>()
    const want = (dir: string, name: string | 'all'): void => {
      const prev = wanted.get(dir)
      if (prev === 'all') return
      if (name === 'all') wanted.set(dir, 'all')
      else wanted.set(dir, (prev ?? new Set()).add(name))
    }
    for (const p of this.#o.paths) {
      want(path.dirname(p), path.basename(p))
      // A symlink anywhere on the way (`current/package.json`) is swapped in its parent.
      for (let a = path.dirname(p); a !== path.dirname(a); a = path.dirname(a)) {
        if (isSymlink(a)) want(path.dirname(a), path.basename(a))
      }
      if (isSymlink(p)) {
        const target = readlink(p)
        if (target !== undefined) {
          const resolved = path.resolve(path.dirname(p), target)
          want(path.dirname(resolved), path.basename(resolved))
        }
      }
      try {
        if (fs.statSync(p).isDirectory()) want(p, 'all')
      } catch {}
    }
    // Keyed by the directory as it resolves now: a name that resolves elsewhere gets a new watch.
    const keyed = new Map<string, { dir: string, names: Set<string> | 'all' }>()
    for (const [dir, names] of wanted) {
      let real: string
      try { real = fs.realpathSync(dir) } catch { continue }
      const key = `${real}\0${dir}\0${names === 'all' ? '*' : [...names].sort().join('/')}`
      keyed.set(key, { dir, names })
    }
    for (const [key, w] of this.#watchers) {
      if (!keyed.has(key)) {
        w.close()
        this.#watchers.delete(key)
      }
    }
    for (const [key, { dir, names }] of keyed) {
      if (this.#watchers.has(key)) continue
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, filename) => {
          // Unrelated files in the same directory (a log) must not keep the debounce open.
          if (names === 'all' || filename === null || names.has(String(filename))) this.#schedule()
        })
        w.on('error', () => {
          w.close()
          this.#watchers.delete(key)
          this.#schedule()
        })
        this.#watchers.set(key, w)
      } catch {
        // Gone or unreadable: the next check re-arms, the poll still sees it.
      }
    }
  }
}

function same (a: Fingerprint, b: Fingerprint): boolean {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

function isSymlink (p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

function readlink (p: string): string | undefined {
  try {
    return fs.readlinkSync(p)
  } catch {
    return undefined
  }
}
