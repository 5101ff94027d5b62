import { Injectable } from '@nestjs/common'
import type { BeforeApplicationShutdown, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common'

const log = (msg: string): void => { console.log(`[pid ${process.pid}] ${msg}`) }

/**
 * Nest's shutdown hooks (close database pools, flush queues here). With gracefulNest() they
 * run in the old generation once its in-flight requests are done.
 */
@Injectable()
export class ShutdownLog implements OnModuleDestroy, BeforeApplicationShutdown, OnApplicationShutdown {
  onModuleDestroy (): void { log('shutdown hook: onModuleDestroy') }
  beforeApplicationShutdown (): void { log('shutdown hook: beforeApplicationShutdown') }
  onApplicationShutdown (): void { log('shutdown hook: onApplicationShutdown') }
}
