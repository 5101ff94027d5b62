/**
 * `graceful-restart run [options] -- <command...>`: every flag checked before anything is
 * bound or started, in a fixed order (the self-upgrade flags, the identity flags, then the
 * rest), and the supervisor started with them.
 */
import path from 'node:path'
import { captureLaunch } from '../handover/launch.ts'
import { readInheritance } from '../listeners/inherit.ts'
import { releaseSources, type ReleaseFlags } from '../release/cli.ts'
import {
  canSwitchTo, effectiveCapabilities, findSetpriv, parseGroups, parseSocketMode, readAccountFiles, resolveCredentials, resolveGroup, type AccountFiles
} from '../supervisor/credentials.ts'
import { Supervisor, type SupervisorOptions } from '../supervisor/supervisor.ts'
import type { CliIo } from './io.ts'
import type { Flags } from './flags.ts'
import { invalid } from './usage.ts'

export async function runCommand (flags: Flags, io: CliIo): Promise<undefined> {
  if (flags.rest.length === 0) throw invalid('run needs a command after --')
  const pidFile = flags.one('--pid-file')
  const release = releaseSources(releaseFlags(flags, io.env), invalid)
  await release.fetcher?.installFirst((msg) => { io.stderr.write(`graceful-restart[${process.pid}]: ${msg}\n`) })
  let files: AccountFiles | undefined
  const identity = identityOptions(
    { user: flags.one('--user'), group: flags.one('--group'), socketMode: flags.one('--socket-mode'), socketGroup: flags.one('--socket-group') },
    () => (files ??= readAccountFiles()), process.geteuid?.() ?? 0, effectiveCapabilities)
  const supervisor = new Supervisor({
    command: flags.rest,
    listen: flags.all('--listen'),
    workers: flags.integer('--workers', 1) ?? 1,
    surge: flags.integer('--surge', 1),
    pidFile: pidFile === undefined ? undefined : path.resolve(pidFile),
    statusFile: flags.one('--status-file') ?? (pidFile === undefined ? undefined : `${path.resolve(pidFile)}.json`),
    upgradeTimeout: flags.integer('--upgrade-timeout', 1) ?? 60_000,
    drainTimeout: flags.integer('--drain-timeout', 0) ?? 30_000,
    reloadSignals: ['SIGUSR2', 'SIGHUP'],
    cwd: release.fetcher?.current ?? captureLaunch().cwd,
    env: io.env,
    envFiles: flags.all('--env-file'),
    maxDraining: flags.integer('--max-draining', 1) ?? 3,
    systemd: readInheritance({ env: io.env, pid: process.pid, ppid: process.ppid }).sockets,
    sources: release.sources,
    ...identity,
    setpriv: identity.user === undefined ? undefined : findSetpriv(),
    stdout: io.stdout,
    stderr: io.stderr,
    exit: io.exit
  })
  await supervisor.start()
  return undefined
}

function releaseFlags (flags: Flags, env: NodeJS.ProcessEnv): ReleaseFlags {
  return {
    watch: flags.all('--watch'),
    watchDebounce: flags.integer('--watch-debounce', 0),
    fetch: flags.one('--fetch'),
    releases: flags.one('--releases'),
    interval: flags.one('--interval'),
    keep: flags.integer('--keep', 1),
    prepare: flags.one('--prepare'),
    publicKey: flags.one('--public-key'),
    env,
    cwd: captureLaunch().cwd
  }
}

/** `--user`, `--group`, `--socket-mode`, `--socket-group`, checked before anything is bound or started. */
export function identityOptions (flags: { user?: string | undefined, group?: string | undefined, socketMode?: string | undefined, socketGroup?: string | undefined },
  files: () => AccountFiles, euid: number, capEff: () => bigint | undefined): Pick<SupervisorOptions, 'user' | 'unixSockets'> {
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
