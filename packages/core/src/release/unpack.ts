/**
 * Unpacks a release tarball (`npm pack` or `tar czf`) into its own directory, refusing the
 * whole release, before anything is written, when an entry is an absolute path, climbs
 * with `..`, is a device or fifo, or is a link that leads out of the release. When every
 * entry sits under one top folder (npm pack's `package/`), that folder becomes the
 * release's root. `tar` is loaded here, on the first fetched release: apps that never
 * fetch do not load it.
 */
import fs from 'node:fs'
import path from 'node:path'
import { ReleaseError } from './errors.ts'

interface Entry {
  raw: string
  /** Path segments, without `.` and empty ones. */
  parts: string[]
  type: string
  linkpath: string | undefined
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'])

/** Lists and checks the archive; unpacks it into `target` (which must not exist); returns the entry count. */
export async function unpackRelease (file: string, staging: string, target: string): Promise<number> {
  const tar = await import('tar')
  const entries: Entry[] = []
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const raw = String(entry.path)
        entries.push({ raw, parts: raw.split('/').filter((p) => p !== '' && p !== '.'), type: entry.type, linkpath: entry.linkpath === undefined ? undefined : String(entry.linkpath) })
      }
    })
  } catch (err) {
    throw new ReleaseError('unpack', `cannot read the tarball: ${(err as Error).message}`, { cause: err })
  }
  for (const e of entries) check(e.raw, e.type, e.linkpath)
  const named = entries.filter((e) => e.parts.length > 0)
  if (named.length === 0) throw new ReleaseError('unpack', 'the tarball is empty')
  const top = named[0]?.parts[0] as string
  const oneTop = named.every((e) => e.parts[0] === top && (e.parts.length > 1 || e.type === 'Directory'))
  const root = oneTop ? [top] : []
  for (const e of named) checkLink(e, root)

  fs.mkdirSync(staging, { mode: 0o755 })
  try {
    await tar.x({
      file,
      cwd: staging,
      strict: true,
      // Running as root, tar would give the files the uids the archive names.
      preserveOwner: false,
      filter: (p, entry) => FILE_TYPES.has((entry as { type?: string }).type ?? 'File') && !path.isAbsolute(p) && !p.split('/').includes('..')
    })
    const releaseRoot = path.join(staging, ...root)
    checkTree(releaseRoot)
    fs.renameSync(releaseRoot, target)
  } catch (err) {
    if (err instanceof ReleaseError) throw err
    throw new ReleaseError('unpack', `cannot unpack the tarball: ${(err as Error).message}`, { cause: err })
  } finally {
    fs.rmSync(staging, { recursive: true, force: true })
  }
  return named.length
}

function check (raw: string, type: string, linkpath: string | undefined): void {
  if (path.posix.isAbsolute(raw) || /^[A-Za-z]:/.test(raw)) throw new ReleaseError('unpack', `the tarball has an absolute path: ${raw}`)
  if (raw.split('/').includes('..')) throw new ReleaseError('unpack', `the tarball has a path with "..": ${raw}`)
  if (!FILE_TYPES.has(type)) throw new ReleaseError('unpack', `the tarball has a ${type} entry: ${raw}`)
  if ((type === 'SymbolicLink' || type === 'Link') && (linkpath === undefined || linkpath === '')) {
    throw new ReleaseError('unpack', `the tarball has a link without a target: ${raw}`)
  }
}

/** A link's target, resolved the way it will be on disk, stays inside the release's root. */
function checkLink (e: Entry, root: string[]): void {
  if (e.linkpath === undefined) return
  const name = e.parts.join('/')
  if (path.posix.isAbsolute(e.linkpath)) throw new ReleaseError('unpack', `the tarball has a link to an absolute path: ${name} -> ${e.linkpath}`)
  // A symlink's target is taken from the link's directory, a hard link's from the archive's root.
  const from = e.type === 'SymbolicLink' ? e.parts.slice(0, -1) : []
  const resolved = path.posix.normalize(path.posix.join('/', ...from, e.linkpath)).split('/').filter((p) => p !== '')
  const inside = root.every((p, i) => resolved[i] === p) && (e.type !== 'Link' || resolved.length > root.length)
  if (!inside || (e.type === 'Link' && e.linkpath.split('/').includes('..'))) {
    throw new ReleaseError('unpack', `the tarball has a link that leads out of the release: ${name} -> ${e.linkpath}`)
  }
}

/**
 * After unpacking: every symlink, followed on disk (chains too), stays inside the release.
 * The native realpath: Node's own resolves `b/..` in a link's target lexically, where the
 * kernel follows `b` first.
 */
function checkTree (root: string): void {
  const realpath = fs.realpathSync.native
  const realRoot = realpath(root)
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isSymbolicLink()) {
        let real: string | undefined
        try {
          real = realpath(full)
        } catch {
          real = danglingTarget(realpath(dir), fs.readlinkSync(full))
        }
        if (real === undefined || (real !== realRoot && !real.startsWith(realRoot + path.sep))) {
          throw new ReleaseError('unpack', `the tarball has a link that leads out of the release: ${path.relative(root, full)} -> ${fs.readlinkSync(full)}`)
        }
      } else if (entry.isDirectory()) {
        walk(full)
      }
    }
  }
  walk(root)
}

/**
 * Where a dangling link would lead once its target exists: its existing part followed on
 * disk, the rest appended. Undefined (refused) when `..` follows a missing part, since what
 * that part becomes later decides where it leads.
 */
function danglingTarget (from: string, target: string): string | undefined {
  let at = from
  const parts = target.split('/').filter((p) => p !== '' && p !== '.')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string
    if (part === '..') {
      at = path.dirname(at)
      continue
    }
    const next = path.join(at, part)
    try {
      at = fs.realpathSync.native(next)
    } catch {
      const rest = parts.slice(i + 1)
      return rest.includes('..') ? undefined : path.join(next, ...rest)
    }
  }
  return at
}
