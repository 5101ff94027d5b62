/**
 * Starts the next generation with the listening sockets at fds 3, 4, ... and a pipe after
 * them on which it reports readiness. A supervisor's worker also gets Node's IPC channel,
 * on which it asks for sockets and reloads (channel.ts); so does a next generation that
 * takes connections or TLS ticket keys over from this one (handoff/protocol.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { Launch } from './launch.ts'
import {
  ENV_CHANNEL, ENV_DRAINING, ENV_FDS, ENV_FROM_FILES, ENV_GENERATION, ENV_HANDOVER_STARTED, ENV_PARENT, ENV_READY_FD, ENV_SUPERVISOR,
  ENV_HANDOFF, ENV_VERSION, ENV_WORKER, PROTOCOL_VERSION, decodeMessage, encodeDraining, encodeListeners, type DrainingGeneration, type PassedListener
} from './protocol.ts'
import { settleCertificateLoader } from './settle-tls.ts'
import { CHANNEL_VERSION } from './channel.ts'
import { HANDOFF_VERSION } from '../handoff/protocol.ts'

export interface GenerationSpec {
  launch: Launch
  env: NodeJS.ProcessEnv
  /** Listening fds of this process with their keys; passed at 3, 4, ... in this order. */
  listeners: Array<{ fd: number, key: string }>
  parentPid: number
  generation: number
  /** Under the supervisor: the worker's index. The readiness pipe then stays open as a lifeline. */
  worker?: number
  /** Variables set from the `envFile` files (handover/env.ts). */
  envFromFiles?: string[]
  /** The generations still draining once the child takes over, oldest first. */
  draining?: DrainingGeneration[]
  /** CLOCK_MONOTONIC µs when this handover began (the child records it for `reload --wait`). */
  handoverStartedUs?: number
  /** 'pipe' gives the caller the child's stdout and stderr (the supervisor labels them). */
  output?: 'inherit' | 'pipe'
  /** Run the child as this user and group (the supervisor's `--user` without setpriv). */
  ids?: { uid: number, gid: number } | undefined
  /** Open the handover channel to the child (connection handoff, TLS ticket keys); not for workers. */
  handoff?: boolean
}

/** A supervisor's end of the IPC channel to one worker. */
export interface ChildChannel {
  /** Resolves once sent; rejects when the worker is gone. `handle`: a listening socket's libuv handle. */
  send: (message: object, handle?: object) => Promise<void>
  /** Every message the worker sends on the library's behalf ('internalMessage'; the app's own are not ours). */
  onMessage: (fn: (message: unknown, handle: unknown) => void) => void
  /** Runs once the channel closed. */
  onDisconnect: (fn: () => void) => void
  disconnect: () => void
}

export interface GenerationEvents {
  onReady: () => void
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void
  onError: (err: Error) => void
}

/** The next generation as its parent sees it while the handover runs. */
export interface NextGeneration {
  readonly pid: number | undefined
  /** Resolves when the child has exited and was reaped, whatever the handover's outcome. */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill: (signal: NodeJS.Signals) => void
  readonly stdout: Readable | null
  readonly stderr: Readable | null
  /** Forget the child after it became ready: the parent leaves, the child stays. */
  release: () => void
  /** Under the supervisor, or with `handoff`: the IPC channel to the child. */
  readonly channel?: ChildChannel | undefined
}

const MAX_LINE = 4096

/** The child's environment: the spec's, plus what the protocol passes (protocol.ts). */
function childEnv (spec: GenerationSpec, passed: PassedListener[], readyFd: number): NodeJS.ProcessEnv {
  return {
    ...spec.env,
    [ENV_FDS]: encodeListeners(passed),
    [ENV_READY_FD]: String(readyFd),
    [ENV_PARENT]: String(spec.parentPid),
    [ENV_GENERATION]: String(spec.generation),
    [ENV_VERSION]: String(PROTOCOL_VERSION),
    ...(spec.worker === undefined ? {} : { [ENV_SUPERVISOR]: String(spec.parentPid), [ENV_WORKER]: String(spec.worker), [ENV_CHANNEL]: String(CHANNEL_VERSION) }),
    ...(spec.envFromFiles === undefined || spec.envFromFiles.length === 0 ? {} : { [ENV_FROM_FILES]: JSON.stringify(spec.envFromFiles) }),
    ...(spec.draining === undefined || spec.draining.length === 0 ? {} : { [ENV_DRAINING]: encodeDraining(spec.draining) }),
    ...(spec.handoverStartedUs === undefined ? {} : { [ENV_HANDOVER_STARTED]: String(spec.handoverStartedUs) }),
    ...(withHandoff(spec) ? { [ENV_HANDOFF]: String(HANDOFF_VERSION) } : {}),
    PWD: spec.launch.cwd
  }
}

/** Reads the readiness pipe line by line; calls `onReady` at the first ready line naming `pid`. */
function readyLines (pid: number, onReady: () => void): (chunk: Buffer) => void {
  let buffered = ''
  return (chunk) => {
    buffered += chunk.toString('utf8')
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (decodeMessage(line)?.pid === pid) onReady()
    }
    if (buffered.length > MAX_LINE) buffered = ''
  }
}

/** The supervisor's end of the IPC channel to a worker. */
function childChannel (child: ChildProcess): ChildChannel {
  return {
    send: (message, handle) => new Promise<void>((resolve, reject) => {
      // With a callback, a worker that is gone is reported here, never as an 'error' event.
      const callback = (err: Error | null): void => { if (err === null) resolve(); else reject(err) }
      try {
        child.send(message, handle as Parameters<ChildProcess['send']>[1], callback)
      } catch (err) {
        reject(err as Error)
      }
    }),
    onMessage: (fn) => { child.on('internalMessage' as 'message', fn) },
    onDisconnect: (fn) => {
      if (!child.connected) queueMicrotask(fn)
      else child.once('disconnect', fn)
    },
    disconnect: () => { if (child.connected) child.disconnect() }
  }
}

/** The handover channel goes to a next generation that asked for it, never to a supervisor's worker (whose channel is the supervisor's). */
function withHandoff (spec: GenerationSpec): boolean {
  return spec.handoff === true && spec.worker === undefined
}

/** A child that never started: nothing to kill or release. */
function unstarted (exited: NextGeneration['exited']): NextGeneration {
  return { pid: undefined, exited, kill: () => {}, release: () => {}, stdout: null, stderr: null }
}

/** Resolves when the child exited and was reaped; a child that could not be spawned at all never emits 'exit'. */
function exitOf (child: ChildProcess): NextGeneration['exited'] {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', () => { if (child.pid === undefined) resolve({ code: null, signal: null }) })
  })
}

export function spawnGeneration (spec: GenerationSpec, events: GenerationEvents): NextGeneration {
  const passed: PassedListener[] = spec.listeners.map((l, i) => ({ fd: 3 + i, key: l.key }))
  const readyFd = 3 + passed.length
  const output = spec.output ?? 'inherit'
  settleCertificateLoader()
  let child: ChildProcess
  try {
    child = spawn(spec.launch.execPath, spec.launch.args, {
      cwd: spec.launch.cwd,
      env: childEnv(spec, passed, readyFd),
      stdio: ['inherit', output, output, ...spec.listeners.map((l) => l.fd), 'pipe', ...(spec.worker === undefined && !withHandoff(spec) ? [] : ['ipc' as const])],
      ...spec.ids
    })
  } catch (err) {
    queueMicrotask(() => events.onError(err as Error))
    return unstarted(Promise.resolve({ code: null, signal: null }))
  }
  if (child.pid === undefined) {
    // EMFILE, ENFILE, EAGAIN, ENOENT, EACCES: Node returns a child without a pid (and
    // without child.stdio) and emits 'error' on the next tick.
    return unstarted(new Promise((resolve) => {
      child.once('error', (err) => {
        events.onError(err)
        resolve({ code: null, signal: null })
      })
    }))
  }
  const exited = exitOf(child)
  // The first of ready, exit and error settles the handover; the others are not reported.
  let settled = false
  const once = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
    if (settled) return
    settled = true
    fn(...args)
  }
  const pipe = child.stdio[readyFd] as Readable | null
  const onData = readyLines(child.pid, once(events.onReady))
  const onExit = once(events.onExit)
  const onError = once(events.onError)
  pipe?.on('data', onData)
  pipe?.on('error', () => {}) // the child closing its end is not an error here
  child.once('exit', onExit)
  child.once('error', onError)
  return {
    pid: child.pid,
    exited,
    channel: spec.worker === undefined && !withHandoff(spec) ? undefined : childChannel(child),
    stdout: child.stdout,
    stderr: child.stderr,
    kill: (signal) => { child.kill(signal) },
    release: () => {
      child.off('exit', onExit)
      child.off('error', onError)
      pipe?.off('data', onData)
      pipe?.destroy()
      child.unref()
    }
  }
}
