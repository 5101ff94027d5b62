/**
 * The environment of the next generation: the one a fresh deploy would get. Node's
 * `--env-file` never overrides a variable that is already set, and neither does dotenv, so
 * a generation that passed on its whole environment would pin the values its files had at
 * the first start for good. Instead, a variable that came from a file (and still has the
 * value the file gave) is dropped, so Node reads its `--env-file` files again in the next
 * generation, and the files of the `envFile` option are read again here, their values
 * replacing the stale ones. A variable of the real environment always wins, as with Node.
 *
 * "Real" means: in the environment the process was started with, before Node loaded any
 * file. On Linux that is /proc/self/environ (what execve gave; Node's setenv never writes
 * there) minus what the previous generation itself added from the `envFile` files (it says
 * which names, see protocol.ts). Elsewhere it is approximated: a variable whose value is
 * the one a file gives is taken to come from that file.
 */
import path from 'node:path'
import { parseEnv } from 'node:util'

export interface EnvFile {
  path: string
  /** `--env-file-if-exists`: a missing file is no error. */
  optional: boolean
}

export interface EnvOrigin {
  /** Names of the real environment (see above). */
  real: ReadonlySet<string>
  /** The value each file gave at start-up, by name (later files win, as in Node). */
  atStart: ReadonlyMap<string, string>
  /** `--env-file` and `--env-file-if-exists` of `execArgv`, in order. */
  nodeFiles: readonly EnvFile[]
}

export interface EnvDiff {
  added: string[]
  removed: string[]
  changed: string[]
}

export interface NextEnvironment {
  env: NodeJS.ProcessEnv
  /** Names set here from the `envFile` files (the next generation must not count them as real). */
  fromFiles: string[]
  /** What differs between this generation and the next one, names only (values may be secrets). */
  diff: EnvDiff
}

export type ReadFile = (file: string) => string

/** The diff in one line, for the log: `added A, B; changed C`, or `unchanged`. */
export function describeDiff (diff: EnvDiff): string {
  const parts = Object.entries(diff).filter(([, names]) => names.length > 0).map(([kind, names]) => `${kind} ${names.join(', ')}`)
  return parts.length === 0 ? 'unchanged' : parts.join('; ')
}

const NODE_FLAGS: ReadonlyArray<[string, boolean]> = [['--env-file', false], ['--env-file-if-exists', true]]

/** The env files Node was told to load on its command line (`--env-file=F` or `--env-file F`). */
export function envFilesInArgs (args: readonly string[]): EnvFile[] {
  const files: EnvFile[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    for (const [flag, optional] of NODE_FLAGS) {
      if (arg.startsWith(`${flag}=`)) files.push({ path: arg.slice(flag.length + 1), optional })
      else if (arg === flag && args[i + 1] !== undefined) files.push({ path: args[++i] as string, optional })
    }
  }
  return files
}

/**
 * The variables of `files` merged in order, as Node's `util.parseEnv` reads them. A missing
 * optional file is skipped; any other failure throws (with `lenient`, is skipped too).
 */
export function readEnvFiles (files: readonly EnvFile[], cwd: string, read: ReadFile, lenient = false): Map<string, string> {
  const merged = new Map<string, string>()
  for (const file of files) {
    let text: string
    try {
      text = read(path.resolve(cwd, file.path))
    } catch (err) {
      if (lenient || (file.optional && (err as NodeJS.ErrnoException).code === 'ENOENT')) continue
      throw err
    }
    for (const [name, value] of Object.entries(parseEnv(text))) {
      if (value !== undefined) merged.set(name, value)
    }
  }
  return merged
}

export interface EnvSource {
  env: NodeJS.ProcessEnv
  execArgv: readonly string[]
  cwd: string
  /** `NAME=value` entries the process was exec'd with; undefined where unknown (no /proc). */
  environ: readonly string[] | undefined
  /** Names the previous generation set from its `envFile` files. */
  fromParentFiles: readonly string[]
  /** The `envFile` option. */
  envFiles: readonly string[]
  read: ReadFile
}

/** Taken once at start-up, while the files still hold what this generation was started with. */
export function captureEnvOrigin (src: EnvSource): EnvOrigin {
  const nodeFiles = envFilesInArgs(src.execArgv)
  const own = src.envFiles.map((file) => ({ path: file, optional: true }))
  const atStart = new Map([...readEnvFiles(own, src.cwd, src.read, true), ...readEnvFiles(nodeFiles, src.cwd, src.read, true)])
  const injected = new Set(src.fromParentFiles)
  for (const name of injected) {
    const value = src.env[name]
    if (value !== undefined) atStart.set(name, value)
  }
  const names = src.environ !== undefined
    ? src.environ.map((entry) => entry.slice(0, Math.max(0, entry.indexOf('=')))).filter((name) => name !== '')
    : Object.keys(src.env).filter((name) => !(atStart.has(name) && atStart.get(name) === src.env[name]))
  return { real: new Set(names.filter((name) => !injected.has(name))), atStart, nodeFiles }
}

export function envDiff (before: NodeJS.ProcessEnv, after: NodeJS.ProcessEnv, ignore: readonly string[] = []): EnvDiff {
  const skip = new Set(ignore)
  const diff: EnvDiff = { added: [], removed: [], changed: [] }
  for (const [name, value] of Object.entries(after)) {
    if (skip.has(name) || value === undefined) continue
    if (before[name] === undefined) diff.added.push(name)
    else if (before[name] !== value) diff.changed.push(name)
  }
  for (const [name, value] of Object.entries(before)) {
    if (!skip.has(name) && value !== undefined && after[name] === undefined) diff.removed.push(name)
  }
  for (const list of Object.values(diff)) list.sort()
  return diff
}

/**
 * The environment to start the next generation with, from this one's. Reads the `envFile`
 * files (relative to `cwd`, the next generation's working directory): throws if one cannot
 * be read, so that the handover fails instead of starting with half a configuration.
 */
export function nextEnvironment (current: NodeJS.ProcessEnv, origin: EnvOrigin, opts: { cwd: string, envFiles: readonly string[], read: ReadFile, ignore?: readonly string[] }): NextEnvironment {
  const env: NodeJS.ProcessEnv = { ...current }
  for (const [name, value] of origin.atStart) {
    // The app may have set it since: its value is kept (and a file will not override it).
    if (!origin.real.has(name) && env[name] === value) delete env[name]
  }
  const fromFiles: string[] = []
  const own = readEnvFiles(opts.envFiles.map((file) => ({ path: file, optional: false })), opts.cwd, opts.read)
  for (const [name, value] of own) {
    if (origin.real.has(name)) continue
    env[name] = value
    fromFiles.push(name)
  }
  // What the next generation will see once Node has read its --env-file files.
  const seen: NodeJS.ProcessEnv = { ...env }
  for (const [name, value] of readEnvFiles(origin.nodeFiles, opts.cwd, opts.read, true)) seen[name] ??= value
  return { env, fromFiles, diff: envDiff(current, seen, opts.ignore) }
}

/** The real environment with the files' current values added where it has none (the supervisor's workers). */
export function withEnvFiles (base: NodeJS.ProcessEnv, files: readonly string[], cwd: string, read: ReadFile): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base }
  for (const [name, value] of readEnvFiles(files.map((file) => ({ path: file, optional: false })), cwd, read)) env[name] ??= value
  return env
}

/** /proc/self/environ as `NAME=value` entries; undefined where there is no /proc. */
export function readEnviron (read: ReadFile): string[] | undefined {
  try {
    return read('/proc/self/environ').split('\0').filter((entry) => entry !== '')
  } catch {
    return undefined
  }
}
