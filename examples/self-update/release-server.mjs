// A tiny release server for `graceful-restart run --fetch`: node:http serving
// published/manifest.json (with an ETag) and the tarballs beside it.
//
//   node release-server.mjs serve [PORT]                  serve published/ on 127.0.0.1:PORT (default 8099)
//   node release-server.mjs publish VERSION [--broken]    npm pack app/ as VERSION, point the manifest at it
//
// With ./release.key (an ed25519 private key in PEM) present, publish also signs the tarball:
//   openssl genpkey -algorithm ed25519 -out release.key && openssl pkey -in release.key -pubout -out release.pub
import { execFileSync } from 'node:child_process'
import { createHash, createPrivateKey, sign } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'

const here = path.dirname(new URL(import.meta.url).pathname)
const published = path.join(here, 'published')
const [command, arg, flag] = process.argv.slice(2)

if (command === 'serve') {
  const port = Number(arg ?? 8099)
  http.createServer((req, res) => {
    const name = path.basename(new URL(req.url ?? '/', 'http://x').pathname)
    const file = path.join(published, name)
    if (!fs.existsSync(file)) return res.writeHead(404).end()
    const body = fs.readFileSync(file)
    const etag = `"${createHash('sha1').update(body).digest('hex')}"`
    if (req.headers['if-none-match'] === etag) return res.writeHead(304, { etag }).end()
    console.log(`${new Date().toISOString()} GET ${name}`)
    res.writeHead(200, { etag, 'content-length': body.length }).end(body)
  }).listen(port, '127.0.0.1', () => console.log(`release manifest: http://127.0.0.1:${port}/manifest.json`))
} else if (command === 'publish' && arg !== undefined) {
  // npm pack a copy of app/ with its release.json, as a build pipeline would.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'self-update-'))
  fs.cpSync(path.join(here, 'app'), work, { recursive: true })
  fs.writeFileSync(path.join(work, 'release.json'), JSON.stringify({ version: arg, broken: flag === '--broken' }))
  fs.mkdirSync(published, { recursive: true })
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', published], { cwd: work, encoding: 'utf8' }).trim().split('\n').pop()
  fs.rmSync(work, { recursive: true, force: true })
  const tarball = `app-${arg}.tgz`
  fs.renameSync(path.join(published, packed), path.join(published, tarball))
  const bytes = fs.readFileSync(path.join(published, tarball))
  const manifest = { version: arg, url: tarball, sha256: createHash('sha256').update(bytes).digest('hex') }
  const keyFile = path.join(here, 'release.key')
  if (fs.existsSync(keyFile)) manifest.signature = sign(null, bytes, createPrivateKey(fs.readFileSync(keyFile))).toString('base64')
  // Written beside, then renamed: a poll never reads half a manifest.
  fs.writeFileSync(path.join(published, 'manifest.json.tmp'), JSON.stringify(manifest, null, 2))
  fs.renameSync(path.join(published, 'manifest.json.tmp'), path.join(published, 'manifest.json'))
  console.log(`published ${arg}${flag === '--broken' ? ' (throws at boot)' : ''}: ${tarball}, sha256 ${manifest.sha256}${manifest.signature ? ', signed' : ''}`)
} else {
  console.error('usage: node release-server.mjs serve [PORT] | publish VERSION [--broken]')
  process.exit(2)
}
