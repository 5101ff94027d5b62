/**
 * Tells systemd (Type=notify) which process is the service's main process. A re-exec
 * handover changes the PID; `systemd-notify --pid=N --ready` from the new generation moves
 * MAINPID to it (the unit needs NotifyAccess=all, since the sender is not the old main PID).
 * Node has no unix datagram sockets, so the systemd-notify tool sends the message.
 *
 * One process's messages go out in order, each once the previous systemd-notify exited
 * (by default it waits until systemd took the message): a READY=1 overtaking the
 * RELOADING=1 before it would leave a Type=notify-reload unit waiting for a READY=1 that
 * already came.
 */
import { spawn } from 'node:child_process'

// A systemd-notify that hangs (systemd busy) must not hold up the next message forever.
const SEND_TIMEOUT_MS = 5000

let queue: Promise<void> = Promise.resolve()

function send (env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, SEND_TIMEOUT_MS)
    timer.unref()
    const done = (): void => {
      clearTimeout(timer)
      resolve()
    }
    try {
      const child = spawn('systemd-notify', args, { stdio: 'ignore', env })
      child.on('error', done) // not installed: systemd would then time the start out, and say so
      child.on('exit', done)
      child.unref()
    } catch {
      done() // nothing to tell and no one to tell it to
    }
  })
}

/** Sends `args` through systemd-notify after the messages before it; undefined when not under systemd. */
export function notifySystemd (env: NodeJS.ProcessEnv, args: string[]): Promise<void> | undefined {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return undefined
  queue = queue.then(() => send(env, args))
  return queue
}
