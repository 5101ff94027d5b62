import type { Writable } from 'node:stream'

/** What a command may touch of its process: main.ts passes the real ones, tests their own. */
export interface CliIo {
  stdout: Writable
  stderr: Writable
  env: NodeJS.ProcessEnv
  exit: (code: number) => void
}
