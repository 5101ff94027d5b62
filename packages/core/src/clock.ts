/**
 * CLOCK_MONOTONIC in microseconds. Unlike Date.now() it never jumps, and it is the same
 * clock in every process of the machine, so one process can tell whether another's event
 * came after its own: `reload --wait` compares it with the start of a handover, and systemd
 * with the MONOTONIC_USEC= of a RELOADING=1 notification.
 */
export function monotonicUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}
