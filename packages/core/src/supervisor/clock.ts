/**
 * Time as the supervisor reads it, the other half of its seam (os.ts): the generations'
 * clock (../clock.ts) without setImmediate, which the supervisor never needs. Unit tests
 * pass a clock they move by hand, so backoff, kill timers and upgrade timeouts take no real time.
 */
import { systemClock, type Clock } from '../clock.ts'

export type { Timer } from '../clock.ts'

export type SupervisorClock = Omit<Clock, 'setImmediate'>

export const nodeClock: SupervisorClock = systemClock
