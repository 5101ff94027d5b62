/**
 * Waiting for the outcome of a handover as a client sees it: a 2xx answer from the new
 * generation. "The new generation is ready" is the server's side; which process accepts a
 * given connection is the kernel's choice, so a test that asserts who answered must first
 * wait until it happened, never for a fixed time.
 */
import { waitFor } from './process.ts'

/** Anything that counts 2xx answers by their x-pid: startLoad()'s handle, or a test's own loop. */
export interface AnswerCounter {
  snapshot(): { byPid: Record<string, number> }
}

/** A pid, several, or a test for a pid (say, "a worker of generation 3"). */
export type PidMatch = number | readonly number[] | ((pid: number) => boolean)

/** The pids in `byPid` that `match` names. */
export function answeredPids (byPid: Record<string, number>, match: PidMatch): number[] {
  const test = typeof match === 'function'
    ? match
    : typeof match === 'number' ? (pid: number) => pid === match : (pid: number) => match.includes(pid)
  return Object.keys(byPid).map(Number).filter((pid) => Number.isSafeInteger(pid) && (byPid[String(pid)] ?? 0) > 0 && test(pid))
}

/**
 * Resolves once every one of `loads` has had a 2xx answer from a pid that `match` names;
 * rejects after `timeoutMs` (default 15 s) saying which load is still waiting. With
 * `onlyNew`, answers counted before the call do not count: "served again since then".
 */
export async function waitForAnswerFrom (loads: AnswerCounter | readonly AnswerCounter[], match: PidMatch, opts: { timeoutMs?: number, what?: string, onlyNew?: boolean } = {}): Promise<void> {
  const list: readonly AnswerCounter[] = Array.isArray(loads) ? loads : [loads as AnswerCounter]
  const what = opts.what ?? (typeof match === 'function' ? 'the expected process' : `pid ${String(match)}`)
  const count = (load: AnswerCounter): number => {
    const { byPid } = load.snapshot()
    return answeredPids(byPid, match).reduce((n, pid) => n + (byPid[String(pid)] ?? 0), 0)
  }
  const before = list.map((load) => opts.onlyNew === true ? count(load) : 0)
  const answered = (load: AnswerCounter, i: number): boolean => count(load) > (before[i] ?? 0)
  try {
    await waitFor(() => list.every(answered), { timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 5, what: `${opts.onlyNew === true ? 'a new' : 'an'} answer from ${what}` })
  } catch (err) {
    const waiting = list.flatMap((load, i) => answered(load, i) ? [] : [`load ${i} (answers by pid: ${JSON.stringify(load.snapshot().byPid)})`])
    throw new Error(`${(err as Error).message}; still waiting: ${waiting.join('; ')}`)
  }
}
