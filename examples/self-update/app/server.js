// The app that gets released. It knows its version from release.json, which the release
// server writes into each tarball, and it can be made to fail at boot to show a rollback.
import fs from 'node:fs'
import http from 'node:http'
import { gracefulRestart } from '@graceful-restart/core'

const release = JSON.parse(fs.readFileSync(new URL('./release.json', import.meta.url), 'utf8'))
if (release.broken) throw new Error(`release ${release.version} cannot boot`)

const graceful = gracefulRestart()
const server = graceful.attach(http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ version: release.version, pid: process.pid }) + '\n')
}))
server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1')
