import path from 'node:path'
import type { Writable } from 'node:stream'
import { statusFileOf } from '../control-status.ts'
import { GracefulError } from '../errors.ts'
import { captureLaunch } from '../handover/launch.ts'
import { readInheritance } from '../listeners/inherit.ts'
import { releaseSources } from '../release/cli.ts'
import {
  canSwitchTo, effectiveCapabilities, findSetpriv, parseGroups, parseSocketMode, readAccountFiles, resolveCredentials, resolveGroup, type AccountFiles
} from '../supervisor/credentials.ts'
import { Supervisor } from '../supervisor/supervisor.ts'
import * as control from './control.ts'

export interface CliIo {
  stdout: Writable
  stderr: Writable
  env: NodeJS.ProcessEnv
  exit: (code: number) => void
}

export const USAGE = `usage:
  graceful-restart run [options] -- <command> [args...]
      --listen ADDR         socket to bind before any worker starts: PORT, HOST:PORT, [IPv6]:PORT or
                            unix:/path (repeatable); without it, workers ask for the addresses they listen on
      --workers N           processes serving the same sockets (default 1)
      --surge K             a reload replaces K workers at a time, never more than N + K processes
                            (draining ones included); default: all N at once
      --user NAME           run workers as this user, with its groups, HOME and USER (needs root)
      --group NAME          the workers' group (default: the user's own)
      --socket-mode MODE    mode of the unix sockets the supervisor binds, such as 0660
      --socket-group NAME   group of the unix sockets the supervisor binds
      --pid-file FILE       write the supervisor's PID here (status goes to FILE.json)
      --status-file FILE    where to write the status (default: PID file + .json)
      --upgrade-timeout MS  how long new workers may take to become ready (default 60000)
      --drain-timeout MS    how long old workers may drain before SIGKILL (default 30000, +5 s)
      --max-draining N      old generations draining at once; the oldest ends its drain first (default 3)
      --env-file FILE       read again at each reload; fills in variables the environment does not set (repeatable)
      --watch PATH          reload when PATH changes on disk: a symlink's target, a file's content, a directory's listing (repeatable)
      --watch-debounce MS   quiet time after the last change before the reload (default 500)
      --fetch URL           poll this release manifest ({ "version", "url", "sha256" }); the workers run from DIR/current
      --releases DIR        where --fetch unpacks releases (DIR/<version>) and points DIR/current
      --interval TIME       between two checks of the manifest: 30s, 500ms, 5m (default 30s)
      --keep N              releases kept on disk, the running one included (default 3)
      --prepare CMD         run by sh in a new release before it goes live (say "npm ci --omit=dev")
      --public-key FILE     ed25519 public key (PEM): releases need a valid "signature" in the manifest
  graceful-restart reload --pid-file FILE [--wait] [--timeout MS]   --wait: exit 0 taken over, 1 rolled back
  graceful-restart stop   --pid-file FILE [--timeout MS]
  graceful-restart status --pid-file FILE [--json]                  exit 0 running, 3 not running
      FILE: the supervisor's --pid-file, or in re-exec mode the app's pidFile; the status
      beside it (FILE.json, or --status-file) must show that its PID is still the process
      that wrote it, else nothing is signalled (ERR_GRACEFUL_STALE_PIDFILE)
signals to the supervisor: SIGUSR2 or SIGHUP reload; SIGTERM, SIGINT or SIGQUIT drain and stop (twice: at once)`

interface Parsed { flags: Map<string, string[]>, rest: string[] }

const VALUED = new Set(['--listen', '--workers', '--pid-file', '--status-file', '--upgrade-timeout', '--drain-timeout', '--timeout', '--max-draining', '--env-file',
  '--watch', '--watch-debounce', '--fetch', '--releases', '--interval', '--keep', '--prepare', '--public-key',
  '--user', '--group', '--socket-mode', '--socket-group', '--surge'])
const BOOLEAN = new Set(['--wait', '--json', '--help'])

function invalid (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `${message}\n${USAGE}`)
}

function parse (args: string[]): Parsed {
  const flags = new Map<string, string[]>()
  let i = 0
  for (; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') { i++; break }
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    if (BOOLEAN.has(name)) { flags.set(name, ['true']); continue }
    if (!VALUED.has(name)) throw invalid(`unknown option ${JSON.stringify(arg)}`)
    const value = inline ?? args[++i]
    if (value === undefined) throw invalid(`${name} needs a value`)
    flags.set(name, [...(flags.get(name) ?? []), value])
  }
  return { flags, rest: args.slice(i) }
}

function one (p: Parsed, name: string): string | undefined {
  const values = p.flags.get(name)
  if (values !== undefined && values.length > 1) throw invalid(`${name} given more than once`)
  return values?.[0]
}

function number (p: Parsed, name: string, fallback: number, min: number): number {
  const text = one(p, name)
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min) throw invalid(`${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`)
  return value
}

function controlFiles (p: Parsed): { pidFile: string, statusFile: string } {
  const pidFile = one(p, '--pid-file')
  if (pidFile === undefined) throw invalid('--pid-file is required')
  return { pidFile, statusFile: one(p, '--status-file') ?? statusFileOf(pidFile) }
}

/** `--user`, `--group`, `--socket-mode`, `--socket-group`, checked before anything is bound or started. */
export function identityOptions (flags: { user?: string | undefined, group?: string | undefined, socketMode?: string | undefined, socketGroup?: string | undefined },
  files: () => AccountFiles, euid: number, capEff: () => bigint | undefined) {
  if (flags.group !== undefined && flags.user === undefined) throw invalid('--group sets the workers\' group: it needs --user')
  const user = flags.user === undefined ? undefined : resolveCredentials(flags.user, flags.group, files())
  if (user !== undefined && !canSwitchTo(user.uid, euid, capEff())) {
    throw invalid(`--user ${flags.user}: the supervisor runs as uid ${euid} and may not start workers as uid ${user.uid}; start it as root`)
  }
  return {
    user,
    unixSockets: {
      mode: flags.socketMode === undefined ? undefined : parseSocketMode(flags.socketMode),
      gid: flags.socketGroup === undefined ? undefined : resolveGroup('--socket-group', flags.socketGroup, parseGroups(files().group))
    }
  }
}

/** Runs one CLI command; resolves with the exit code, or undefined while `run` keeps going. */
export async function run (args: string[], io: CliIo): Promise<number | undefined> {
  const [command, ...rest] = args
  if (command === undefined || command === '--help' || command === 'help') {
    io.stdout.write(USAGE + '\n')
    return command === undefined ? 2 : 0
  }
  const p = parse(rest)
  switch (command) {
    case 'run': {
      if (p.rest.length === 0) throw invalid('run needs a command after --')
      const pidFile = one(p, '--pid-file')
      const log = (msg: string): void => { io.stderr.write(`graceful-restart[${process.pid}]: ${msg}\n`) }
      const release = releaseSources({
        watch: p.flags.get('--watch') ?? [],
        watchDebounce: p.flags.has('--watch-debounce') ? number(p, '--watch-debounce', 0, 0) : undefined,
        fetch: one(p, '--fetch'),
        releases: one(p, '--releases'),
        interval: one(p, '--interval'),
        keep: p.flags.has('--keep') ? number(p, '--keep', 0, 1) : undefined,
        prepare: one(p, '--prepare'),
        publicKey: one(p, '--public-key'),
        env: io.env,
        cwd: captureLaunch().cwd
      }, invalid)
      await release.fetcher?.installFirst(log)
      let files: AccountFiles | undefined
      const { user, unixSockets } = identityOptions(
        { user: one(p, '--user'), group: one(p, '--group'), socketMode: one(p, '--socket-mode'), socketGroup: one(p, '--socket-group') },
        () => (files ??= readAccountFiles()), process.geteuid?.() ?? 0, effectiveCapabilities)
      const supervisor = new Supervisor({
        command: p.rest,
        listen: p.flags.get('--listen') ?? [],
        workers: number(p, '--workers', 1, 1),
        surge: one(p, '--surge') === undefined ? undefined : number(p, '--surge', 1, 1),
        pidFile: pidFile === undefined ? undefined : path.resolve(pidFile),
        statusFile: one(p, '--status-file') ?? (pidFile === undefined ? undefined : `${path.resolve(pidFile)}.json`),
        upgradeTimeout: number(p, '--upgrade-timeout', 60_000, 1),
        drainTimeout: number(p, '--drain-timeout', 30_000, 0),
        reloadSignals: ['SIGUSR2', 'SIGHUP'],
        cwd: release.fetcher?.current ?? captureLaunch().cwd,
        env: io.env,
        envFiles: p.flags.get('--env-file') ?? [],
        maxDraining: number(p, '--max-draining', 3, 1),
        systemd: readInheritance({ env: io.env, pid: process.pid, ppid: process.ppid }).sockets,
        sources: release.sources,
        user,
        setpriv: user === undefined ? undefined : findSetpriv(),
        unixSockets,
        stdout: io.stdout,
        stderr: io.stderr,
        exit: io.exit
      })
      await supervisor.start()
      return undefined
    }
    case 'reload': {
      const { pidFile, statusFile } = controlFiles(p)
      return await control.reload(pidFile, statusFile, one(p, '--wait') !== undefined, number(p, '--timeout', 120_000, 1), io.stdout)
    }
    case 'stop': {
      const { pidFile, statusFile } = controlFiles(p)
      return await control.stop(pidFile, statusFile, number(p, '--timeout', 60_000, 1))
    }
    case 'status': {
      const { pidFile, statusFile } = controlFiles(p)
      return await control.status(pidFile, statusFile, one(p, '--json') !== undefined, io.stdout)
    }
    default:
      throw invalid(`unknown command ${JSON.stringify(command)}`)
  }
}
