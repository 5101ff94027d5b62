/**
 * Per-test process cleanup for node:test. Everything a test starts through the tracker
 * shares one marker, so cleanup also reaches the generations those processes spawned
 * after the original child handed over and exited. A leaked server would hold its port
 * and keep the runner alive, so cleanup is SIGKILL, re-scanned until nothing is left.
 */
import { isAlive, killMarked, newMarker, processesWithMarker, startNode, startProcess, waitFor } from './process.ts'
import type { StartNodeOptions, StartProcessOptions, Started } from './process.ts'

/** The part of node:test's TestContext we need (kept structural: any `after` hook will do). */
export interface AfterHookHost {
  after(fn: () => unknown): unknown
}

export interface Tracker {
  marker: string
  startNode(script: string, opts?: Omit<StartNodeOptions, 'marker'>): Started
  /** Any program, marked like startNode's processes. */
  start(command: string, args: string[], opts?: Omit<StartProcessOptions, 'marker'>): Started
  /** SIGKILLs every marked process now and waits until none is left; t.after does this too. Resolves with the pids killed. */
  killAll(): Promise<number[]>
}

const KILL_TIMEOUT_MS = 5_000

// If the runner exits before t.after ran (a crash, process.exit in a test), still kill
// what is marked: synchronously, since 'exit' listeners cannot wait.
const liveMarkers = new Set<string>()
let exitHookInstalled = false

export function tracker (t: AfterHookHost): Tracker {
  const marker = newMarker()
  const children: Started[] = []
  liveMarkers.add(marker)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const m of liveMarkers) killMarked(m)
    })
  }

  async function killAll (): Promise<number[]> {
    const killed = new Set<number>()
    // Direct children too, in case /proc/<pid>/environ is unreadable or was rewritten.
    for (const s of children) {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    }
    // Re-scan: a supervisor caught mid-fork can leave a fresh process behind. Also wait
    // for each pid we signalled: a process being torn down already shows an empty
    // environ (so the scan misses it) before it turns into a zombie.
    await waitFor(() => {
      for (const pid of killMarked(marker, 'SIGKILL')) killed.add(pid)
      return processesWithMarker(marker).length === 0 &&
        [...killed].every((pid) => !isAlive(pid)) &&
        children.every((s) => !isAlive(s.pid))
    }, { timeoutMs: KILL_TIMEOUT_MS, intervalMs: 20, what: `processes marked ${marker} to die` })
    return [...killed].sort((a, b) => a - b)
  }

  t.after(async () => {
    try {
      await killAll()
    } finally {
      liveMarkers.delete(marker)
    }
  })

  return {
    marker,
    startNode (script, opts = {}) {
      const started = startNode(script, { ...opts, marker })
      children.push(started)
      return started
    },
    start (command, args, opts = {}) {
      const started = startProcess(command, args, { ...opts, marker })
      children.push(started)
      return started
    },
    killAll
  }
}
