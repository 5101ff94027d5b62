import type http from 'node:http'
import type https from 'node:https'
import express from 'express'
import Koa from 'koa'
import gracefulExpressDefault, { gracefulExpress } from '../../src/index.ts'
import type { Graceful } from '../../src/index.ts'

const app = express()

// Documented usage: what app.listen accepts, returning the server.
const { listen, graceful } = gracefulExpress(app, { drainTimeout: 30_000 })
const server: http.Server = listen(8080)
listen(8080, '127.0.0.1')
listen(8080, '127.0.0.1', 511, (error) => { void (error satisfies Error | undefined) })
listen(8080, () => {})
listen('/run/app.sock')
listen({ port: 8080, host: '::1', ipv6Only: true, backlog: 511 }, () => {})
listen()
const orchestrator: Graceful = graceful
void [server, orchestrator]
gracefulExpressDefault(app).listen(8080)

// HTTPS through an option: the server is an https.Server.
const tls: https.Server = gracefulExpress(app, { https: { key: 'k', cert: 'c' } }).listen(8443)
const plain: http.Server = gracefulExpress(app, { http: { keepAliveTimeout: 10_000 } }).listen(8080)
void [tls, plain]

// Wrong usage.
// @ts-expect-error drainTimeout is a number of milliseconds
gracefulExpress(app, { drainTimeout: 'x' })
// @ts-expect-error unknown option
gracefulExpress(app, { drainTimeot: 1000 })
// @ts-expect-error a Koa app is not an Express app
gracefulExpress(new Koa())
// @ts-expect-error a port is a number (or a path string)
listen(true)
// @ts-expect-error the listen callback takes an optional error, not a server
listen(8080, (server: http.Server) => { void server })
