/**
 * Makes an unmodified example observable as a contract fixture. Load it before the app
 * with `node --import <this file> server.js`; the next generations inherit `execArgv`,
 * so each of them loads it too. It does what a fixture does for itself (fixture.ts):
 * reads BOOT_MODE_FILE ('throw' throws here, before the app's code runs; 'exit1' exits
 * 1), prints every lifecycle event of the core and an 'exit' event, and adds a
 * 'listening' event per server with its address and a 'request' event for each
 * `/sleep` request, as fixtures print them.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import { boot, print } from './fixture.ts'

const mode = boot()
if (mode !== 'ok') throw new Error(`boot mode ${mode} needs the app's cooperation; an example only supports 'throw' and 'exit1'`)

const listen = net.Server.prototype.listen
const observed = new WeakSet<net.Server>()
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  if (!observed.has(this)) {
    observed.add(this)
    this.once('listening', () => { print('listening', { address: this.address() }) })
  }
  return (listen as (...a: unknown[]) => net.Server).apply(this, args)
} as typeof listen

diagnosticsChannel.subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage }
  if (request.url?.startsWith('/sleep') === true) print('request', { path: request.url })
})
