/**
 * `--user NAME [--group NAME]`: who the workers run as. The supervisor keeps its privileges
 * to bind (ports below 1024 among them), write its PID and status files and signal workers;
 * no code of the app runs with them. Users and groups are read from /etc/passwd and
 * /etc/group, as initgroups(3) reads them with the usual `files` NSS setup.
 */
import fs from 'node:fs'
import { GracefulError } from '../errors.ts'
import type { Launch } from '../handover/launch.ts'

export interface Credentials {
  user: string
  uid: number
  gid: number
  /** Supplementary groups as initgroups(user, gid) sets them: gid, then every group listing the user. */
  groups: number[]
  home: string
}

export interface Account { name: string, uid: number, gid: number, home: string }
export interface Group { name: string, gid: number, members: string[] }

export interface AccountFiles { passwd: string, group: string }

const ID = /^\d{1,10}$/

function invalid (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_INVALID_OPTION', message)
}

function records (text: string): string[][] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(':'))
}

/** `name:x:uid:gid:gecos:home:shell` lines; malformed ones (and NIS `+` entries) are skipped. */
export function parsePasswd (text: string): Account[] {
  const out: Account[] = []
  for (const [name, , uid, gid, , home] of records(text)) {
    if (name === undefined || name === '' || name.startsWith('+') || !ID.test(uid ?? '') || !ID.test(gid ?? '')) continue
    out.push({ name, uid: Number(uid), gid: Number(gid), home: home === undefined || home === '' ? '/' : home })
  }
  return out
}

/** `name:x:gid:member,member` lines. */
export function parseGroups (text: string): Group[] {
  const out: Group[] = []
  for (const [name, , gid, members] of records(text)) {
    if (name === undefined || name === '' || name.startsWith('+') || !ID.test(gid ?? '')) continue
    out.push({ name, gid: Number(gid), members: (members ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') })
  }
  return out
}

export function readAccountFiles (): AccountFiles {
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8')
    } catch {
      return ''
    }
  }
  return { passwd: read('/etc/passwd'), group: read('/etc/group') }
}

/** A group by name or number; a number need not be listed. */
export function resolveGroup (flag: string, text: string, groups: Group[]): number {
  const named = groups.find((g) => g.name === text)
  if (named !== undefined) return named.gid
  if (ID.test(text)) return Number(text)
  throw invalid(`${flag} ${JSON.stringify(text)}: no such group in /etc/group`)
}

export function resolveCredentials (user: string, group: string | undefined, files: AccountFiles): Credentials {
  const accounts = parsePasswd(files.passwd)
  const groups = parseGroups(files.group)
  const account = accounts.find((a) => a.name === user) ?? (ID.test(user) ? accounts.find((a) => a.uid === Number(user)) : undefined)
  if (account === undefined && !ID.test(user)) throw invalid(`--user ${JSON.stringify(user)}: no such user in /etc/passwd`)
  if (account === undefined && group === undefined) {
    throw invalid(`--user ${user}: uid ${user} has no /etc/passwd entry, so it has no group: give --group too`)
  }
  const gid = group === undefined ? (account as Account).gid : resolveGroup('--group', group, groups)
  const name = account?.name ?? user
  const supplementary = groups.filter((g) => g.members.includes(name)).map((g) => g.gid)
  return {
    user: name,
    uid: account?.uid ?? Number(user),
    gid,
    groups: [...new Set([gid, ...supplementary])],
    home: account?.home ?? '/'
  }
}

/** `--socket-mode`: octal, like chmod's (`660`, `0660`, `0o660`). */
export function parseSocketMode (text: string): number {
  const match = /^(?:0o?)?([0-7]{3,4})$/.exec(text)
  if (match === null) throw invalid(`--socket-mode ${JSON.stringify(text)}: expected an octal mode such as 0660`)
  const mode = parseInt(match[1] as string, 8)
  if (mode > 0o777) throw invalid(`--socket-mode ${text}: only permission bits (at most 0777) apply to a socket`)
  return mode
}

/**
 * Whether this process may switch to `uid`: root, or CAP_SETUID and CAP_SETGID (a container
 * that keeps them). Refusing here beats every worker failing to start with EPERM.
 */
export function canSwitchTo (uid: number, euid: number, capEff: bigint | undefined): boolean {
  if (euid === 0 || uid === euid) return true
  const CAP_SETGID = 6n
  const CAP_SETUID = 7n
  return capEff !== undefined && ((capEff >> CAP_SETUID) & 1n) === 1n && ((capEff >> CAP_SETGID) & 1n) === 1n
}

export function effectiveCapabilities (): bigint | undefined {
  try {
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return match === null ? undefined : BigInt(`0x${match[1] as string}`)
  } catch {
    return undefined
  }
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv']

/** util-linux's setpriv at a fixed place (never looked up on PATH: the supervisor runs as root). */
export function findSetpriv (exists: (file: string) => boolean = fs.existsSync): string | undefined {
  return SETPRIV.find((file) => exists(file))
}

/**
 * How a worker starts as that user. Node's spawn() sets uid and gid but clears the
 * supplementary groups (libuv calls setgroups(0)), so when setpriv is there the worker is
 * started through it: it sets all three and execs the app, which keeps the worker's pid.
 * Without setpriv, spawn's uid and gid, and no supplementary groups (`lost` lists them).
 */
export function startAs (creds: Credentials, launch: Launch, setpriv: string | undefined): { launch: Launch, ids: { uid: number, gid: number } | undefined, lost: number[] } {
  if (setpriv !== undefined) {
    return {
      launch: { execPath: setpriv, args: [`--reuid=${creds.uid}`, `--regid=${creds.gid}`, `--groups=${creds.groups.join(',')}`, '--', launch.execPath, ...launch.args], cwd: launch.cwd },
      ids: undefined,
      lost: []
    }
  }
  return { launch, ids: { uid: creds.uid, gid: creds.gid }, lost: creds.groups.filter((g) => g !== creds.gid) }
}

/** The environment a worker running as the user sees: its HOME, USER and LOGNAME. */
export function userEnv (env: NodeJS.ProcessEnv, creds: Credentials): NodeJS.ProcessEnv {
  return { ...env, HOME: creds.home, USER: creds.user, LOGNAME: creds.user }
}
