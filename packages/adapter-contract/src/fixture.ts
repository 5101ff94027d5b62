/**
 * What every adapter fixture shares, so that fixtures differ only in framework code.
 *
 * The environment contract (the one of packages/core/test/fixtures/http-app.ts):
 *   PORT (default 0), HOST (default 127.0.0.1), SOCKET_PATH (a unix socket instead),
 *   PID_FILE, APP_VERSION (default v1), HANDOFF (1 or 0: handoffIdleConnections; unset: the default),
 *   UPGRADE_TIMEOUT, DRAIN_TIMEOUT, IDLE_GRACE (ms); UPGRADE_TIMEOUT_FILE, read at each boot
 *   and winning over UPGRADE_TIMEOUT, gives later generations another upgradeTimeout,
 *   BOOT_MODE_FILE: read at each boot, so a test "deploys" a broken version the way an
 *   operator would: 'throw' (throws at import), 'exit1' (exits 1 at import), 'hang'
 *   (never ready), 'slow' (ready after SLOW_READY_MS); anything else or no file: ok.
 * Routes: `GET /` answers `{ pid, version }` with an `x-pid` header; `GET /sleep?ms=N`
 * answers the same after N ms and prints a 'request' event when it starts.
 * Output: one JSON object per stdout line, `{ event, pid, at, ... }` (`at` is Date.now()).
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import fs from 'node:fs'
import { CHANNELS } from '@graceful-restart/core'

export type BootMode = 'ok' | 'hang' | 'slow'

/** How long 'slow' delays readiness. */
export const SLOW_READY_MS = 1_500

export const version: string = process.env.APP_VERSION ?? 'v1'

/** Prints one event line. Synchronous, so that lines written on 'exit' are not lost. */
export function print (event: string, data: Record<string, unknown> = {}): void {
  fs.writeSync(1, JSON.stringify({ event, pid: process.pid, at: Date.now(), ...data }) + '\n')
}

/**
 * Reads BOOT_MODE_FILE; 'throw' throws and 'exit1' exits here, at import. Also prints
 * every lifecycle event of the core ('ready', 'handover:start', 'drain:end'...) and an
 * 'exit' event with the exit code.
 */
export function boot (): BootMode {
  const file = process.env.BOOT_MODE_FILE
  const mode = file !== undefined && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : 'ok'
  if (mode === 'throw') throw new Error('boom at import')
  if (mode === 'exit1') process.exit(1)
  for (const name of Object.values(CHANNELS)) {
    diagnosticsChannel.subscribe(name, (msg) => {
      const { pid: _pid, ...rest } = msg as Record<string, unknown>
      print(name.replace('graceful-restart:', ''), rest)
    })
  }
  process.on('exit', (code) => print('exit', { code }))
  return mode === 'hang' || mode === 'slow' ? mode : 'ok'
}

/** The app's readiness work for a boot mode: never done for 'hang', 1.5 s for 'slow'. */
export function readyWork (mode: BootMode): Promise<void> {
  if (mode === 'hang') return new Promise(() => {})
  return new Promise((resolve) => setTimeout(resolve, mode === 'slow' ? SLOW_READY_MS : 0))
}

function numberFromEnv (name: string): number | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : Number(value)
}

function numberFromFile (name: string): number | undefined {
  const file = process.env[name]
  return file !== undefined && file !== '' && fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').trim()) : undefined
}

interface CoreOptions { pidFile?: string, upgradeTimeout?: number, drainTimeout?: number, idleGrace?: number, shutdownDelay?: number, handoffIdleConnections?: boolean }

/** The core options the environment asks for. */
export function coreOptions (): CoreOptions {
  const options: CoreOptions = {}
  if (process.env.PID_FILE !== undefined) options.pidFile = process.env.PID_FILE
  const upgradeTimeout = numberFromFile('UPGRADE_TIMEOUT_FILE') ?? numberFromEnv('UPGRADE_TIMEOUT')
  const drainTimeout = numberFromEnv('DRAIN_TIMEOUT')
  const idleGrace = numberFromEnv('IDLE_GRACE')
  if (upgradeTimeout !== undefined) options.upgradeTimeout = upgradeTimeout
  if (drainTimeout !== undefined) options.drainTimeout = drainTimeout
  if (idleGrace !== undefined) options.idleGrace = idleGrace
  const shutdownDelay = numberFromEnv('SHUTDOWN_DELAY_MS')
  if (shutdownDelay !== undefined) options.shutdownDelay = shutdownDelay
  const handoff = process.env.HANDOFF
  if (handoff !== undefined && handoff !== '') options.handoffIdleConnections = handoff === '1'
  return options
}

/** Where to listen: `{ path }` from SOCKET_PATH, else `{ port, host }` from PORT and HOST. */
export function address (): { path: string } | { port: number, host: string } {
  const path = process.env.SOCKET_PATH
  if (path !== undefined && path !== '') return { path }
  return { port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' }
}

/** The body of every answer, and how long `/sleep` waits (undefined for any other path). */
export function answer (url: string): { body: { pid: number, version: string }, sleepMs: number | undefined } {
  const { pathname, searchParams } = new URL(url, 'http://fixture')
  const sleepMs = pathname === '/sleep' ? Number(searchParams.get('ms') ?? 100) : undefined
  if (sleepMs !== undefined) print('request', { path: url })
  return { body: { pid: process.pid, version }, sleepMs }
}
