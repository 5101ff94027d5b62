// This project: the plain node:http app with @graceful-restart/core. SIGUSR2 hands over
// to the next generation; the JSON event lines are the core's diagnostics channels.
// HANDOFF=0: handoffIdleConnections false (idle keep-alive connections closed at the drain
// instead of going to the next generation, the default).
import http from 'node:http'
import diagnosticsChannel from 'node:diagnostics_channel'
import { CHANNELS, gracefulRestart } from '@graceful-restart/core'
import { configure, event, handler, host, ports } from './app.mjs'

for (const name of Object.values(CHANNELS)) {
  diagnosticsChannel.subscribe(name, (msg) => event(name.replace('graceful-restart:', ''), msg))
}

const graceful = gracefulRestart({ pidFile: process.env.PID_FILE, ...(process.env.HANDOFF === '0' ? { handoffIdleConnections: false } : {}) })
for (const port of ports) {
  graceful.attach(configure(http.createServer(handler))).listen(port, host)
}
