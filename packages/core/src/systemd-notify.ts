/**
 * Tells systemd (Type=notify) which process is the service's main process. A re-exec
 * handover changes the PID; `systemd-notify --pid=N --ready` from the new generation moves
 * MAINPID to it (the unit needs NotifyAccess=all, since the sender is not the old main PID).
 * Node has no unix datagram sockets, so the systemd-notify tool sends the message.
 */
import { spawn } from 'node:child_process'

export function notifySystemd (env: NodeJS.ProcessEnv, args: string[]): void {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return
  try {
    const child = spawn('systemd-notify', args, { stdio: 'ignore', env })
    child.on('error', () => {}) // not installed: systemd would then time the start out, and say so
    child.unref()
  } catch {
    // Nothing to tell and no one to tell it to.
  }
}
