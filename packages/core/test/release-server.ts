// A release server on 127.0.0.1 for the --fetch tests: a manifest with an ETag, and
// tarballs built like `npm pack` builds them (everything under package/).
import { createHash, type KeyObject, sign } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import * as tar from 'tar'

export interface ReleaseServer {
  /** The manifest's URL. */
  url: string
  /** Serves `body` at /files/<name>; returns its URL relative to the manifest. */
  file: (name: string, body: Buffer) => string
  /** Replaces the manifest (a new ETag). */
  manifest: (m: Record<string, unknown>) => void
  /** Publishes a tarball as `version`; sha256 (and signature) computed unless given. */
  publish: (version: string, tarball: Buffer, opts?: { sha256?: string, key?: KeyObject, signature?: string }) => void
  /** GETs of the manifest that answered 200 and 304. */
  hits: { full: number, notModified: number }
}

export async function releaseServer (t: { after: (fn: () => unknown) => unknown }): Promise<ReleaseServer> {
  const files = new Map<string, Buffer>()
  let manifest = '{}'
  let etag = '"0"'
  const hits = { full: 0, notModified: 0 }
  const server = http.createServer((req, res) => {
    if (req.url === '/releases/manifest.json') {
      if (req.headers['if-none-match'] === etag) {
        hits.notModified++
        res.writeHead(304, { etag }).end()
        return
      }
      hits.full++
      res.writeHead(200, { etag, 'content-type': 'application/json' }).end(manifest)
      return
    }
    const body = files.get(req.url ?? '')
    if (body === undefined) res.writeHead(404).end()
    else res.writeHead(200, { 'content-type': 'application/gzip' }).end(body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}/releases/manifest.json`
  const file = (name: string, body: Buffer): string => {
    files.set(`/releases/files/${name}`, body)
    return `files/${name}`
  }
  const setManifest = (m: Record<string, unknown>): void => {
    manifest = JSON.stringify(m)
    etag = `"${createHash('sha1').update(manifest).digest('hex')}"`
  }
  return {
    url,
    file,
    manifest: setManifest,
    publish: (version, tarball, opts = {}) => {
      const rel = file(`app-${version}.tgz`, tarball)
      const signature = opts.signature ?? (opts.key === undefined ? undefined : sign(null, tarball, opts.key).toString('base64'))
      setManifest({ version, url: rel, sha256: opts.sha256 ?? createHash('sha256').update(tarball).digest('hex'), ...(signature === undefined ? {} : { signature }) })
    },
    hits
  }
}

/**
 * A gzipped tarball of `files` under package/ (as npm pack makes them), plus `links` as
 * symlinks there. Entries in `raw` keep their names as given (`../x`, `/abs`): what a
 * hostile or broken tarball holds.
 */
export async function tarball (files: Record<string, string>, opts: { raw?: Record<string, string>, links?: Record<string, string> } = {}): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-pack-'))
  try {
    const pkg = path.join(dir, 'package')
    fs.mkdirSync(pkg)
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(pkg, name)), { recursive: true })
      fs.writeFileSync(path.join(pkg, name), content)
    }
    for (const [name, target] of Object.entries(opts.links ?? {})) {
      fs.mkdirSync(path.dirname(path.join(pkg, name)), { recursive: true })
      fs.symlinkSync(target, path.join(pkg, name))
    }
    const renames = new Map<string, string>()
    Object.entries(opts.raw ?? {}).forEach(([name, content], i) => {
      fs.writeFileSync(path.join(dir, `raw${i}`), content)
      renames.set(`raw${i}`, name)
    })
    const out = path.join(dir, 'out.tgz')
    await tar.c({
      gzip: true,
      file: out,
      cwd: dir,
      portable: true,
      preservePaths: true,
      onWriteEntry: (entry) => {
        const to = renames.get(String(entry.path))
        if (to !== undefined) entry.path = to
      }
    }, ['package', ...renames.keys()])
    return fs.readFileSync(out)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
