/**
 * The `run` flags of self-upgrade (--watch, --fetch and theirs), checked together and
 * turned into the sources the supervisor runs.
 */
import path from 'node:path'
import type { GracefulError } from '../errors.ts'
import { DEFAULT_WATCH_DEBOUNCE } from '../options.ts'
import { DEFAULT_INTERVAL_MS, DEFAULT_KEEP, ReleaseFetcher } from './fetch.ts'
import type { ReleaseSource } from './source.ts'
import { readPublicKey } from './verify.ts'
import { WatchSource } from './watch-source.ts'

export interface ReleaseFlags {
  watch: string[]
  watchDebounce: number | undefined
  fetch: string | undefined
  releases: string | undefined
  interval: string | undefined
  keep: number | undefined
  prepare: string | undefined
  publicKey: string | undefined
  env: NodeJS.ProcessEnv
  /** The logical working directory: relative --watch paths start there. */
  cwd: string
}



/** `30s`, `500ms`, `5m`, `1h`; a bare number is seconds. */
export function parseInterval (text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text)
  if (m === null) return undefined
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
  return ms >= 1 && ms <= 2 ** 31 - 1 ? Math.round(ms) : undefined
}

export function releaseSources (f: ReleaseFlags, invalid: (msg: string) => GracefulError): { sources: ReleaseSource[], fetcher: ReleaseFetcher | undefined } {
  const sources: ReleaseSource[] = []
  if (f.fetch === undefined) {
    for (const [name, value] of [['--releases', f.releases], ['--interval', f.interval], ['--keep', f.keep], ['--prepare', f.prepare], ['--public-key', f.publicKey]] as const) {
      if (value !== undefined) throw invalid(`${name} needs --fetch`)
    }
  }
  if (f.watch.length > 0) {
    if (f.fetch !== undefined) throw invalid('--watch and --fetch do not go together: --fetch reloads by itself once a release is in place')
    sources.push(new WatchSource(f.watch.map((p) => path.resolve(f.cwd, p)), f.watchDebounce ?? DEFAULT_WATCH_DEBOUNCE))
  } else if (f.watchDebounce !== undefined) {
    throw invalid('--watch-debounce needs --watch')
  }
  let fetcher: ReleaseFetcher | undefined
  if (f.fetch !== undefined) {
    let url: URL
    try {
      url = new URL(f.fetch)
    } catch {
      throw invalid(`--fetch must be an http(s) URL, got ${JSON.stringify(f.fetch)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`--fetch must be an http(s) URL, got ${JSON.stringify(f.fetch)}`)
    if (f.releases === undefined) throw invalid('--fetch needs --releases DIR')
    const intervalMs = f.interval === undefined ? DEFAULT_INTERVAL_MS : parseInterval(f.interval)
    if (intervalMs === undefined) throw invalid(`--interval must be a time like 30s, 500ms or 5m, got ${JSON.stringify(f.interval)}`)
    fetcher = new ReleaseFetcher({
      url: url.href,
      releases: path.resolve(f.releases),
      intervalMs,
      keep: f.keep ?? DEFAULT_KEEP,
      prepare: f.prepare,
      publicKey: f.publicKey === undefined ? undefined : readPublicKey(f.publicKey),
      env: f.env
    })
    sources.push(fetcher)
  }
  return { sources, fetcher }
}
