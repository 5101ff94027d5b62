import Fastify from 'fastify'
import type { FastifyPluginAsync } from 'fastify'
import type { Graceful, HandoverResult, ShutdownResult, State } from '@graceful-restart/core'
import gracefulRestart, { fastifyGracefulRestart, gracefulRestart as named } from '../../src/index.ts'
import type { FastifyGracefulRestartOptions } from '../../src/index.ts'

const app = Fastify()

// Documented usage.
await app.register(gracefulRestart, { drainTimeout: 30_000 })
await app.register(fastifyGracefulRestart)
await app.register(named, {
  upgradeTimeout: 10_000,
  idleGrace: 500,
  pidFile: '/run/app.pid',
  signals: { SIGHUP: 'handover', SIGINT: null },
  ready: async () => {},
  beforeExit: () => {},
  logger: false
})
await app.listen({ port: 8080, host: '127.0.0.1' })
const plugin: FastifyPluginAsync<FastifyGracefulRestartOptions> = gracefulRestart
void plugin

// The decorator.
const graceful: Graceful = app.graceful
const state: State = app.graceful.state
const generation: number = app.graceful.generation
const ready: Promise<void> = app.graceful.ready()
const handover: Promise<HandoverResult> = app.graceful.handover()
const shutdown: Promise<ShutdownResult> = app.graceful.shutdown()
void [graceful, state, generation, ready, handover, shutdown]

// Wrong usage.
// @ts-expect-error drainTimeout is a number of milliseconds
await app.register(gracefulRestart, { drainTimeout: 'x' })
// @ts-expect-error unknown option
await app.register(gracefulRestart, { drainTimeot: 1000 })
// @ts-expect-error readiness follows listen(): autoReady is not an option of the plugin
await app.register(gracefulRestart, { autoReady: false })
// @ts-expect-error SIGUSR1 is Node's debugger signal, never routed
await app.register(gracefulRestart, { signals: { SIGUSR1: 'handover' } })
// @ts-expect-error state is one of the lifecycle states
const wrong: State = 'running'
void wrong
