/**
 * `graceful-restart run --watch PATH`: the supervisor reloads its workers when a watched
 * release changes on disk (watch.ts decides what a change is).
 */
import { CHANNELS } from '../diagnostics.ts'
import { emit, type ReleaseHost, type ReleaseSource, type ReleaseStatus } from './source.ts'
import { ReleaseWatcher, type ReleaseChange } from './watch.ts'

/** Fingerprints are read again this often even without fs events (network mounts). */
const POLL_MS = 5_000

export class WatchSource implements ReleaseSource {
  readonly #paths: string[]
  readonly #watcher: ReleaseWatcher
  #host: ReleaseHost | undefined
  #lastChange: NonNullable<ReleaseStatus['watch']>['lastChange']

  /** Reads the fingerprint now: what the first workers will load is the baseline. */
  constructor (paths: string[], debounceMs: number) {
    this.#paths = paths
    this.#watcher = new ReleaseWatcher({ paths, debounceMs, pollMs: POLL_MS, onChange: (change) => this.#onChange(change) })
  }

  start (host: ReleaseHost): void {
    this.#host = host
    this.#watcher.start()
  }

  stop (): void {
    this.#watcher.stop()
    this.#host = undefined
  }

  status (): ReleaseStatus {
    return { watch: { paths: this.#paths, lastChange: this.#lastChange } }
  }

  async #onChange (change: ReleaseChange): Promise<void> {
    const host = this.#host
    if (host === undefined) return
    emit(host, CHANNELS.releaseChange, `--watch: ${change.paths.join(', ')} changed; reloading`, { pid: process.pid, paths: change.paths })
    try {
      await host.reload('--watch')
      this.#lastChange = { at: Date.now(), paths: change.paths, ok: true }
    } catch (err) {
      this.#lastChange = { at: Date.now(), paths: change.paths, ok: false, reason: (err as Error).message }
      host.log('--watch: this release is not tried again until a watched path changes again')
    }
    host.changed()
  }
}
