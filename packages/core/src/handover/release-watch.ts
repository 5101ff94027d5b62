/**
 * The `watch` option: a standalone generation hands over by itself when its release changes
 * on disk, while it is the live one (from ready until its drain). Under `graceful-restart run`
 * the supervisor owns the release (its --watch), so a worker only says why it does nothing.
 */
import path from 'node:path'
import { CHANNELS, type Reporter } from '../diagnostics.ts'
import type { ResolvedOptions } from '../options.ts'
import type { Platform } from '../platform.ts'
import type { ReleaseWatch } from '../release/watch.ts'

/** The watcher re-reads its paths this often even without fs events (network mounts). */
const WATCH_POLL_MS = 5_000

export interface ReleaseWatchHooks {
  /** The handover under way, if any: a change seen meanwhile waits for its outcome. */
  running: () => Promise<unknown> | undefined
  /** Whether this generation is the live one and may hand over now. */
  live: () => boolean
  handover: () => Promise<unknown>
}

export function watchRelease (options: Pick<ResolvedOptions, 'watch' | 'watchDebounce'>, supervised: boolean, cwd: string,
  platform: Platform, reporter: Reporter, hooks: ReleaseWatchHooks): ReleaseWatch | undefined {
  const { watch, watchDebounce } = options
  if (watch.length === 0) return undefined
  if (supervised) {
    reporter.log('warn', 'the watch option is ignored under graceful-restart run: give the supervisor --watch instead', { watch })
    return undefined
  }
  // The logical directory: `watch: ['.']` run from `current/` must see `current` move.
  const paths = watch.map((p) => path.resolve(cwd, p))
  return platform.watchRelease({
    paths,
    debounceMs: watchDebounce,
    pollMs: WATCH_POLL_MS,
    onChange: async (change) => {
      // A handover already under way started before this change. If it takes over, the next
      // generation compares what it loaded with the disk itself; if it fails, ours follows.
      // Only then is anything awaited: otherwise the handover starts within this call.
      const running = hooks.running()
      if (running !== undefined) await running.catch(() => {})
      if (!hooks.live()) return
      reporter.event(CHANNELS.releaseChange, 'info', 'release changed on disk: handing over', { pid: platform.pid, paths: change.paths })
      await hooks.handover()
    }
  })
}
