import type http from 'node:http'
import type https from 'node:https'
import express from 'express'
import Koa from 'koa'
import gracefulKoaDefault, { gracefulKoa } from '../../src/index.ts'
import type { Graceful } from '../../src/index.ts'

const app = new Koa()

// Documented usage: what app.listen accepts, returning the server.
const { listen, graceful } = gracefulKoa(app, { drainTimeout: 30_000 })
const server: http.Server = listen(8080)
listen(8080, '127.0.0.1')
listen(8080, '127.0.0.1', 511, () => {})
listen(8080, () => {})
listen('/run/app.sock')
listen({ port: 8080, host: '::1', ipv6Only: true }, () => {})
listen()
const orchestrator: Graceful = graceful
void [server, orchestrator]
gracefulKoaDefault(app).listen(8080)

// HTTPS through an option: the server is an https.Server.
const tls: https.Server = gracefulKoa(app, { https: { key: 'k', cert: 'c' } }).listen(8443)
void tls

// Wrong usage.
// @ts-expect-error drainTimeout is a number of milliseconds
gracefulKoa(app, { drainTimeout: 'x' })
// @ts-expect-error unknown option
gracefulKoa(app, { drainTimeot: 1000 })
// @ts-expect-error an Express app is not a Koa app
gracefulKoa(express())
// @ts-expect-error a port is a number (or a path string)
listen(true)
