/**
 * What one generation of workers runs: its command, working directory and environment,
 * fixed when the generation starts. A roll starts a generation's workers over seconds or
 * minutes, and a crashed worker is restarted long after; all of them must run the same
 * release, even when a deploy switched a `current -> releases/v7` symlink in between. So
 * the working directory is resolved through its symlinks once, and the arguments that name
 * paths inside it follow; the next generation resolves it again and runs what the link
 * names then.
 */
import fs from 'node:fs'
import path from 'node:path'
import { envDiff, withEnvFiles } from '../handover/env.ts'
import type { Launch } from '../handover/launch.ts'

export interface Release {
  generation: number
  launch: Launch
  env: NodeJS.ProcessEnv
}

/** What every generation starts from; `env` and `envFiles` as the supervisor was given them. */
export interface ReleaseSpec {
  command: readonly string[]
  cwd: string
  env: NodeJS.ProcessEnv
  /** Read again for each generation; their values fill in what `env` does not set. */
  envFiles: readonly string[]
}

/**
 * The release `generation` runs: the environment files read again, the working directory
 * pinned. Given the `previous` generation's environment, the names of what changed are
 * logged. Throws the fs error of an environment file that cannot be read.
 */
export function nextRelease (spec: ReleaseSpec, generation: number, previous: NodeJS.ProcessEnv | undefined,
  files: { readFile: (file: string) => string, realpath: (p: string) => string }, log: (msg: string) => void): Release {
  const env = withEnvFiles(spec.env, spec.envFiles, spec.cwd, files.readFile)
  if (previous !== undefined) {
    const parts = Object.entries(envDiff(previous, env)).filter(([, names]) => names.length > 0).map(([kind, names]) => `${kind} ${names.join(', ')}`)
    log(`generation ${generation} environment: ${parts.length === 0 ? 'unchanged' : parts.join('; ')}`)
  }
  const launch = pinLaunch({ execPath: spec.command[0] as string, args: spec.command.slice(1), cwd: spec.cwd }, files.realpath)
  return { generation, env, launch }
}

/**
 * The launch with its working directory resolved (`realpath`); an argument or command under
 * the logical directory is moved with it. A relative path needs nothing: it is resolved
 * against the pinned directory. A directory that cannot be resolved (gone) stays as it is:
 * the start then fails and says why.
 */
export function pinLaunch (launch: Launch, realpath: (p: string) => string = fs.realpathSync): Launch {
  let real: string
  try {
    real = realpath(launch.cwd)
  } catch {
    return launch
  }
  if (real === launch.cwd) return launch
  const prefix = launch.cwd.endsWith(path.sep) ? launch.cwd : launch.cwd + path.sep
  const move = (arg: string): string => arg === launch.cwd ? real : arg.startsWith(prefix) ? path.join(real, arg.slice(prefix.length)) : arg
  return { execPath: move(launch.execPath), args: launch.args.map(move), cwd: real }
}
