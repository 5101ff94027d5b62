// Counts a supervisor's worker processes and its ready workers every few milliseconds, in a
// worker thread so that the test's own load clients cannot stretch the interval.
//
// Alive: a process whose environment carries the test's marker (found in /proc), other than
// the supervisor and this process, and not a zombie (exited, waiting to be reaped: it holds
// no memory any more). Ready: a worker the supervisor's status file shows as ready whose pid
// is alive by that count. /proc is listed on every tick, but a pid's environment is read
// only until it is known: pids are handed out in sequence, so one cannot name another
// process from one tick to the next. A process in the middle of its execve() shows an empty
// environment for a moment; that is no answer, and the pid is read again on the next tick.
// On a busy machine a thread can wait hundreds of ms for a CPU, so where allowed (root) the
// sampler's thread alone is given a higher priority; the report says whether it was, and
// the longest gap between two samples.
import fs from 'node:fs'
import os from 'node:os'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

export interface SamplerOptions {
  marker: string
  /** Marked pids that are not workers (the supervisor). */
  exclude: number[]
  statusFile: string
  intervalMs: number
}

export interface SamplerReport {
  samples: number
  mostAlive: number
  fewestReady: number
  /** How many samples saw each number of live workers. */
  aliveHistogram: Record<number, number>
  /** The longest and the median time between two samples, ms. */
  longestGapMs: number
  medianGapMs: number
  /** Whether the sampler's thread runs at a higher priority (nice -15; needs root). */
  reniced: boolean
  /** Samples that met a process whose environment read empty (a zombie, or one in its execve()): read again next tick. */
  undecided: number
  /** The first samples that broke a bound given to stop(), for the failure message. */
  breaches: string[]
}

export interface Sampler {
  stop: (bounds: { mostAlive: number, fewestReady: number }) => Promise<SamplerReport>
}

const KIND = 'graceful-restart:worker-sampler'

export function startSampler (options: SamplerOptions): Sampler {
  const worker = new Worker(new URL(import.meta.url), { workerData: { kind: KIND, options } })
  worker.unref()
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  let failure: Error | undefined
  worker.once('error', (err) => { failure = err })
  return {
    stop: async (bounds) => {
      const report = new Promise<SamplerReport>((resolve, reject) => {
        worker.once('message', resolve)
        void exited.then(() => reject(failure ?? new Error('the sampler thread exited without a report')))
      })
      worker.postMessage({ stop: bounds })
      try {
        return await report
      } finally {
        await worker.terminate()
      }
    }
  }
}

interface Sample { at: number, alive: number[], ready: number[], unknown: number }

function sampleLoop (o: SamplerOptions): void {
  let reniced = false
  try {
    // On Linux a priority set by thread id applies to that thread only, not the test's loop.
    os.setPriority(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()), -15)
    reniced = true
  } catch {
    // Not allowed: sample at the usual priority.
  }
  const needle = `GR_TEST_MARKER=${o.marker}`
  const excluded = new Set([...o.exclude, process.pid])
  let marked = new Map<number, boolean>()
  const samples: Sample[] = []
  const state = (pid: number): string | undefined => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    } catch {
      return undefined
    }
  }
  const tick = (): void => {
    const seen = new Map<number, boolean>()
    const unknown: number[] = []
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      const pid = Number(name)
      let isMarked = marked.get(pid)
      if (isMarked === undefined) {
        try {
          const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1')
          if (environ !== '') isMarked = environ.split('\0').includes(needle)
        } catch (err) {
          // Not ours to read (another user's, a kernel thread): never one of the workers.
          if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') isMarked = false
        }
      }
      if (isMarked !== undefined) seen.set(pid, isMarked)
      else if (!excluded.has(pid)) unknown.push(pid)
    }
    marked = seen
    const alive = [...seen].filter(([pid, m]) => m && !excluded.has(pid)).map(([pid]) => pid)
      .filter((pid) => { const s = state(pid); return s !== undefined && s !== 'Z' })
    let ready: number[] = []
    try {
      const status = JSON.parse(fs.readFileSync(o.statusFile, 'utf8')) as { workers?: Array<{ pid?: number, state?: string }> }
      ready = (status.workers ?? []).filter((w) => w.state === 'ready' && typeof w.pid === 'number' && alive.includes(w.pid)).map((w) => w.pid as number)
    } catch {
      // Between two renames of the status file: this tick counts no ready worker from it.
      return
    }
    samples.push({ at: performance.now(), alive, ready, unknown: unknown.length })
  }
  const timer = setInterval(tick, o.intervalMs)
  parentPort?.once('message', (msg: { stop: { mostAlive: number, fewestReady: number } }) => {
    clearInterval(timer)
    tick()
    const histogram: Record<number, number> = {}
    const gaps: number[] = []
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i] as Sample
      histogram[s.alive.length] = (histogram[s.alive.length] ?? 0) + 1
      if (i > 0) gaps.push(s.at - (samples[i - 1] as Sample).at)
    }
    gaps.sort((a, b) => a - b)
    const report: SamplerReport = {
      samples: samples.length,
      mostAlive: Math.max(0, ...samples.map((s) => s.alive.length)),
      fewestReady: Math.min(Infinity, ...samples.map((s) => s.ready.length)),
      aliveHistogram: histogram,
      longestGapMs: Math.round(gaps.at(-1) ?? 0),
      medianGapMs: Math.round((gaps[Math.floor(gaps.length / 2)] ?? 0) * 10) / 10,
      reniced,
      undecided: samples.filter((s) => s.unknown > 0).length,
      breaches: samples.filter((s) => s.alive.length > msg.stop.mostAlive || s.ready.length < msg.stop.fewestReady).slice(0, 5)
        .map((s) => `alive ${s.alive.join(',')} ready ${s.ready.join(',')}`)
    }
    parentPort?.postMessage(report)
  })
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === KIND) {
  sampleLoop((workerData as { options: SamplerOptions }).options)
}
