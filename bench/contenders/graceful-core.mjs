// This project: the plain node:http app with @graceful-restart/core. SIGUSR2 hands over
// to the next generation; the JSON event lines are the core's diagnostics channels.
// HANDOFF=1: idle keep-alive connections go to the next generation (handoffIdleConnections).
import http from 'node:http'
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNELS, gracefulRestart } from '@graceful-restart/core'
import { configure, event, handler, host, ports } from './app.mjs'

for (const name of Object.values(CHANNELS)) {
  diagnosticsChannel.subscribe(name, (msg) => event(name.replace('graceful-restart:', ''), msg))
}

const graceful = gracefulRestart({ pidFile: process.env.PID_FILE, handoffIdleConnections: process.env.HANDOFF === '1' })
for (const port of ports) {
  graceful.attach(configure(http.createServer(handler))).listen(port, host)
}
