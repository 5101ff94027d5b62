/**
 * The demo (README command 1, `pnpm demo`): one app, a few handovers under load, a live
 * progress line, and one summary line. It ends by itself, kills what it started, and
 * succeeds only if no request failed and every handover completed.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort } from '@graceful-restart/test-utils'
import { startLoad, type FailureCounts } from './load.ts'
import { isAlive, killAllMarked, newMarker, processesWithMarker, readPid, spawnApp, tail, waitAllExited, waitForAnswer } from './procs.ts'
import { median } from './stats.ts'

export interface DemoOptions {
  script: string
  label: string
  restarts?: number
  /** Per kind: this many keep-alive clients and as many new-connection clients. */
  clientsPerKind?: number
  /** Pause after each handover completed (ms). */
  intervalMs?: number
  out?: NodeJS.WriteStream
  env?: Record<string, string>
}

export interface DemoResult {
  restarts: number
  completed: number
  requests: number
  failed: number
  failures: FailureCounts
  handoversMs: number[]
  summary: string
  ok: boolean
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US')

export async function runDemo (opts: DemoOptions): Promise<DemoResult> {
  const out = opts.out ?? process.stdout
  const tty = out.isTTY === true
  const restarts = opts.restarts ?? 5
  const clients = opts.clientsPerKind ?? 16
  const intervalMs = opts.intervalMs ?? 600
  const host = '127.0.0.1'
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-demo-'))
  const pidFile = path.join(dir, 'app.pid')
  const marker = newMarker()
  const write = (s: string): void => { out.write(s) }
  let liveLine = ''
  const say = (line: string): void => {
    if (tty && liveLine !== '') write('\r\x1b[2K')
    write(line + '\n')
    if (tty && liveLine !== '') write(liveLine)
  }

  const handoversMs: number[] = []
  let completed = 0
  let loads: Array<ReturnType<typeof startLoad>> = []
  let failure: string | undefined
  try {
    const t0 = performance.now()
    const app = spawnApp(opts.script, { marker, env: { PORT: String(port), HOST: host, PID_FILE: pidFile, APP_VERSION: 'v1', ...opts.env } })
    const first = await waitForAnswer(port, host, 30_000)
    if (first === undefined) throw new Error(`${opts.label} did not answer on ${host}:${port} within 30 s\n${tail(app.lines)}`)
    say(`Started ${opts.label}, pid ${first.pid}, on http://${host}:${port}: first answer ${Math.round(first.atMs - t0)} ms after spawn.`)
    say(`Load: ${clients} keep-alive + ${clients} new-connection clients, 1 request in 50 sleeps 300 ms. ${restarts} handovers (kill -USR2), one after the other.`)

    const common = { port, host, clients, slowEvery: 50, slowMs: 300, requestTimeoutMs: 10_000, durationMs: 120_000 }
    loads = [startLoad({ ...common, mode: 'keep-alive' }), startLoad({ ...common, mode: 'new-connection' })]
    const started = performance.now()
    const counts = (): { requests: number, failed: number } => loads.reduce((a, l) => {
      const c = l.counts()
      return { requests: a.requests + c.requests, failed: a.failed + c.failed }
    }, { requests: 0, failed: 0 })
    let current = first.pid
    let phase = 'warming up'
    let lastRequests = 0
    let lastAt = performance.now()
    let rate = 0
    const render = (): void => {
      const c = counts()
      const now = performance.now()
      if (now - lastAt >= 500) {
        rate = (c.requests - lastRequests) * 1000 / (now - lastAt)
        lastRequests = c.requests
        lastAt = now
      }
      const last = handoversMs.at(-1)
      liveLine = `  ${phase} · ${int(c.requests)} requests · ${int(c.failed)} failed · ${int(rate)} req/s · pid ${current}${last !== undefined ? ` · last handover ${Math.round(last)} ms` : ''}`
      if (tty) write('\r\x1b[2K' + liveLine)
    }
    const ticker = setInterval(render, 100)
    try {
      await delay(1_000)
      for (let i = 1; i <= restarts; i++) {
        phase = `handover ${i}/${restarts}`
        const old = readPid(pidFile) ?? current
        const exclude = new Set<number>([old, ...loads.flatMap((l) => [...l.firstSeen.keys()])])
        const signalAt = performance.now()
        process.kill(old, 'SIGUSR2')
        const answers = loads.map((l) => l.waitForNewPid(exclude, signalAt, 30_000))
        let answered: [number, number]
        try {
          answered = await Promise.any(answers)
        } catch {
          failure = `handover ${i}: no answer from a new generation within 30 s\n${tail(app.lines)}`
          break
        }
        for (const a of answers) a.catch(() => {})
        const handover = answered[1] - signalAt
        handoversMs.push(handover)
        current = answered[0]
        const gone = await waitAllExited([old], 45_000, 5)
        if (gone === undefined) {
          failure = `handover ${i}: the old generation (pid ${old}) is still running 45 s after the signal`
          break
        }
        completed++
        render()
        say(`  handover ${i}/${restarts}: pid ${old} → ${answered[0]}, first answer from the new generation ${Math.round(handover)} ms after the signal, old one gone after ${Math.round(gone - signalAt)} ms · ${int(counts().requests)} requests, ${int(counts().failed)} failed`)
        await delay(intervalMs)
      }
      phase = 'finishing'
      await delay(400)
    } finally {
      clearInterval(ticker)
      if (tty) {
        render()
        write('\n')
        liveLine = ''
      }
    }
    void started
  } catch (err) {
    failure = (err as Error).message
  } finally {
    await Promise.all(loads.map((l) => l.stop()))
    // The app's own shutdown would drain; a demo just ends it, after the load stopped.
    for (const pid of processesWithMarker(marker)) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    await killAllMarked(marker)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const results = await Promise.all(loads.map((l) => l.done))
  const failures: FailureCounts = { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }
  for (const r of results) for (const k of Object.keys(failures) as Array<keyof FailureCounts>) failures[k] += r.failures[k]
  const requests = results.reduce((n, r) => n + r.requests, 0)
  const failed = results.reduce((n, r) => n + r.failed, 0)
  const med = handoversMs.length === 0 ? NaN : median(handoversMs)
  // Beyond the first connection of each keep-alive client (the handoff keeps them across handovers).
  const reconnects = results.filter((r) => r.mode === 'keep-alive').reduce((n, r) => n + Math.max(0, r.connections - r.clients), 0)
  const summary = `${completed} restart${completed === 1 ? '' : 's'}, ${int(requests)} requests, ${int(failed)} failed, median handover ${Number.isFinite(med) ? `${Math.round(med)} ms` : '–'}, ` +
    `keep-alive clients reconnected ${int(reconnects)} time${reconnects === 1 ? '' : 's'}`
  if (failure !== undefined) write(`\n${failure}\n`)
  if (failed > 0) {
    const kinds = Object.entries(failures).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')
    write(`Failed requests by kind: ${kinds}\n`)
  }
  return { restarts, completed, requests, failed, failures, handoversMs, summary, ok: failure === undefined && failed === 0 && completed === restarts }
}
