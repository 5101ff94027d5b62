// The app a user edits under a file watcher or runs under a process manager: its version
// is part of its source, so an edit changes the code that runs. Shared by the tests of
// nodemon, node --watch, tsx watch, PM2 and PID namespaces.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL, fileURLToPath } from 'node:url'
import { eventLines, get, type Started } from '@graceful-restart/test-utils'

const CORE = pathToFileURL(fileURLToPath(new URL('../../src/index.js', import.meta.url))).href

/**
 * Writes the app to `file` (`.ts` for tsx). At boot it reports whether the process that
 * booted before it in this directory was still alive (LAST_PID_FILE): the check that no
 * two app processes ever overlap. Every diagnostics event is printed as a JSON line.
 */
export function writeApp (file: string, version: string): void {
  const ts = file.endsWith('.ts')
  fs.writeFileSync(file, `import fs from 'node:fs'
import http from 'node:http'
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNELS, gracefulRestart } from ${JSON.stringify(CORE)}

const version${ts ? ': string' : ''} = ${JSON.stringify(version)}
const print = (msg${ts ? ': object' : ''}) => { process.stdout.write(JSON.stringify(msg) + '\\n') }
for (const name of Object.values(CHANNELS)) {
  diagnosticsChannel.subscribe(name, (msg) => print({ event: name.replace('graceful-restart:', ''), ...(msg${ts ? ' as object' : ''}) }))
}
const lastPidFile = process.env.LAST_PID_FILE
let previous${ts ? ': number | undefined' : ''}
try { previous = Number(fs.readFileSync(lastPidFile, 'utf8')) } catch {}
let previousAlive = false
if (previous !== undefined && previous !== process.pid) {
  try { previousAlive = !/^State:\\s+Z/m.test(fs.readFileSync('/proc/' + previous + '/status', 'utf8')) } catch {}
}
fs.writeFileSync(lastPidFile, String(process.pid))
print({ event: 'boot', pid: process.pid, version, previous, previousAlive })

// APP_CONTEXT=standalone brings back the behaviour before the context detection, to show
// what each test catches.
const graceful = gracefulRestart(process.env.APP_CONTEXT ? { context: process.env.APP_CONTEXT${ts ? ' as never' : ''} } : undefined)
const server = graceful.attach(http.createServer((req, res) => {
  const send = () => {
    res.setHeader('x-pid', String(process.pid))
    res.end(JSON.stringify({ pid: process.pid, version }))
  }
  if (req.url?.startsWith('/sleep')) {
    print({ event: 'request', pid: process.pid, url: req.url })
    setTimeout(send, Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 100))
  } else {
    send()
  }
}))
server.listen(Number(process.env.PORT), '127.0.0.1')
`)
}

/** JSON lines printed by the app (a watcher may put escape codes before them). */
export function appEvents (started: Started, name: string): Array<Record<string, unknown>> {
  return eventLines(started.lines, name)
}

/** One request on a new connection; undefined while nobody answers. */
export async function served (port: number): Promise<{ pid: number, version: string } | undefined> {
  try {
    return JSON.parse((await get(port, '/', { timeoutMs: 5000 })).body) as { pid: number, version: string }
  } catch {
    return undefined
  }
}

/** Whether nothing listens on the port any more (binding it succeeds). */
export function portFree (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

export function appFiles (dir: string, name: string): { file: string, lastPid: string } {
  return { file: path.join(dir, name), lastPid: path.join(dir, 'last.pid') }
}
