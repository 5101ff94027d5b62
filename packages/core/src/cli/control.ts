/**
 * `graceful-restart reload|stop|status --pid-file FILE`: addressing a running supervisor, or
 * in re-exec mode the live generation of an app with `pidFile`. Both keep a status file
 * beside the PID file (control-status.ts) that records who wrote it.
 *
 * Nothing is signalled until the PID is shown to name that process: a PID file outlives a
 * SIGKILLed or OOM-killed process, and its PID is later reused by another one, which a
 * SIGTERM or SIGUSR2 (whose default action is to terminate) would kill.
 */
import fs from 'node:fs'
import type { Writable } from 'node:stream'
import { monotonicUs } from '../clock.ts'
import { formatGenerationStatus, readStatusFile, type GenerationStatus, type HandoverRecord } from '../control-status.ts'
import { GracefulError } from '../errors.ts'
import { commandLineOf, compareIdentity, identityOf } from '../identity.ts'
import { readPidFile } from '../pidfile.ts'
import { formatStatus, type SupervisorStatus } from '../supervisor/status.ts'

type AnyStatus = SupervisorStatus | GenerationStatus

export interface Target {
  pid: number
  status: AnyStatus
}

// How long a PID file and its status may disagree before we stop waiting: in re-exec mode
// the new generation writes the PID file, reports ready, and writes its status once the old
// one took the report, a few milliseconds later.
const SETTLE_MS = 2000
const POLL_MS = 25

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function stale (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_STALE_PIDFILE', `${message}; nothing was signalled`)
}

function holder (pid: number): string {
  const line = commandLineOf(pid)
  return line === undefined ? `PID ${pid} (command line unreadable)` : `PID ${pid} ("${line}")`
}

/** Reads the PID file (ERR_GRACEFUL_PIDFILE when there is none or it holds no PID). */
export function pidFromFile (pidFile: string): number {
  const pid = readPidFile(pidFile)
  if (pid !== undefined) return pid
  throw new GracefulError('ERR_GRACEFUL_PIDFILE', fs.existsSync(pidFile) ? `${pidFile} does not hold a PID` : `not running: no PID file ${pidFile}`)
}

/**
 * The PID the file names, once shown to be the process that wrote it. Throws
 * ERR_GRACEFUL_STALE_PIDFILE, naming the process that holds the PID now, when it is not,
 * when no process has it, or when the status that would vouch for it is missing.
 */
export async function verifiedTarget (pidFile: string, statusFile: string): Promise<Target> {
  const deadline = Date.now() + SETTLE_MS
  let pid = pidFromFile(pidFile)
  let status = readStatusFile<AnyStatus>(statusFile)
  // A handover in progress may show a new PID file beside the old (still live) process's
  // status for a moment. A missing status, or one of a dead process, never settles.
  while (status !== undefined && status.pid !== pid && alive(status.pid) && alive(pid) && Date.now() < deadline) {
    await sleep(POLL_MS)
    pid = pidFromFile(pidFile)
    status = readStatusFile<AnyStatus>(statusFile)
  }
  if (!alive(pid)) {
    throw stale(`${pidFile} names PID ${pid}, but no process has that PID: the process that wrote it is gone without removing it (SIGKILL, OOM kill, crash or reboot); the next start replaces the file`)
  }
  if (status === undefined) {
    throw stale(`${pidFile} names ${holder(pid)}, but ${statusFile} is missing or unreadable, so nothing shows that this process wrote the PID file (a file from an earlier release, or a stale one); if it is the app, signal it yourself`)
  }
  if (status.pid !== pid) {
    throw stale(`${pidFile} names ${holder(pid)}, but ${statusFile} describes PID ${status.pid}: the two files disagree, so neither is trusted`)
  }
  if (status.identity === undefined) {
    throw stale(`${pidFile} names ${holder(pid)}, but ${statusFile} records no identity (written by an earlier release), so nothing shows that this process wrote the PID file; if it is the app, signal it yourself, or restart it once`)
  }
  // An empty identity is what a platform without start times records (Windows): no check.
  const verdict = compareIdentity(status.identity, identityOf(pid))
  if (verdict.same === false) {
    throw stale(`${pidFile} names PID ${pid}, but that PID now belongs to another process: ${holder(pid)}; ${verdict.why}. The process that wrote the file is gone (SIGKILL, OOM kill or crash); the next start replaces the file`)
  }
  if (verdict.same === undefined) {
    throw stale(`${pidFile} names ${holder(pid)}, which cannot be verified: ${verdict.why} (run as the app's user or root)`)
  }
  return { pid, status }
}

function isSupervisor (status: AnyStatus): status is SupervisorStatus {
  return status.kind === 'supervisor'
}

function reloadSignalOf (target: Target): NodeJS.Signals {
  const { reloadSignal } = target.status
  if (reloadSignal === null) {
    throw new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', `PID ${target.pid} routes no signal to a handover (its \`signals\` option); nothing was signalled`)
  }
  return reloadSignal ?? 'SIGUSR2'
}

const same = (a: HandoverRecord | undefined, b: HandoverRecord | undefined): boolean => JSON.stringify(a) === JSON.stringify(b)

function describeResult (status: AnyStatus, last: HandoverRecord): string {
  if (!last.ok) return `reload failed: ${last.reason ?? 'unknown'}`
  const pids = isSupervisor(status)
    ? `workers ${status.workers.filter((w) => w.generation === last.generation).map((w) => w.pid ?? '-').join(', ')}`
    : `pid ${status.pid}`
  return `generation ${last.generation} ready in ${last.durationMs} ms (${pids})`
}

/**
 * Sends the reload signal to the verified PID. With `wait`, resolves 0 once a handover that
 * began after the signal made its new generation live, 1 when it rolled back.
 *
 * "After the signal" is decided on CLOCK_MONOTONIC, which every process of the machine
 * shares: the status records when each handover began. A signal that arrives while a
 * handover is already running is absorbed by it, and that handover may run an older
 * release than the one just deployed; so when a handover that began before our signal ends,
 * or the process we signalled was already replaced, the signal is sent again (verified
 * again) to the process that serves now, and we wait for a handover of our own.
 */
export async function reload (pidFile: string, statusFile: string, wait: boolean, timeoutMs: number, out: Writable): Promise<number> {
  let target = await verifiedTarget(pidFile, statusFile)
  let before = target.status.lastHandover
  let sent = monotonicUs()
  process.kill(target.pid, reloadSignalOf(target))
  if (!wait) return 0
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    await sleep(50)
    const pid = readPidFile(pidFile)
    const status = readStatusFile<AnyStatus>(statusFile)
    const last = status?.lastHandover
    // Only a status that describes the process the PID file names is read (see SETTLE_MS).
    if (status !== undefined && status.pid === pid) {
      if (last !== undefined && last.startedMonoUs >= sent) {
        out.write(describeResult(status, last) + '\n')
        return last.ok ? 0 : 1
      }
      const absorbed = last !== undefined && !same(last, before)
      if (absorbed || pid !== target.pid) {
        target = await verifiedTarget(pidFile, statusFile)
        before = target.status.lastHandover
        sent = monotonicUs()
        process.kill(target.pid, reloadSignalOf(target))
        continue
      }
    }
    if (!alive(target.pid) && (pid === undefined || pid === target.pid)) {
      throw new GracefulError('ERR_GRACEFUL_CHILD_EXITED', `${isSupervisor(target.status) ? 'supervisor' : 'process'} ${target.pid} exited during the reload`)
    }
  }
  throw new GracefulError('ERR_GRACEFUL_UPGRADE_TIMEOUT', 'no reload result before --timeout')
}

/**
 * SIGTERM to the verified PID; resolves 0 once it exited. Still running at the timeout:
 * ERR_GRACEFUL_STOP_TIMEOUT, and the process is left to finish its drain (never killed).
 */
export async function stop (pidFile: string, statusFile: string, timeoutMs: number): Promise<number> {
  const { pid } = await verifiedTarget(pidFile, statusFile)
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) throw new GracefulError('ERR_GRACEFUL_STOP_TIMEOUT', `PID ${pid} still running after --timeout`)
    await sleep(50)
  }
  return 0
}

/** Prints the verified status: 0 running, 3 not running (no PID file); a stale file throws. */
export async function status (pidFile: string, statusFile: string, json: boolean, out: Writable): Promise<number> {
  if (!fs.existsSync(pidFile)) {
    out.write(json ? JSON.stringify({ alive: false }) + '\n' : `not running (no PID file ${pidFile})\n`)
    return 3
  }
  const target = await verifiedTarget(pidFile, statusFile)
  if (json) out.write(JSON.stringify({ ...target.status, alive: true }) + '\n')
  else out.write((isSupervisor(target.status) ? formatStatus(target.status, true) : formatGenerationStatus(target.status)) + '\n')
  return 0
}
