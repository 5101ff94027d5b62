/**
 * Who holds a PID: enough to tell the process that wrote a PID file from a stranger that got
 * the same PID after it died (SIGKILL, OOM kill, crash: PIDs are reused). A PID plus its
 * start time names one process per boot.
 *
 *   Linux     start time in clock ticks since boot (/proc/<pid>/stat field 22), the boot id,
 *             the executable (/proc/<pid>/exe, when readable)
 *   macOS/BSD the start time `ps -o lstart=` prints (one-second resolution)
 *   Windows   nothing: no check (and no handover either)
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'

export interface ProcessIdentity {
  /** Linux: clock ticks since boot; elsewhere the text of `ps -o lstart=`. */
  start?: string
  /** Linux: /proc/sys/kernel/random/boot_id. A start time from another boot says nothing. */
  boot?: string
  /** The executable, when it can be read (another user's process may hide it). */
  exe?: string
}

export type IdentityVerdict =
  | { same: true }
  | { same: false, why: string }
  /** Alive, but what would tell it apart cannot be read here. */
  | { same: undefined, why: string }

/**
 * The start time (field 22) of a /proc/<pid>/stat line. The command name (field 2) sits in
 * parentheses and may itself hold spaces and ')', so fields are counted after the last ')'.
 */
export function parseStatStartTime (stat: string): string | undefined {
  const close = stat.lastIndexOf(')')
  if (close < 0) return undefined
  // After ") " comes field 3 (state); field 22 is the 20th from there.
  const value = stat.slice(close + 2).split(' ')[19]
  return value !== undefined && /^\d+$/.test(value) ? value : undefined
}

/**
 * The start time of a live process (field 22 of /proc/<pid>/stat), or undefined when it is
 * gone, a zombie, or the platform has no /proc. Before an older generation is signalled, its
 * start time must still be the one it reported.
 */
export function processStartTime (pid: number, readStat: (file: string) => string = (file) => fs.readFileSync(file, 'latin1')): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  let stat: string
  try {
    stat = readStat(`/proc/${pid}/stat`)
  } catch {
    return undefined
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  if (state === 'Z' || state === 'X') return undefined
  return parseStatStartTime(stat)
}

function read (file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

let bootId: string | undefined | null = null
function currentBoot (): string | undefined {
  if (bootId === null) bootId = read('/proc/sys/kernel/random/boot_id')?.trim() || undefined
  return bootId
}

function ps (field: string, pid: number): string | undefined {
  try {
    const out = execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' }, timeout: 5000
    }).trim()
    return out === '' ? undefined : out
  } catch {
    return undefined // no such process, or no ps
  }
}

/** What can be learned about `pid` now; an empty object when it cannot be read or does not exist. */
export function identityOf (pid: number): ProcessIdentity {
  if (process.platform === 'linux') {
    const stat = read(`/proc/${pid}/stat`)
    if (stat === undefined) return {}
    let exe: string | undefined
    try {
      // A binary replaced since (a Node upgrade) reads as "/usr/bin/node (deleted)".
      exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '')
    } catch {
      exe = undefined // another user's process, or a kernel thread
    }
    return { start: parseStatStartTime(stat), boot: currentBoot(), exe }
  }
  if (process.platform === 'win32') return {}
  const start = ps('lstart', pid)
  return start === undefined ? {} : { start }
}

let own: ProcessIdentity | undefined
/** This process's identity (read once: it does not change). */
export function ownIdentity (): ProcessIdentity {
  own ??= identityOf(process.pid)
  return own
}

/** Whether the process now holding the PID is the one `recorded` describes. */
export function compareIdentity (recorded: ProcessIdentity, current: ProcessIdentity): IdentityVerdict {
  if (recorded.boot !== undefined && current.boot !== undefined && recorded.boot !== current.boot) {
    return { same: false, why: 'the file was written before the machine rebooted' }
  }
  if (recorded.start !== undefined) {
    if (current.start === undefined) return { same: undefined, why: 'its start time cannot be read' }
    if (recorded.start !== current.start) return { same: false, why: 'it started after the process that wrote the file' }
  }
  if (recorded.exe !== undefined && current.exe !== undefined && recorded.exe !== current.exe) {
    return { same: false, why: `it runs ${current.exe}, not ${recorded.exe}` }
  }
  return { same: true }
}

/** The command line of `pid`, for messages ("sleep 300"); undefined when it cannot be read. */
export function commandLineOf (pid: number): string | undefined {
  let line: string | undefined
  if (process.platform === 'linux') {
    line = read(`/proc/${pid}/cmdline`)?.split('\0').filter((s) => s !== '').join(' ')
    if (line === '') {
      // A kernel thread or a zombie has no command line; its name is all there is.
      const stat = read(`/proc/${pid}/stat`)
      line = stat === undefined ? undefined : `[${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}]`
    }
  } else if (process.platform !== 'win32') {
    line = ps('command', pid)
  }
  return line === undefined || line.length <= 200 ? line : `${line.slice(0, 197)}...`
}
