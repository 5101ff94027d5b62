/**
 * Where this process runs, read once at start-up: who restarts it, and whether its exit
 * takes everything started after it down. This file only gathers facts; what a handover
 * signal does in each context is decided in lifecycle.ts.
 *
 * Every fact comes from the environment, our own pid, and the ancestors' command lines in
 * /proc (on systems without /proc only the environment and the pid are read). Each tool
 * was run for real to see how it marks the process it starts:
 *   nodemon          no variable; its child's parent runs `.../nodemon/bin/nodemon.js`
 *   node --watch     Node sets WATCH_REPORT_DEPENDENCIES=1 in the watched child (20 to 26)
 *   tsx watch        no variable; the parent runs `.../tsx/dist/cli.mjs watch ...`
 *   PM2              pm_id, name and exec_mode (fork_mode, cluster_mode) in the app's env
 *   node:cluster     cluster.isWorker (NODE_UNIQUE_ID is removed from env once read)
 *   systemd          INVOCATION_ID in every service; NOTIFY_SOCKET only with Type=notify
 *                    (or a NotifyAccess= setting)
 *   containers       `docker run` gives the entrypoint PID 1 of a new PID namespace; with
 *                    `--init` PID 1 is tini (named docker-init); `npm start` keeps npm as
 *                    PID 1 and a `sh -c` between npm and node; a process a runtime starts
 *                    into an existing PID namespace (a pod sharing one) sees ppid 0
 */
import cluster from 'node:cluster'
import fs from 'node:fs'

/**
 * - `standalone`: nothing restarts us and our exit takes nothing down: re-exec handovers.
 * - `supervisor`: a worker of `graceful-restart run`.
 * - `systemd-notify`: a systemd service with a notify socket (Type=notify).
 * - `nodemon`, `node-watch`, `tsx-watch`, `pm2`, `cluster`: a manager restarts us itself.
 * - `pid1`, `wrapper`, `systemd-simple`: our exit would end the namespace or the service.
 */
export const CONTEXT_KINDS = [
  'standalone', 'supervisor', 'systemd-notify',
  'nodemon', 'node-watch', 'tsx-watch', 'pm2', 'cluster',
  'pid1', 'wrapper', 'systemd-simple'
] as const
export type ContextKind = typeof CONTEXT_KINDS[number]

export interface ProcessContext {
  kind: ContextKind
  /** `detected`, or `option` when the app named the context itself. */
  source: 'detected' | 'option'
  /** What the detection saw, in words, for the start-up log. */
  evidence: string
  /** Under PM2: the app's name (for `pm2 reload <name>`) and exec mode. */
  pm2?: { name: string | undefined, mode: 'fork' | 'cluster' }
}

/** One process as /proc shows it. */
export interface ProcessInfo {
  ppid: number
  /** The kernel's short name (15 bytes at most; a process may rename itself). */
  comm: string
  argv: string[]
}

/** Everything the detector reads, so that unit tests can describe any machine. */
export interface ContextHost {
  pid: number
  ppid: number
  env: NodeJS.ProcessEnv
  isClusterWorker: boolean
  /** undefined when the process is gone or the system has no /proc. */
  readProcess: (pid: number) => ProcessInfo | undefined
}

export interface KnownContext {
  /** Set by inheritance: we are a worker of `graceful-restart run`. */
  supervised: boolean
  /** The pid of the generation that handed over to us (our parent while it drains). */
  previousGeneration: number | undefined
}

/** How far up the tree to look; real chains are 2 to 4 deep. */
const MAX_ANCESTORS = 16

// Processes that wait for their one child and exit with it. A chain of them up to PID 1
// means our exit ends PID 1, and the kernel then kills the whole namespace.
const INIT_WRAPPERS = new Set(['tini', 'tini-static', 'docker-init', 'dumb-init', 'catatonit', 'sudo', 'su', 'runuser', 'timeout'])
const PACKAGE_MANAGERS = new Set(['npm', 'npm-cli.js', 'npx', 'npx-cli.js', 'pnpm', 'pnpm.cjs', 'pnpm.js', 'pnpx', 'yarn', 'yarn.js', 'yarn.cjs', 'yarnpkg', 'corepack'])
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox'])

type Role =
  | { role: 'manager', kind: 'nodemon' | 'node-watch' | 'tsx-watch' }
  | { role: 'wrapper' }
  | { role: 'systemd' }
  | { role: 'other' }

function basename (file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}

function isNodeBinary (name: string): boolean {
  return /^node(js)?[\d.]*$/.test(name)
}

// Node options whose value is the next argument: `node -r x app.js` runs app.js, not x.
const NODE_OPTIONS_WITH_VALUE = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file', '--title', '--watch-path'])

/** Splits `node [options] script [args]`; script is -1 for `node -e ...` or a REPL. */
function nodeCommand (args: string[]): { options: string[], script: number } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? ''
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-') return { options: args.slice(0, i), script: -1 }
    if (!a.startsWith('-')) return { options: args.slice(0, i), script: i }
    if (NODE_OPTIONS_WITH_VALUE.has(a)) i++
  }
  return { options: args, script: -1 }
}

/** What an ancestor does when its child exits, judged from its command line. */
export function classifyProcess (p: ProcessInfo): Role {
  const program = basename(p.argv[0] ?? p.comm)
  const args = p.argv.slice(1)
  if (p.comm === 'systemd' || program === 'systemd') return { role: 'systemd' }
  if (INIT_WRAPPERS.has(program)) return { role: 'wrapper' }
  if (SHELLS.has(program)) {
    // `sh -c '...'` and `bash script.sh` end when their last command ends; an interactive
    // shell (no operand: `bash`, `bash --login`; a login shell is `-bash`) outlives it.
    return args.some((a) => a === '-c' || !a.startsWith('-')) ? { role: 'wrapper' } : { role: 'other' }
  }
  // npm renames its process (`npm start`, `npm exec ...`); the others run as `node <script>`.
  if (!isNodeBinary(program)) return PACKAGE_MANAGERS.has(program) ? { role: 'wrapper' } : { role: 'other' }
  const { options, script } = nodeCommand(args)
  if (options.some((a) => a === '--watch' || a.startsWith('--watch-path'))) return { role: 'manager', kind: 'node-watch' }
  if (script === -1) return { role: 'other' }
  const entry = args[script] ?? ''
  const name = basename(entry)
  if (name === 'nodemon' || name === 'nodemon.js') return { role: 'manager', kind: 'nodemon' }
  if (name === 'tsx' || /\/tsx\/dist\/cli\.[cm]?js$/.test(entry)) {
    // `tsx app.ts` keeps a parent process that exits with the app; `tsx watch` restarts it.
    const command = args.slice(script + 1).find((a) => !a.startsWith('-'))
    return command === 'watch' ? { role: 'manager', kind: 'tsx-watch' } : { role: 'wrapper' }
  }
  if (PACKAGE_MANAGERS.has(name)) return { role: 'wrapper' }
  return { role: 'other' }
}

/**
 * A process by its program name only: command lines can carry secrets (`--password=...`)
 * and this ends up in logs.
 */
function describe (pid: number, p: ProcessInfo): string {
  const program = basename(p.argv[0] ?? p.comm)
  const args = p.argv.slice(1)
  let name = program
  if (isNodeBinary(program)) {
    const { script } = nodeCommand(args)
    if (script !== -1) name = `${program} ${basename(args[script] ?? '')}`
  } else if (SHELLS.has(program) && args.includes('-c')) {
    name = `${program} -c`
  }
  return `${name} (pid ${pid})`
}

/** Reads the context; the order of the checks is the order of precedence. */
export function detectContext (host: ContextHost, known: KnownContext): ProcessContext {
  const detected = (kind: ContextKind, evidence: string): ProcessContext => ({ kind, source: 'detected', evidence })
  const { env } = host
  if (known.supervised) return detected('supervisor', 'started by `graceful-restart run` (GRACEFUL_RESTART_SUPERVISOR)')
  // PM2 puts its variables in the env of everything it starts, `pm2 start npm -- start` too.
  if (env.pm_id !== undefined) {
    const mode = env.exec_mode === 'cluster_mode' || host.isClusterWorker ? 'cluster' : 'fork'
    return { ...detected('pm2', `PM2 app ${JSON.stringify(env.name ?? '')} (pm_id=${env.pm_id}, ${mode} mode)`), pm2: { name: env.name, mode } }
  }
  if (host.isClusterWorker) return detected('cluster', 'a node:cluster worker (cluster.isWorker)')
  if (env.WATCH_REPORT_DEPENDENCIES !== undefined) return detected('node-watch', 'started by `node --watch` (WATCH_REPORT_DEPENDENCIES)')
  if (host.pid === 1) return detected('pid1', 'this process is PID 1 of its PID namespace')
  // getppid() is 0 when the parent lives outside our PID namespace: a container runtime
  // started us into it (a pod sharing one PID namespace, `docker exec`). In a pod that is the
  // container's main process, whose exit ends the container.
  if (host.ppid === 0) return detected('pid1', 'started from outside its PID namespace (ppid 0): a container\'s main process')

  // Walk up past the wrappers. The generation that handed over to us is our parent only
  // until it exits: look at its parent instead, so every generation sees the same context.
  let pid = host.ppid
  if (known.previousGeneration !== undefined && known.previousGeneration === pid) {
    pid = host.readProcess(pid)?.ppid ?? 0
  }
  const wrappers: string[] = []
  let top: Role | undefined
  let topText = ''
  for (let depth = 0; pid > 0 && depth < MAX_ANCESTORS; depth++) {
    const info = host.readProcess(pid)
    if (info === undefined) break
    const role = classifyProcess(info)
    if (role.role === 'manager') {
      return detected(role.kind, `started by ${[...wrappers, describe(pid, info)].join(', started by ')}`)
    }
    if (role.role === 'wrapper') {
      wrappers.push(describe(pid, info))
      if (pid === 1) {
        return detected('wrapper', wrappers.join(', started by '))
      }
      pid = info.ppid
      continue
    }
    top = role
    topText = describe(pid, info)
    break
  }
  // INVOCATION_ID is inherited by everything under a service, a desktop terminal's shell
  // included: only a service's own process tree (systemd, then wrappers, then us) counts.
  // Without /proc (top unknown) the variable alone decides.
  if (env.INVOCATION_ID !== undefined && (top === undefined || top.role === 'systemd')) {
    return env.NOTIFY_SOCKET !== undefined
      ? detected('systemd-notify', `a systemd service with a notify socket (INVOCATION_ID, NOTIFY_SOCKET)${top === undefined ? '' : `, started by ${topText}`}`)
      : detected('systemd-simple', 'a systemd service without a notify socket (INVOCATION_ID set, NOTIFY_SOCKET not: Type=simple, exec or forking)')
  }
  return detected('standalone', top === undefined ? 'no process manager found' : `parent chain ends at ${topText}, which outlives this process`)
}

/** Reads one process from /proc; undefined when it is gone or there is no /proc. */
export function readProcFs (pid: number): ProcessInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // `pid (comm) state ppid ...`: comm may itself hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '')
    let argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    while (argv.at(-1) === '') argv.pop()
    // A process that set its title (npm: `npm start`, PM2) has one NUL-padded string.
    if (argv.length === 1 && argv[0]?.includes(' ') === true) argv = argv[0].split(' ')
    return { ppid: Number.isInteger(ppid) ? ppid : 0, comm, argv }
  } catch {
    return undefined
  }
}

/** This process, as the detector sees it. */
export function currentHost (): ContextHost {
  return { pid: process.pid, ppid: process.ppid, env: process.env, isClusterWorker: cluster.isWorker, readProcess: readProcFs }
}
