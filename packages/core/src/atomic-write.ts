/**
 * The one way this package writes a file others read (PID file, status files): a temporary
 * file beside it, then rename, so a reader such as systemd's PIDFile= never sees it empty or
 * half written. These files often live in a directory other users can write to and are
 * written as root, so the temporary name is random and created with O_EXCL | O_NOFOLLOW: a
 * symlink planted at that name makes the open fail (we pick another name), it is never
 * followed. The rename replaces a symlink at the final name instead of writing through it.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const { O_WRONLY, O_CREAT, O_EXCL } = fs.constants
// Not defined on Windows, where O_EXCL alone already refuses an existing name.
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
const ATTEMPTS = 8

/** Writes `data` to `file` atomically with exactly `mode` (the umask does not apply). Throws the OS error. */
export function writeFileAtomic (file: string, data: string, mode: number): void {
  const dir = path.dirname(file)
  const base = path.basename(file)
  let lastError: unknown
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const tmp = path.join(dir, `.${base}.${crypto.randomBytes(8).toString('hex')}.tmp`)
    let fd: number
    try {
      fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
    } catch (err) {
      // Someone holds this name (a planted link, or a leftover): never touch it, take another.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ELOOP') {
        lastError = err
        continue
      }
      throw err
    }
    try {
      try {
        fs.fchmodSync(fd, mode)
      } catch (err) {
        // Windows has no modes to speak of; everywhere else the mode is part of the contract.
        if (process.platform !== 'win32') throw err
      }
      fs.writeSync(fd, data)
    } catch (err) {
      fs.closeSync(fd)
      fs.rmSync(tmp, { force: true })
      throw err
    }
    fs.closeSync(fd)
    try {
      fs.renameSync(tmp, file)
    } catch (err) {
      fs.rmSync(tmp, { force: true })
      throw err
    }
    return
  }
  throw lastError
}
