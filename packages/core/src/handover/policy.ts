/**
 * What a handover (the signal or `handover()`) may do where this process runs, decided
 * once from its context (context.ts):
 * - `reexec`: start the next generation and pass it the sockets.
 * - `exit`: the manager sent its restart signal and waits for us to exit (nodemon): drain,
 *   then end by that same signal, so that it starts the new code. `handover()` is refused.
 * - `refuse`: a manager restarts us itself, or our exit would take the next generation
 *   down with it. The process keeps serving; the error names what to do instead.
 * Under the supervisor the worker asks the supervisor instead (role.ts).
 */
import type { KnownContext, ProcessContext } from '../context.ts'
import { CHANNELS, type Reporter } from '../diagnostics.ts'
import { GracefulError } from '../errors.ts'
import type { Inheritance } from '../listeners/inherit.ts'
import type { ResolvedOptions } from '../options.ts'

export type HandoverPolicy = { action: 'reexec' } | { action: 'exit', refusal: GracefulError } | { action: 'refuse', refusal: GracefulError }

const RUN_UNDER_SUPERVISOR = 'run the app under the supervisor as the entrypoint instead (`graceful-restart run --listen <address> -- node server.js`)'

function managed (message: string): HandoverPolicy {
  return { action: 'refuse', refusal: new GracefulError('ERR_GRACEFUL_MANAGED', message) }
}

function unsafe (message: string): HandoverPolicy {
  return {
    action: 'refuse',
    refusal: new GracefulError('ERR_GRACEFUL_UNSAFE_CONTEXT', `${message}; the handover is refused and this process keeps serving. ` +
      "Set the option context: 'standalone' only if something else keeps the new process alive.")
  }
}

/** Where the process runs: detected, or named by the `context` option (never for a worker of the supervisor, which never re-executes itself). */
export function processContext (option: ResolvedOptions['context'], inheritance: Inheritance, detect: (known: KnownContext) => ProcessContext): ProcessContext {
  const { supervisorPid, parentPid } = inheritance
  return option === 'auto' || supervisorPid !== undefined
    ? detect({ supervised: supervisorPid !== undefined, previousGeneration: parentPid })
    : { kind: option, source: 'option', evidence: 'named by the context option' }
}

export function handoverPolicy (context: ProcessContext): HandoverPolicy {
  switch (context.kind) {
    case 'standalone':
    case 'supervisor':
    case 'systemd-notify':
      return { action: 'reexec' }
    case 'nodemon':
      return {
        action: 'exit',
        refusal: new GracefulError('ERR_GRACEFUL_MANAGED', 'under nodemon, nodemon restarts the app: save a file or type `rs`. ' +
          "Its restart signal (SIGUSR2) drains this process, which then exits so that nodemon starts the new code")
      }
    case 'node-watch':
      return managed('under `node --watch`, Node restarts the app when a watched file changes: save the file. ' +
        'A handover would leave a process the watcher does not know, holding the port')
    case 'tsx-watch':
      return managed('under `tsx watch`, tsx restarts the app when a watched file changes: save the file. ' +
        'A handover would leave a process the watcher does not know, holding the port')
    case 'pm2':
      return managed(`under PM2, PM2 restarts the app: \`pm2 reload ${context.pm2?.name ?? '<name>'}\`. ` +
        'A handover would leave a process PM2 does not track, holding the port')
    case 'cluster':
      return managed('a node:cluster worker shares its listener with the primary: the primary replaces workers ' +
        '(fork a new worker, then disconnect the old one)')
    case 'pid1':
      return unsafe('this process is a container\'s main process (PID 1 of its PID namespace, or started into it from outside): ' +
        'when it exits after a handover, the container ends and every process in it is killed, the new generation included. ' +
        `Fix: ${RUN_UNDER_SUPERVISOR}`)
    case 'wrapper':
      return unsafe('the processes that started this one exit when it exits, up to PID 1 of the PID namespace: ' +
        `the kernel then kills every process in the namespace, the new generation included. Fix: ${RUN_UNDER_SUPERVISOR}`)
    case 'systemd-simple':
      return unsafe('this systemd service has no notify socket (Type=simple, exec or forking): systemd stops the service when ' +
        'the main PID exits and kills the rest of its cgroup, the new generation included. ' +
        'Fix: Type=notify with NotifyAccess=all in the unit (each generation tells systemd its PID), ' +
        'or ExecStart=graceful-restart run ... -- node server.js')
  }
}

/** Says at start-up where the process runs; an unsafe context as a warning, before anyone relies on a handover. */
export function reportContext (reporter: Reporter, context: ProcessContext, policy: HandoverPolicy, pid: number): void {
  const { kind, source, evidence } = context
  const data = { pid, context: kind, source, evidence }
  if (policy.action === 'reexec') {
    reporter.event(CHANNELS.context, 'debug', `process context: ${kind}`, data)
  } else if (policy.refusal.code === 'ERR_GRACEFUL_UNSAFE_CONTEXT') {
    reporter.event(CHANNELS.context, 'warn', `process context: ${kind} (${evidence}): ${policy.refusal.message}`, { ...data, code: policy.refusal.code })
  } else {
    reporter.event(CHANNELS.context, 'info', `process context: ${kind} (${evidence}): ${policy.refusal.message}`, data)
  }
}

/** Reports a refused handover; returns the error `handover()` rejects with. */
export function refuseHandover (reporter: Reporter, context: ProcessContext, refusal: GracefulError, trigger: string, pid: number): GracefulError {
  const { code, message } = refusal
  reporter.event(CHANNELS.handoverRefused, code === 'ERR_GRACEFUL_UNSAFE_CONTEXT' ? 'error' : 'warn',
    `${trigger} refused (${context.kind}: ${context.evidence}): ${message}`,
    { pid, trigger, code, context: context.kind })
  return new GracefulError(code, message)
}

/**
 * Why a generation in `state` cannot start a handover now (a handover under way is joined,
 * not refused), with the line to log; undefined when it can.
 */
export function cannotHandOver (state: string, canPassSockets: boolean, trigger: string): { error: GracefulError, log: string } | undefined {
  if (state !== 'ready') {
    const error = new GracefulError(state === 'starting' ? 'ERR_GRACEFUL_NOT_READY' : 'ERR_GRACEFUL_SHUTTING_DOWN', `cannot hand over while ${state}`)
    return { error, log: `${trigger} ignored: ${error.message}` }
  }
  if (!canPassSockets) {
    const error = new GracefulError('ERR_GRACEFUL_NOT_SUPPORTED', 'this platform cannot pass listening sockets to a new process; only graceful shutdown is available')
    return { error, log: error.message }
  }
  return undefined
}
