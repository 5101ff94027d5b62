/**
 * The drain of this generation, after a handover or for a shutdown: on a shutdown first
 * `shutdownDelay` (readiness already fails, the listener still accepts until a balancer
 * noticed), then the `onDraining` hooks, then every attached server drained (drain.ts).
 * SIGWINCH ends it at once (`maxDraining`, or an operator); what was still open then is
 * reported as `endedEarly`.
 */
import type { Attachment, Attachments } from './attachments.ts'
import { CHANNELS, type Reporter } from './diagnostics.ts'
import type { DrainCounts, DrainResult, HandoffPort } from './drain.ts'
import { END_DRAIN_SIGNAL } from './handover/draining-cap.ts'
import type { ResolvedOptions } from './options.ts'
import type { Platform } from './platform.ts'

export interface ShutdownResult extends DrainResult {
  reason: string
  /** What was still open when the drain was ended at once (SIGWINCH, sent by `maxDraining`). */
  endedEarly?: Omit<DrainCounts, 'connections'>
}

export interface GenerationDrain {
  platform: Platform
  reporter: Reporter
  attachments: Attachments
  options: Pick<ResolvedOptions, 'shutdownDelay' | 'idleGrace' | 'drainTimeout' | 'onUpgradedSocket'>
  drainingHooks: ReadonlyArray<(reason: string) => unknown>
  /** Where idle connections may go instead of being closed (handoff/generation-handoff.ts). */
  handoff?: { portFor: (a: Attachment) => HandoffPort | undefined, drained: () => void } | undefined
}

/** Runs each hook in turn; a hook that throws is logged and the next one runs. */
export async function runHooks (hooks: ReadonlyArray<() => unknown>, reporter: Reporter, what: string): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook()
    } catch (err) {
      reporter.log('error', `${what} failed`, { error: String(err) })
    }
  }
}

/** `final`: a shutdown (no generation follows), rather than the drain after a handover. */
export async function drainGeneration (d: GenerationDrain, reason: string, final: boolean): Promise<ShutdownResult> {
  const { platform, reporter, attachments, options } = d
  const pid = platform.pid
  const endNow = new AbortController()
  let endedEarly: ShutdownResult['endedEarly']
  const stopListening = platform.onSignal(END_DRAIN_SIGNAL, () => {
    if (endNow.signal.aborted) return
    const { active, idle, upgraded } = attachments.counts()
    endedEarly = { active, idle, upgraded }
    reporter.log('info', `${END_DRAIN_SIGNAL}: ending the drain at once`, { pid, reason, ...endedEarly })
    endNow.abort()
  })
  if (final && options.shutdownDelay > 0) {
    reporter.log('info', `shutdown: not ready; serving for ${options.shutdownDelay} ms before draining`, { pid, reason })
    await delay(platform, options.shutdownDelay, endNow.signal)
  }
  await runHooks(d.drainingHooks.map((hook) => () => hook(reason)), reporter, 'an onDraining hook')
  reporter.event(CHANNELS.drainStart, 'info', 'drain started', { pid, reason, ...attachments.counts() })
  const drained = await attachments.drain({ idleGrace: options.idleGrace, drainTimeout: options.drainTimeout, onUpgradedSocket: options.onUpgradedSocket, signal: endNow.signal },
    (a) => d.handoff?.portFor(a))
  d.handoff?.drained()
  const result: ShutdownResult = { reason, ...drained, ...(endedEarly === undefined ? {} : { endedEarly }) }
  stopListening()
  const message = endedEarly !== undefined
    ? `drain ended at once: destroyed ${result.destroyed} connections`
    : result.timedOut ? `drain deadline reached: destroyed ${result.destroyed} connections` : 'drain finished'
  reporter.event(CHANNELS.drainEnd, result.timedOut || result.destroyed > 0 ? 'warn' : 'info', message, { pid, ...result })
  return result
}

/** Resolves after `ms` on the platform's clock, or at once when `signal` aborts. */
function delay (platform: Platform, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = platform.setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { platform.clearTimeout(timer); resolve() }, { once: true })
  })
}
