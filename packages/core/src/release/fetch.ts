/**
 * `graceful-restart run --fetch URL --releases DIR`: the supervisor polls a release
 * manifest (manifest.ts) and, on a new version: downloads the tarball, verifies its sha256
 * (and ed25519 signature), unpacks it into DIR/<version>, runs --prepare there, points
 * DIR/current at it and reloads. If the new workers do not become ready, `current` goes
 * back to the previous release (the old workers never stopped serving). The workers run
 * from DIR/current: the supervisor's working directory is that symlink, read anew at each
 * spawn (handover/launch.ts).
 *
 * A release refused for its content (checksum, signature, unpack, prepare, not ready) is
 * not tried again until the manifest names another version or checksum. A failed download
 * is tried again at the next check.
 */
import fs from 'node:fs'
import type { KeyObject } from 'node:crypto'
import { CHANNELS } from '../diagnostics.ts'
import { download, getManifest } from './download.ts'
import { ReleaseError } from './errors.ts'
import { parseManifest, type Manifest } from './manifest.ts'
import { runPrepare } from './prepare.ts'
import { ReleasesDir } from './releases.ts'
import { emit, type ReleaseHost, type ReleaseSource, type ReleaseStatus } from './source.ts'
import { unpackRelease } from './unpack.ts'
import { checkSha256, checkSignature } from './verify.ts'

export const DEFAULT_INTERVAL_MS = 30_000
export const DEFAULT_KEEP = 3
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 120_000
export const DEFAULT_PREPARE_TIMEOUT_MS = 600_000

export interface FetchOptions {
  url: string
  /** Absolute. */
  releases: string
  intervalMs: number
  keep: number
  prepare: string | undefined
  publicKey: KeyObject | undefined
  env: NodeJS.ProcessEnv
  maxBytes?: number
  timeoutMs?: number
  prepareTimeoutMs?: number
}

type FetchStatus = NonNullable<ReleaseStatus['fetch']>

export class ReleaseFetcher implements ReleaseSource {
  readonly #o: FetchOptions
  readonly #dir: ReleasesDir
  #etag: string | undefined
  /** `version sha256` of releases refused for their content. */
  readonly #refused = new Set<string>()
  readonly #status: FetchStatus
  #host: ReleaseHost | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = true

  constructor (options: FetchOptions) {
    this.#o = options
    this.#dir = new ReleasesDir(options.releases)
    this.#dir.init()
    this.#status = { url: options.url, releases: options.releases }
  }

  /** DIR/current: the supervisor's working directory. */
  get current (): string { return this.#dir.current }

  /**
   * Before the first workers start with no release yet: checks until one is installed
   * (without a reload: nothing runs yet). Resolves at once if `current` exists.
   */
  async installFirst (log: (msg: string) => void): Promise<void> {
    const host: ReleaseHost = { reload: async () => {}, changed: () => {}, log }
    while (this.#dir.running() === undefined) {
      log(`--fetch: no release in ${this.#o.releases} yet; checking ${this.#o.url}`)
      await this.check(host, false)
      if (this.#dir.running() !== undefined) break
      await new Promise((resolve) => setTimeout(resolve, this.#o.intervalMs))
    }
  }

  start (host: ReleaseHost): void {
    this.#host = host
    this.#stopped = false
    this.#schedule(0)
  }

  stop (): void {
    this.#stopped = true
    this.#host = undefined
    clearTimeout(this.#timer)
  }

  status (): ReleaseStatus {
    return { running: this.#dir.running(), fetch: { ...this.#status } }
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      const host = this.#host
      if (host === undefined) return
      void this.check(host, true).finally(() => this.#schedule(this.#o.intervalMs))
    }, ms)
  }

  /** One poll of the manifest, and the install of what it names if that is new. Never rejects. */
  async check (host: ReleaseHost, live: boolean): Promise<void> {
    const at = Date.now()
    const url = this.#o.url
    let manifest: Manifest
    let etag: string | undefined
    try {
      const res = await getManifest(url, this.#etag, this.#o.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS)
      if (!res.changed) {
        this.#checked(host, { at, result: 'unchanged' }, false)
        return
      }
      etag = res.etag
      manifest = parseManifest(res.text, url)
    } catch (err) {
      const e = err as ReleaseError
      if (e.reason === 'manifest') this.#etag = etag // the same bad manifest is not parsed again
      this.#checked(host, { at, result: 'failed', error: e.message }, true)
      return
    }
    const { version } = manifest
    if (version === this.#dir.running()) {
      this.#etag = etag
      this.#checked(host, { at, result: 'running', version }, false)
      return
    }
    const key = `${version} ${manifest.sha256}`
    if (this.#refused.has(key)) {
      this.#etag = etag
      this.#checked(host, { at, result: 'refused before', version }, false)
      return
    }
    this.#checked(host, { at, result: 'new', version }, true)
    try {
      await this.#install(host, manifest, at, live)
      this.#etag = etag
    } catch (err) {
      const e = err as ReleaseError
      if (e.reason === 'download' || !(err instanceof ReleaseError)) {
        // Tried again at the next check: the ETag is not kept.
        this.#status.lastCheck = { at, result: 'failed', version, error: e.message }
        emit(host, CHANNELS.releaseCheck, `--fetch: ${version}: ${e.message}; trying again at the next check`, { url, result: 'failed', version, error: e.message })
      } else {
        this.#etag = etag
        this.#refused.add(key)
        this.#status.refused = { version, reason: e.reason, message: e.message, at: Date.now() }
        emit(host, CHANNELS.releaseRefused, `--fetch: release ${version} refused (${e.reason}): ${e.message}`, { version, reason: e.reason, message: e.message })
      }
    }
    host.changed()
  }

  #checked (host: ReleaseHost, check: NonNullable<FetchStatus['lastCheck']>, log: boolean): void {
    this.#status.lastCheck = check
    const data = { url: this.#o.url, ...check }
    emit(log ? host : undefined, CHANNELS.releaseCheck, `--fetch: ${check.result}${check.version === undefined ? '' : ` ${check.version}`}${check.error === undefined ? '' : `: ${check.error}`}`, data)
    host.changed()
  }

  async #install (host: ReleaseHost, m: Manifest, checkedAt: number, live: boolean): Promise<void> {
    const { version } = m
    const tarball = this.#dir.scratch('download', version)
    const started = Date.now()
    let target: string
    try {
      const { bytes, sha256 } = await download(m.url, tarball, {
        maxBytes: this.#o.maxBytes ?? DEFAULT_MAX_BYTES, timeoutMs: this.#o.timeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS
      })
      this.#status.lastFetched = { version, at: Date.now() }
      checkSha256(sha256, m.sha256)
      if (this.#o.publicKey !== undefined) await checkSignature(tarball, m.signature, this.#o.publicKey)
      emit(host, CHANNELS.releaseDownload, `--fetch: downloaded ${version} (${bytes} bytes, sha256 ok${this.#o.publicKey === undefined ? '' : ', signature ok'})`,
        { version, url: m.url, bytes, sha256, signed: this.#o.publicKey !== undefined, durationMs: Date.now() - started })
      target = this.#dir.freshTarget(version)
      const entries = await unpackRelease(tarball, this.#dir.scratch('unpack', version), target)
      emit(host, CHANNELS.releaseUnpack, `--fetch: unpacked ${version} into ${target} (${entries} entries)`, { version, dir: target, entries })
    } finally {
      fs.rmSync(tarball, { force: true })
    }
    if (this.#o.prepare !== undefined) {
      const prepared = Date.now()
      try {
        await runPrepare(this.#o.prepare, target, this.#o.env, this.#o.prepareTimeoutMs ?? DEFAULT_PREPARE_TIMEOUT_MS, (line) => host.log(`[prepare ${version}] ${line}`))
      } catch (err) {
        this.#dir.remove(version)
        throw err
      }
      emit(host, CHANNELS.releasePrepare, `--fetch: prepared ${version}`, { version, command: this.#o.prepare, durationMs: Date.now() - prepared })
    }
    const previous = this.#dir.running()
    this.#dir.point(version)
    emit(host, CHANNELS.releaseSwitch, `--fetch: current -> ${version}${live ? '; reloading' : ''}`, { version, previous })
    if (live) {
      try {
        await host.reload(`--fetch ${version}`)
      } catch (err) {
        // The old workers still serve; so must `current`, for the next worker that starts.
        if (this.#dir.running() === version) this.#dir.point(previous)
        this.#dir.remove(version)
        throw new ReleaseError('not-ready', `${(err as Error).message}; current -> ${previous ?? '(none)'} again`, { cause: err })
      }
    }
    this.#dir.touch(version)
    emit(host, CHANNELS.releaseLive, `--fetch: ${version} is live (${Date.now() - checkedAt} ms after the check that found it)`, { version, previous, durationMs: Date.now() - checkedAt })
    const removed = this.#dir.prune(this.#o.keep)
    if (removed.length > 0) emit(host, CHANNELS.releasePrune, `--fetch: removed old release(s) ${removed.join(', ')} (--keep ${this.#o.keep})`, { removed })
  }
}
