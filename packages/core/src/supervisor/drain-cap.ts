/**
 * `--max-draining N`: before a reload, room is made so that once the new generation took
 * over, at most N older generations drain. The oldest over the cap first gets to finish by
 * itself: its workers are ended at once (END_DRAIN_SIGNAL, see lifecycle.ts) only when they
 * still drain CAP_GRACE_MS after their drain began: the core's default idleGrace plus a
 * second, so what holds them then is a long-lived connection, not ordinary requests. The
 * reload waits until they exited, at most END_DRAIN_WAIT_MS after they were told.
 */
import type { SupervisorClock } from './clock.ts'
import type { Worker } from './worker.ts'

export const CAP_GRACE_MS = 2_000
export const END_DRAIN_WAIT_MS = 5_000
const END_DRAIN_SIGNAL = 'SIGWINCH'

export async function makeRoom (draining: readonly Worker[], maxDraining: number, clock: SupervisorClock, log: (msg: string) => void): Promise<void> {
  const generations = [...new Set(draining.map((w) => w.generation))].sort((a, b) => a - b)
  const excess = generations.length + 1 - maxDraining
  if (excess <= 0) return
  const over = generations.slice(0, excess)
  const workers = draining.filter((w) => over.includes(w.generation))
  log(`--max-draining ${maxDraining}: generation ${over.join(', ')} first finishes draining (ended at once if still draining ${CAP_GRACE_MS} ms after it began)`)
  const since = Math.min(...workers.map((w) => w.drainingSince ?? 0))
  const gone = Promise.all(workers.map((w) => w.exited))
  const graceOver = await timedOut(clock, gone, Math.max(0, since + CAP_GRACE_MS - clock.monotonicUs() / 1000))
  if (!graceOver) return
  log(`--max-draining ${maxDraining}: ending the drain of generation ${over.join(', ')} at once`)
  for (const w of workers) if (!w.gone) w.proc.kill(END_DRAIN_SIGNAL)
  await timedOut(clock, gone, END_DRAIN_WAIT_MS)
}

/** Resolves false once `promise` settled, true if `ms` passed first. */
function timedOut (clock: SupervisorClock, promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(true), ms)
    const settled = (): void => {
      clock.clearTimeout(timer)
      resolve(false)
    }
    promise.then(settled, settled)
  })
}
