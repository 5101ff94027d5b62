/**
 * The release manifest `--fetch URL` polls:
 *
 *   { "version": "v8", "url": "app-v8.tgz", "sha256": "<64 hex>", "signature": "<base64>" }
 *
 * `url` may be relative to the manifest's own URL. `signature` (needed with --public-key)
 * is the base64 ed25519 signature of the tarball's bytes. `version` names the release's
 * directory, so it is a plain name: never `current`, no slash, no leading dot.
 */
import { ReleaseError } from './errors.ts'

export interface Manifest {
  version: string
  /** Absolute http(s) URL of the tarball. */
  url: string
  sha256: string
  signature: string | undefined
}

const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/

export function parseManifest (text: string, manifestUrl: string): Manifest {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ReleaseError('manifest', `the manifest is not JSON: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ReleaseError('manifest', 'the manifest must be a JSON object')
  const m = raw as Record<string, unknown>
  const { version, url, sha256, signature } = m
  if (typeof version !== 'string' || !VERSION.test(version) || version === 'current') {
    throw new ReleaseError('manifest', `"version" must be a name of letters, digits and . _ + - (not "current"), got ${JSON.stringify(version)}`)
  }
  if (typeof url !== 'string' || url === '') throw new ReleaseError('manifest', `"url" must be a non-empty string, got ${JSON.stringify(url)}`)
  let resolved: URL
  try {
    resolved = new URL(url, manifestUrl)
  } catch {
    throw new ReleaseError('manifest', `"url" is not a URL: ${JSON.stringify(url)}`)
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new ReleaseError('manifest', `"url" must be http or https, got ${resolved.protocol}`)
  }
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) {
    throw new ReleaseError('manifest', `"sha256" must be 64 hex digits, got ${JSON.stringify(sha256)}`)
  }
  if (signature !== undefined && (typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature))) {
    throw new ReleaseError('manifest', '"signature" must be base64')
  }
  return { version, url: resolved.href, sha256: sha256.toLowerCase(), signature }
}
