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
import type { Launch } from '../handover/launch.ts'

export interface Release {
  generation: number
  launch: Launch
  env: NodeJS.ProcessEnv
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
