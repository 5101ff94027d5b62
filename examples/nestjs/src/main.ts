// A NestJS app on Express that restarts on `kill -USR2 <pid>` without losing a request.
//   GET /            -> { pid, version } and an x-pid header
//   GET /sleep?ms=N  -> the same, after N ms
// Environment: PORT (8080), HOST (127.0.0.1), APP_VERSION (v1),
// PID_FILE (optional: where the ready generation writes its pid).
import 'reflect-metadata'
import { NestFactory } from '@nestjs/core'
import { gracefulNest } from '@graceful-restart/nestjs'
import { AppModule } from './app.module.js'

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] })
// Safe with gracefulNest(): Nest keeps SIGHUP and the rest; SIGUSR2, SIGTERM and SIGINT go
// to graceful-restart, which runs Nest's shutdown hooks after the drain.
app.enableShutdownHooks()
const graceful = await gracefulNest(app, { drainTimeout: 30_000, pidFile: process.env.PID_FILE })
await app.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1')

console.log(`[pid ${process.pid}] ${process.env.APP_VERSION ?? 'v1'} (generation ${graceful.generation}) listening on ${await app.getUrl()} (Express); hand over with: kill -USR2 ${process.pid}`)
