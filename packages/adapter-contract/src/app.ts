/**
 * A fixture app under test (see AppUnderTest in test-utils: start, ready, events), with the
 * contract fixtures' extras: generation numbers in 'ready' events say which handover an
 * event belongs to, and the next boot's mode and upgradeTimeout are files the test writes.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AppUnderTest, tracker } from '@graceful-restart/test-utils'
import type { AfterHookHost, AppEvent, LaunchOptions, Started } from '@graceful-restart/test-utils'

export type { AppEvent }

export interface StartOptions {
  fixture: string
  env?: Record<string, string | undefined>
  /** How long the first generation may take to be ready (ms). Default 15 s. */
  timeoutMs?: number
  /** Node options (`--import` a preload); every next generation inherits them. */
  execArgv?: string[]
}

export class RunningApp extends AppUnderTest {
  readonly modeFile: string
  generation = 1

  private constructor (started: Started, dir: string) {
    super(started, dir)
    this.modeFile = path.join(dir, 'boot-mode')
  }

  /** Starts the fixture (killed with every generation it spawns when the test ends) and waits until it is ready. */
  static async start (t: AfterHookHost, options: StartOptions): Promise<RunningApp> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-contract-'))
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
    const launch: LaunchOptions = {
      dir,
      by: 'ready-event',
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        BOOT_MODE_FILE: path.join(dir, 'boot-mode'),
        UPGRADE_TIMEOUT_FILE: path.join(dir, 'upgrade-timeout'),
        ...options.env
      }
    }
    if (options.execArgv !== undefined) launch.execArgv = options.execArgv
    if (options.timeoutMs !== undefined) launch.timeoutMs = options.timeoutMs
    const app = new RunningApp(RunningApp.spawn(tracker(t), options.fixture, launch), dir)
    await app.untilReady(launch)
    return app
  }

  /** Sends SIGUSR2 to the ready generation; resolves once the next one is ready. */
  async handover (): Promise<{ from: number, to: number, readyAt: number }> {
    const from = this.pid
    const mark = this.mark
    const generation = this.generation + 1
    process.kill(from, 'SIGUSR2')
    const ready = await this.waitEvent((e) => e.event === 'ready' && e.generation === generation,
      `generation ${generation} to be ready (handover from ${from})`, { from: mark })
    this.pid = ready.pid
    this.generation = generation
    return { from, to: ready.pid, readyAt: ready.at }
  }

  /** `count` handovers back to back, each over once the replaced generation started draining. */
  async handoversInARow (count: number): Promise<{ replaced: Array<{ from: number, drainAt: number }>, durationMs: number }> {
    const replaced: Array<{ from: number, drainAt: number }> = []
    const started = Date.now()
    for (let i = 0; i < count; i++) {
      const mark = this.mark
      const { from } = await this.handover()
      const drain = await this.waitEvent((e) => e.event === 'drain:start' && e.pid === from, `drain of ${from}`, { from: mark })
      replaced.push({ from, drainAt: drain.at })
    }
    return { replaced, durationMs: Date.now() - started }
  }

  /** Sends SIGUSR2 expecting the next generation to fail; resolves with the rollback event. */
  async failedHandover (): Promise<AppEvent> {
    const mark = this.mark
    process.kill(this.pid, 'SIGUSR2')
    return await this.waitEvent((e) => e.event === 'handover:rollback' && e.pid === this.pid,
      `a rollback in ${this.pid}`, { from: mark })
  }

  /** The upgradeTimeout that generations booting from now on use (ms); undefined: UPGRADE_TIMEOUT's. */
  setUpgradeTimeout (ms: number | undefined): void {
    const file = path.join(this.dir, 'upgrade-timeout')
    if (ms === undefined) fs.rmSync(file, { force: true })
    else fs.writeFileSync(file, String(ms))
  }

  /** Writes the mode the next boot reads (see fixture.ts); undefined: a good boot. */
  setBootMode (mode: 'throw' | 'exit1' | 'hang' | 'slow' | undefined): void {
    if (mode === undefined) fs.rmSync(this.modeFile, { force: true })
    else fs.writeFileSync(this.modeFile, mode)
  }
}
