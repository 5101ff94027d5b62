/**
 * `graceful-restart <command>`: reads the flags and runs the command (`run` in
 * run-command.ts; `reload`, `stop` and `status` address a running process, control.ts).
 */
import { statusFileOf } from '../control-status.ts'
import * as control from './control.ts'
import type { CliIo } from './io.ts'
import { parseFlags, type Flags } from './flags.ts'
import { runCommand } from './run-command.ts'
import { invalid, USAGE } from './usage.ts'

function controlFiles (flags: Flags): { pidFile: string, statusFile: string } {
  const pidFile = flags.one('--pid-file')
  if (pidFile === undefined) throw invalid('--pid-file is required')
  return { pidFile, statusFile: flags.one('--status-file') ?? statusFileOf(pidFile) }
}

/** Runs one CLI command; resolves with the exit code, or undefined while `run` keeps going. */
export async function run (args: string[], io: CliIo): Promise<number | undefined> {
  const [command, ...rest] = args
  if (command === undefined || command === '--help' || command === 'help') {
    io.stdout.write(USAGE + '\n')
    return command === undefined ? 2 : 0
  }
  const flags = parseFlags(rest)
  switch (command) {
    case 'run':
      return await runCommand(flags, io)
    case 'reload': {
      const { pidFile, statusFile } = controlFiles(flags)
      return await control.reload(pidFile, statusFile, flags.has('--wait'), flags.integer('--timeout', 1) ?? 120_000, io.stdout)
    }
    case 'stop': {
      const { pidFile, statusFile } = controlFiles(flags)
      return await control.stop(pidFile, statusFile, flags.integer('--timeout', 1) ?? 60_000)
    }
    case 'status': {
      const { pidFile, statusFile } = controlFiles(flags)
      return await control.status(pidFile, statusFile, flags.has('--json'), io.stdout)
    }
    default:
      throw invalid(`unknown command ${JSON.stringify(command)}`)
  }
}
