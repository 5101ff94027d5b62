/**
 * The real nginx (Debian package) for tests: in the foreground, one master and one worker,
 * everything it writes (pid file, logs, temp files for request bodies) under a temp
 * prefix. A test hands it what goes inside `http { }` (upstreams and servers) and gets it
 * back serving. As root the worker drops to `nobody`, as nginx does in production, so the
 * prefix is made traversable for it; otherwise the worker runs as the test's own user.
 *
 * nginx rewrites its process title over its environment, so the tracker's environment
 * marker cannot find it: the handle stops it by pid (the master, then any worker left).
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { isAlive, readPidFile, waitFor } from './process.ts'
import type { AfterHookHost } from './tracker.ts'

export interface NginxOptions {
  /** Directives for the `http { }` block: upstreams and servers. */
  http: string
  /** The prefix directory (pid, logs, temp files); default a new temp dir removed on stop. */
  dir?: string
  /** `worker_connections` (client and upstream connections together), default 1024. */
  workerConnections?: number
  /** The error log's level, default `warn`. */
  logLevel?: 'debug' | 'info' | 'notice' | 'warn' | 'error'
}

export interface Nginx {
  /** The master's pid. */
  pid: number
  dir: string
  /** The whole main config nginx runs with. */
  config: string
  /** What nginx logged so far (its error log, from `logLevel` up, and its stderr). */
  errorLog: () => string
  /** Graceful stop (SIGQUIT), SIGKILL for master and workers if it takes over 5 s. Idempotent. */
  stop: () => Promise<void>
}

const STOP_TIMEOUT_MS = 5_000

/** The nginx binary: the first on PATH, or /usr/sbin/nginx; undefined when not installed. */
export function nginxBinary (): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim()
  if (found !== '') return found
  return fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined
}

/** A complete main config around `http`, with every path under `dir`. */
export function nginxConfig (dir: string, http: string, opts: Pick<NginxOptions, 'workerConnections' | 'logLevel'> = {}): string {
  // The worker's user matters only to a root master; nginx's default group (`nobody`)
  // does not exist on Debian, so name the user's own group.
  const user = process.getuid?.() === 0 ? `user nobody ${nobodyGroup()};\n` : ''
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} ${opts.logLevel ?? 'warn'};
events { worker_connections ${opts.workerConnections ?? 1024}; }
http {
  access_log off;
  client_body_temp_path ${path.join(dir, 'client_body')};
  proxy_temp_path ${path.join(dir, 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'scgi')};
${http}
}
`
}

/** `nginx -t` on a config made by nginxConfig(); output is nginx's stderr. */
export function nginxCheck (http: string): { ok: boolean, output: string } {
  const binary = nginxBinary()
  if (binary === undefined) throw new Error('nginxCheck: nginx is not installed')
  const dir = makePrefix()
  try {
    const file = path.join(dir, 'nginx.conf')
    fs.writeFileSync(file, nginxConfig(dir, http))
    const r = spawnSync(binary, ['-t', '-p', dir, '-e', path.join(dir, 'error.log'), '-c', file], { encoding: 'utf8' })
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Starts nginx and resolves once its master wrote its pid (its listeners are bound by then). */
export async function startNginx (t: AfterHookHost, opts: NginxOptions): Promise<Nginx> {
  const binary = nginxBinary()
  if (binary === undefined) throw new Error('startNginx: nginx is not installed')
  const ownDir = opts.dir === undefined
  const dir = opts.dir ?? makePrefix()
  const config = nginxConfig(dir, opts.http, opts)
  const file = path.join(dir, 'nginx.conf')
  const errorLog = path.join(dir, 'error.log')
  fs.writeFileSync(file, config)
  const child = spawn(binary, ['-p', dir, '-e', errorLog, '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  child.on('error', () => {})
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const pid = child.pid
  if (pid === undefined) throw new Error(`startNginx: could not spawn ${binary}`)
  const readLog = (): string => `${stderr}${fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''}`

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const workers = childrenOf(pid)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT')
      const gone = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)])
      if (!gone) child.kill('SIGKILL')
      for (const worker of [...workers, ...childrenOf(pid)]) {
        try { process.kill(worker, 'SIGKILL') } catch {}
      }
      await waitFor(() => !isAlive(pid) && !workers.some(isAlive), { timeoutMs: STOP_TIMEOUT_MS, what: 'nginx to exit' })
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true })
    })()
    return stopping
  }
  t.after(stop)
  killOnExit(pid)
  void exited.then(() => running.delete(pid))

  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}:\n${readLog()}`)
    return readPidFile(path.join(dir, 'nginx.pid')) === pid
  }, { timeoutMs: 10_000, what: 'nginx to write its pid file' })
  return { pid, dir, config, errorLog: readLog, stop }
}

function makePrefix (): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-nginx-'))
  // A root master's worker runs as nobody and must reach the temp paths below the prefix.
  if (process.getuid?.() === 0) fs.chmodSync(dir, 0o755)
  return dir
}

function nobodyGroup (): string {
  const r = spawnSync('id', ['-gn', 'nobody'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : 'nogroup'
}

/** Direct children of pid, from /proc/<child>/stat (its 4th field is the parent's pid). */
function childrenOf (pid: number): number[] {
  const found: number[] = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) found.push(Number(name))
    } catch {
      // gone since readdir
    }
  }
  return found
}

// If the runner exits before t.after ran, still take nginx down: a master left behind
// would hold its port for every later test. Installed with the first nginx, not on import.
const running = new Set<number>()
function killOnExit (pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const master of running) {
        for (const worker of childrenOf(master)) {
          try { process.kill(worker, 'SIGKILL') } catch {}
        }
        try { process.kill(master, 'SIGKILL') } catch {}
      }
    })
  }
  running.add(pid)
}
let exitHookInstalled = false

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
