import diagnosticsChannel from 'node:diagnostics_channel'
import { debuglog } from 'node:util'

/** A pino-compatible logger: `logger.info({ pid }, 'message')`. */
export interface Logger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
  debug?: (obj: object, msg?: string) => void
}

/**
 * `diagnostics_channel` names, one per step of a generation's life. Subscribe with
 * `diagnostics_channel.subscribe(name, fn)`; each message is a plain object.
 */
export const CHANNELS = {
  /** At start-up, where this process runs: `{ pid, context, source, evidence }` (see the `context` option). */
  context: 'graceful-restart:context',
  /** A listener was claimed from the previous generation or systemd: `{ key, fd, source }`. */
  listenerInherited: 'graceful-restart:listener:inherited',
  /** A listener was bound anew: `{ key }`. */
  listenerBound: 'graceful-restart:listener:bound',
  /** This generation reported ready: `{ pid, generation, listeners, context }`. */
  ready: 'graceful-restart:ready',
  /** A handover was refused because of where the process runs: `{ pid, trigger, code, context }`. */
  handoverRefused: 'graceful-restart:handover:refused',
  /** A handover started: `{ pid, trigger }`. */
  handoverStart: 'graceful-restart:handover:start',
  /**
   * What the next generation's environment changes, names only (values may be secrets):
   * `{ pid, added, removed, changed }`. Published before it is spawned.
   */
  handoverEnv: 'graceful-restart:handover:env',
  /** The next generation was spawned: `{ pid, childPid }`. */
  handoverSpawn: 'graceful-restart:handover:spawn',
  /** The next generation is ready; this one drains: `{ pid, childPid, durationMs }`. */
  handoverReady: 'graceful-restart:handover:ready',
  /** The next generation failed; this one keeps serving: `{ pid, childPid, reason, exitCode, signal, durationMs }`. */
  handoverRollback: 'graceful-restart:handover:rollback',
  /** A drain started: `{ pid, reason, connections, active, idle, upgraded }`. */
  drainStart: 'graceful-restart:drain:start',
  /**
   * A drain ended: `{ pid, reason, durationMs, served, destroyed, timedOut, handedOff, fellBack, closed, endedEarly? }`;
   * `handedOff`: connections passed to the next generation, `fellBack`: ones it could not take,
   * drained here as before, `closed`: connections that ended here (the destroyed ones included);
   * `endedEarly` (`{ active, idle, upgraded }`: what was still open) when a newer generation
   * (`maxDraining`) or an operator ended it at once with SIGWINCH.
   */
  drainEnd: 'graceful-restart:drain:end',
  /**
   * An idle connection is about to be passed to the next generation (`handoffIdleConnections`):
   * its reads stopped and it was found idle: `{ pid, key, remoteAddress, remotePort }`.
   */
  handoffSend: 'graceful-restart:handoff:send',
  /** A connection passed by the previous generation is served here now: `{ pid, key, remoteAddress, remotePort }`. */
  handoffAdopted: 'graceful-restart:handoff:adopted',
  /** A watched path changed on disk and settled; a reload follows: `{ pid, paths }`. */
  releaseChange: 'graceful-restart:release:change',
  /** The release manifest was polled: `{ url, result: 'new' | 'unchanged' | 'running' | 'refused-before' | 'failed', version?, error? }`. */
  releaseCheck: 'graceful-restart:release:check',
  /** A release tarball was downloaded and its sha256 (and signature) verified: `{ version, url, bytes, sha256, signed, durationMs }`. */
  releaseDownload: 'graceful-restart:release:download',
  /** A release was unpacked into its directory: `{ version, dir, entries }`. */
  releaseUnpack: 'graceful-restart:release:unpack',
  /** The `--prepare` command ran in a release: `{ version, command, durationMs }`. */
  releasePrepare: 'graceful-restart:release:prepare',
  /** `current` now points at a release, and a reload starts: `{ version, previous }`. */
  releaseSwitch: 'graceful-restart:release:switch',
  /** The workers of a fetched release are ready and serving: `{ version, previous, durationMs }` (from the check that found it). */
  releaseLive: 'graceful-restart:release:live',
  /**
   * A release was refused and is not tried again until the manifest names another one:
   * `{ version, reason: 'manifest' | 'download' | 'checksum' | 'signature' | 'unpack' | 'prepare' | 'not-ready', message }`.
   * After 'not-ready', `current` points at the previous release again.
   */
  releaseRefused: 'graceful-restart:release:refused',
  /** Old releases were removed (`--keep`): `{ removed }`. */
  releasePrune: 'graceful-restart:release:prune',
  /**
   * The supervisor began a reload (supervisor/roll.ts), published in the supervisor's process:
   * `{ pid, generation, workers, surge, bounded, trigger }`; `bounded` when `surge` was set.
   */
  rollStart: 'graceful-restart:roll:start',
  /**
   * One step of a supervisor reload took over: `{ pid, generation, step, replaced, workers,
   * slots, pids, drained, waitedMs, durationMs }` (`drained`: the pids that now drain;
   * `waitedMs`: waiting for draining workers to exit before the step could start).
   */
  rollStep: 'graceful-restart:roll:step',
  /** A supervisor reload ended: `{ pid, generation, ok, replaced, workers, steps, durationMs, reason?, code? }`. */
  rollEnd: 'graceful-restart:roll:end'
} as const

export type ChannelName = typeof CHANNELS[keyof typeof CHANNELS]

type Level = 'debug' | 'info' | 'warn' | 'error'

const debug = debuglog('graceful-restart')

// Without a logger, what an operator must see (a rolled-back upgrade, a forced drain)
// still reaches stderr; routine steps stay behind NODE_DEBUG.
const stderrLogger: Logger = {
  info () {},
  warn (obj, msg) { process.stderr.write(`graceful-restart: ${msg ?? ''} ${JSON.stringify(obj)}\n`) },
  error (obj, msg) { process.stderr.write(`graceful-restart: ${msg ?? ''} ${JSON.stringify(obj)}\n`) }
}

/** Sends each event to its channel, to NODE_DEBUG=graceful-restart, and to the app's logger. */
export class Reporter {
  readonly #logger: Logger | undefined

  constructor (logger: Logger | false | undefined) {
    this.#logger = logger === false ? undefined : (logger ?? stderrLogger)
  }

  event (channel: ChannelName, level: Level, msg: string, data: Record<string, unknown>): void {
    const ch = diagnosticsChannel.channel(channel)
    if (ch.hasSubscribers) ch.publish(data)
    this.log(level, msg, data)
  }

  log (level: Level, msg: string, data: Record<string, unknown> = {}): void {
    debug('%s %j', msg, data)
    const logger = this.#logger
    if (logger === undefined) return
    const fn = level === 'debug' ? logger.debug : logger[level]
    try {
      fn?.call(logger, data, msg)
    } catch {
      // A broken logger must not take a handover down with it.
    }
  }
}
