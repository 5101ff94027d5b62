/**
 * How to start this program again so that the NEW release runs. Node resolves symlinks in
 * `process.cwd()` and in the main script path, so with `current -> releases/v7` both name
 * v7 for good; the logical paths survive in `$PWD` and in the raw command line.
 */
import fs from 'node:fs'
import path from 'node:path'

export interface Launch {
  execPath: string
  /** Node options, then the main script by its logical path, then the app's arguments. */
  args: string[]
  /** The logical working directory (through symlinks, as the operator typed it). */
  cwd: string
}

export interface LaunchSource {
  execPath: string
  execArgv: string[]
  argv: string[]
  cwd: string
  env: NodeJS.ProcessEnv
  /** The process's own command line as the kernel recorded it, NUL-separated. */
  cmdline?: string | undefined
  realpath?: (p: string) => string
}

function readCmdline (): string | undefined {
  try {
    return fs.readFileSync('/proc/self/cmdline', 'utf8')
  } catch {
    return undefined
  }
}

function logicalCwd (src: LaunchSource, realpath: (p: string) => string): string {
  const pwd = src.env.PWD
  if (pwd === undefined || !path.isAbsolute(pwd)) return src.cwd
  try {
    return realpath(pwd) === src.cwd ? pwd : src.cwd
  } catch {
    return src.cwd
  }
}

export function captureLaunch (src: LaunchSource = {
  execPath: process.execPath,
  execArgv: process.execArgv,
  argv: process.argv,
  cwd: process.cwd(),
  env: process.env,
  cmdline: readCmdline()
}): Launch {
  const realpath = src.realpath ?? ((p: string) => fs.realpathSync(p))
  const cwd = logicalCwd(src, realpath)
  const [, script, ...rest] = src.argv
  if (script === undefined) return { execPath: src.execPath, args: [...src.execArgv], cwd }

  let logicalScript = script
  const raw = src.cmdline?.split('\0')
  if (raw !== undefined && raw[raw.length - 1] === '') raw.pop()
  const rawScript = raw?.length === 1 + src.execArgv.length + src.argv.length - 1
    ? raw[1 + src.execArgv.length]
    : undefined
  if (rawScript !== undefined && rawScript !== '') {
    logicalScript = path.resolve(cwd, rawScript)
  } else if (cwd !== src.cwd && script.startsWith(src.cwd + path.sep)) {
    logicalScript = cwd + script.slice(src.cwd.length)
  }
  return { execPath: src.execPath, args: [...src.execArgv, logicalScript, ...rest], cwd }
}
