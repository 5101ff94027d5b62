// Shared steps of the real-process tests: start the fixture, hand over, read the output.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { AppUnderTest, eventLines, readPidFile, waitFor, isAlive, type Started, type Tracker } from '@graceful-restart/test-utils'

export const FIXTURE = fileURLToPath(new URL('../fixtures/http-app.js', import.meta.url))

/** Core's fixtures are ready once their PID file names a pid. */
export type App = AppUnderTest

export function tempDir (t: { after: (fn: () => unknown) => unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function events (started: Started, name: string): Array<Record<string, unknown>> {
  return eventLines(started.lines, name)
}

export async function startApp (track: Tracker, dir: string, env: Record<string, string | undefined> = {}, script = FIXTURE, opts: { cwd?: string, execArgv?: string[] } = {}): Promise<App> {
  return await AppUnderTest.launch(track, script, {
    ...opts,
    dir,
    by: 'pid-file',
    env: { BOOT_MODE_FILE: path.join(dir, 'mode'), ...env },
    timeoutMs: 15_000,
    listeningTimeoutMs: 5000
  })
}

/** Sends SIGUSR2 to the live generation; resolves with the pid of the one that took over. */
export async function handover (app: { pid: number, pidFile: string, started?: Started }, signal: NodeJS.Signals = 'SIGUSR2'): Promise<number> {
  process.kill(app.pid, signal)
  return await tookOver(app)
}

/**
 * Resolves with the pid of the generation that took over from `app.pid` (a handover the
 * test asked for some other way), once the old one stopped accepting; `app.pid` becomes it.
 */
export async function tookOver (app: { pid: number, pidFile: string, started?: Started }): Promise<number> {
  const old = app.pid
  const next = await waitFor(() => {
    const pid = readPidFile(app.pidFile)
    return pid !== undefined && pid !== old ? pid : undefined
  }, { timeoutMs: 45_000, intervalMs: 5, what: `a generation to take over from ${old}` })
  // The new generation writes the PID file just before it reports ready: until the old one
  // heard it and stopped accepting, a new connection may still land on the old one.
  const { started } = app
  if (started !== undefined) {
    await waitFor(() => events(started, 'drain:start').some((e) => e.pid === old), { timeoutMs: 20_000, intervalMs: 5, what: `${old} to stop accepting` })
  }
  app.pid = next
  return next
}

export async function waitGone (pids: number[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeoutMs, what: `processes ${pids.join(', ')} to exit` })
}

export function setMode (app: { dir: string }, mode: string): void {
  fs.writeFileSync(path.join(app.dir, 'mode'), mode)
}

/** The version a new connection is answered with; undefined while nothing answers. */
export async function versionOf (port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })
    return ((await res.json()) as { version: string }).version
  } catch {
    return undefined
  }
}

/**
 * Resolves once a request to `urlPath` sent with `?announce=1` arrived in a process whose
 * lines `lines` collects (the fixtures print a `request` event): from then on it is in
 * flight there, and a signal cannot overtake it. `count`: wait for the count-th such arrival.
 */
export async function arrived (lines: readonly string[], urlPath: string, count = 1): Promise<Record<string, unknown>> {
  return await waitFor(() => {
    let seen = 0
    for (const event of eventLines(lines, 'request')) {
      if (event.path === urlPath && ++seen === count) return event
    }
    return undefined
  }, { timeoutMs: 15_000, intervalMs: 5, what: `the request to ${urlPath} to arrive` })
}
