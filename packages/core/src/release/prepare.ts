/**
 * `--prepare CMD` (say `npm ci --omit=dev`): run by /bin/sh in the unpacked release before
 * `current` points at it. A non-zero exit, a signal or the time limit refuses the release.
 */
import { spawn } from 'node:child_process'
import { ReleaseError } from './errors.ts'

export function runPrepare (command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    for (const stream of [child.stdout, child.stderr]) {
      let partial = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) onLine(line)
      })
      stream.on('end', () => { if (partial !== '') onLine(partial) })
    }
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    timer.unref()
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new ReleaseError('prepare', `cannot run ${JSON.stringify(command)}: ${err.message}`))
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new ReleaseError('prepare', `${JSON.stringify(command)} ${timedOut ? `did not finish within ${timeoutMs} ms` : `failed (${signal ?? `exit code ${String(code)}`})`}`))
    })
  })
}
