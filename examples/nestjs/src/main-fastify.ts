// The same NestJS app on Fastify (gracefulNest() registers @graceful-restart/fastify).
// Routes and environment: see main.ts.
import 'reflect-metadata'
import { NestFactory } from '@nestjs/core'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import type { NestFastifyApplication } from '@nestjs/platform-fastify'
import { gracefulNest } from '@graceful-restart/nestjs'
import { AppModule } from './app.module.js'

const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), { logger: ['error', 'warn'] })
app.enableShutdownHooks()
const graceful = await gracefulNest(app, { drainTimeout: 30_000, pidFile: process.env.PID_FILE })
await app.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1')

console.log(`[pid ${process.pid}] ${process.env.APP_VERSION ?? 'v1'} (generation ${graceful.generation}) listening on ${await app.getUrl()} (Fastify); hand over with: kill -USR2 ${process.pid}`)
