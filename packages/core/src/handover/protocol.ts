/**
 * The contract between two generations, versioned so that an old parent and a new child
 * built from different releases still understand each other.
 *
 * Parent -> child, in the environment (removed from `process.env` as soon as it is read):
 *   GRACEFUL_RESTART_FDS         JSON `[{ "fd": 3, "key": "tcp:127.0.0.1:8080" }, ...]`
 *   GRACEFUL_RESTART_READY_FD    the fd of a pipe on which the child reports readiness
 *   GRACEFUL_RESTART_PARENT      the parent's pid; a child whose parent differs ignores it all
 *   GRACEFUL_RESTART_GENERATION  1 for the first process, +1 per handover
 *   GRACEFUL_RESTART_SUPERVISOR  only under `graceful-restart run`: the supervisor's pid. The
 *                                readiness pipe then stays open as a lifeline: when it reaches
 *                                EOF the supervisor is gone and the worker drains and exits.
 *   GRACEFUL_RESTART_WORKER      only under the supervisor: the worker's index
 *   GRACEFUL_RESTART_CHANNEL     only under the supervisor: the version of the IPC channel it
 *                                opened to the worker (supervisor/messages.ts), on which the
 *                                worker asks for sockets and reloads
 * Child -> parent, one JSON line on the readiness pipe: `{ "v": 1, "type": "ready", "pid": N }`.
 */
export const PROTOCOL_VERSION = 1

export const ENV_FDS = 'GRACEFUL_RESTART_FDS'
export const ENV_READY_FD = 'GRACEFUL_RESTART_READY_FD'
export const ENV_PARENT = 'GRACEFUL_RESTART_PARENT'
export const ENV_GENERATION = 'GRACEFUL_RESTART_GENERATION'
export const ENV_VERSION = 'GRACEFUL_RESTART_PROTOCOL'
/** Set by the supervisor (`graceful-restart run`): its pid; the worker hands over through it. */
export const ENV_SUPERVISOR = 'GRACEFUL_RESTART_SUPERVISOR'
export const ENV_WORKER = 'GRACEFUL_RESTART_WORKER'
export const ENV_CHANNEL = 'GRACEFUL_RESTART_CHANNEL'

export const INHERITANCE_ENV = [ENV_FDS, ENV_READY_FD, ENV_PARENT, ENV_GENERATION, ENV_VERSION, ENV_SUPERVISOR, ENV_WORKER, ENV_CHANNEL] as const

/** systemd socket activation (sd_listen_fds(3)); read for the first generation only. */
export const SYSTEMD_ENV = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const
export const SYSTEMD_FIRST_FD = 3

export interface PassedListener { fd: number, key: string }

export interface ReadyMessage { v: number, type: 'ready', pid: number }

export function encodeReady (pid: number): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, type: 'ready', pid } satisfies ReadyMessage) + '\n'
}

export function decodeMessage (line: string): ReadyMessage | undefined {
  try {
    const msg = JSON.parse(line) as Partial<ReadyMessage>
    if (msg.type === 'ready' && typeof msg.pid === 'number') return msg as ReadyMessage
  } catch {
    // Not ours: ignored, the timeout still guards the handover.
  }
  return undefined
}

export function encodeListeners (listeners: PassedListener[]): string {
  return JSON.stringify(listeners)
}

export function decodeListeners (text: string): PassedListener[] | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(value)) return undefined
  const out: PassedListener[] = []
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined
    const { fd, key } = item as Record<string, unknown>
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 3 || fd > 65535) return undefined
    if (typeof key !== 'string' || !/^(tcp|unix):/.test(key)) return undefined
    out.push({ fd, key })
  }
  return out
}
