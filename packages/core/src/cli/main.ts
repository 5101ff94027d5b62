#!/usr/bin/env node
/**
 * graceful-restart run [options] -- <command...>   supervise the app (stable PID)
 * graceful-restart reload|stop|status --pid-file F   address a running supervisor
 */
import { run } from './commands.ts'
import type { CliIo } from './io.ts'

const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, exit: (code) => process.exit(code) }
run(process.argv.slice(2), io).then((code) => {
  if (code !== undefined) process.exitCode = code
}, (err: unknown) => {
  const e = err as { code?: string, message?: string }
  process.stderr.write(`graceful-restart: ${e.code !== undefined ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`)
  process.exitCode = e.code === 'ERR_GRACEFUL_INVALID_OPTION' ? 2 : 1
})
