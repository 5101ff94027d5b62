// gracefulNest() in this process: Nest's shutdown-hook listeners leave the routed signals,
// whether enableShutdownHooks() came before or after it; Nest keeps the others.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import 'reflect-metadata'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { gracefulNest } from '../src/index.ts'

class EmptyModule {}
Module({})(EmptyModule)

test('Nest keeps its shutdown hooks on the signals graceful-restart does not route, before and after gracefulNest()', async (t) => {
  const before = (signal: NodeJS.Signals): number => process.listenerCount(signal)
  const counts = { SIGUSR2: before('SIGUSR2'), SIGTERM: before('SIGTERM'), SIGINT: before('SIGINT'), SIGHUP: before('SIGHUP'), SIGQUIT: before('SIGQUIT') }
  const app = await NestFactory.create(EmptyModule, { logger: false })
  app.enableShutdownHooks(['SIGUSR2', 'SIGTERM', 'SIGHUP'])
  const graceful = await gracefulNest(app, { exit: false, logger: false, signals: { SIGINT: 'ignore' } })
  t.after(async () => {
    graceful.close()
    await app.close()
  })
  assert.equal(process.listenerCount('SIGUSR2'), counts.SIGUSR2 + 1, 'SIGUSR2: only graceful-restart')
  assert.equal(process.listenerCount('SIGTERM'), counts.SIGTERM + 1, 'SIGTERM: only graceful-restart')
  assert.equal(process.listenerCount('SIGHUP'), counts.SIGHUP + 1, 'SIGHUP: Nest keeps it')

  app.enableShutdownHooks(['SIGUSR2', 'SIGINT', 'SIGQUIT'])
  assert.equal(process.listenerCount('SIGUSR2'), counts.SIGUSR2 + 1, 'called again: SIGUSR2 still only graceful-restart')
  assert.equal(process.listenerCount('SIGQUIT'), counts.SIGQUIT + 1, 'SIGQUIT: Nest')
  assert.equal(process.listenerCount('SIGINT'), counts.SIGINT + 2, 'SIGINT is ignored by graceful-restart, so Nest may have it')
})
