/**
 * HTTP(S) for `--fetch`, with the platform's fetch: the manifest with If-None-Match, the
 * tarball streamed to a file while its sha256 is computed. Every read is bounded in bytes
 * and in time, so a server that trickles or never ends cannot hold the supervisor.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { ReleaseError } from './errors.ts'

export const MANIFEST_MAX_BYTES = 64 * 1024

export interface Limits {
  maxBytes: number
  timeoutMs: number
}

export type ManifestResponse =
  | { changed: false }
  | { changed: true, text: string, etag: string | undefined }

export async function getManifest (url: string, etag: string | undefined, timeoutMs: number): Promise<ManifestResponse> {
  const res = await request(url, timeoutMs, etag === undefined ? {} : { 'if-none-match': etag })
  if (res.status === 304) {
    await res.body?.cancel()
    return { changed: false }
  }
  if (res.status !== 200) {
    await res.body?.cancel()
    throw new ReleaseError('download', `the manifest answered HTTP ${res.status}`)
  }
  const chunks: Uint8Array[] = []
  await readBounded(res, { maxBytes: MANIFEST_MAX_BYTES, timeoutMs }, url, (chunk) => { chunks.push(chunk) })
  return { changed: true, text: Buffer.concat(chunks).toString('utf8'), etag: res.headers.get('etag') ?? undefined }
}

/** Streams url into file (created anew); resolves with its size and sha256 (hex). */
export async function download (url: string, file: string, limits: Limits): Promise<{ bytes: number, sha256: string }> {
  const res = await request(url, limits.timeoutMs, {})
  if (res.status !== 200) {
    await res.body?.cancel()
    throw new ReleaseError('download', `${url} answered HTTP ${res.status}`)
  }
  const hash = createHash('sha256')
  const fh = await fs.promises.open(file, 'wx', 0o600)
  try {
    const bytes = await readBounded(res, limits, url, async (chunk) => {
      hash.update(chunk)
      await fh.write(chunk)
    })
    return { bytes, sha256: hash.digest('hex') }
  } finally {
    await fh.close()
  }
}

async function request (url: string, timeoutMs: number, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    throw new ReleaseError('download', `cannot GET ${url}: ${describe(err)}`, { cause: err })
  }
}

async function readBounded (res: Response, limits: Limits, url: string, onChunk: (chunk: Uint8Array) => unknown): Promise<number> {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > limits.maxBytes) {
    await res.body?.cancel()
    throw new ReleaseError('download', `${url} is ${declared} bytes, more than the limit of ${limits.maxBytes}`)
  }
  let bytes = 0
  const body = res.body
  if (body === null) return 0
  const reader = body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return bytes
      bytes += value.byteLength
      if (bytes > limits.maxBytes) throw new ReleaseError('download', `${url} sent more than the limit of ${limits.maxBytes} bytes`)
      await onChunk(value)
    }
  } catch (err) {
    await reader.cancel().catch(() => {})
    if (err instanceof ReleaseError) throw err
    throw new ReleaseError('download', `reading ${url} failed: ${describe(err)}`, { cause: err })
  }
}

function describe (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e?.name === 'TimeoutError') return 'timed out'
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
}
