/**
 * The contract between two generations, versioned so that an old parent and a new child
 * built from different releases still understand each other.
 *
 * Parent -> child, in the environment (removed from `process.env` as soon as it is read):
 *   GRACEFUL_RESTART_FDS         JSON `[{ "fd": 3, "key": "tcp:127.0.0.1:8080" }, ...]` (keys: listeners/key.ts)
 *   GRACEFUL_RESTART_READY_FD    the fd of a pipe on which the child reports readiness
 *   GRACEFUL_RESTART_PARENT      the parent's pid; a child whose parent differs ignores it all
 *   GRACEFUL_RESTART_GENERATION  1 for the first process, +1 per handover
 *   GRACEFUL_RESTART_SUPERVISOR  only under `graceful-restart run`: the supervisor's pid. The
 *                                readiness pipe then stays open as a lifeline: when it reaches
 *                                EOF the supervisor is gone and the worker drains and exits.
 *   GRACEFUL_RESTART_WORKER      only under the supervisor: the worker's index
 *   GRACEFUL_RESTART_CHANNEL     only under the supervisor: the version of the IPC channel it
 *                                opened to the worker (channel.ts), on which the
 *                                worker asks for sockets and reloads
 *   GRACEFUL_RESTART_ENV_FILES   JSON `["NAME", ...]`: variables the parent set from its `envFile`
 *                                files, so the child does not take them for real ones (env.ts)
 *   GRACEFUL_RESTART_DRAINING    JSON `[{ "pid": N, "start": "T" }, ...]`, oldest first: the
 *                                generations still draining, the parent last; `start` is field 22
 *                                of /proc/<pid>/stat, so a reused pid is never taken for one of them
 *   GRACEFUL_RESTART_HANDOVER_STARTED  CLOCK_MONOTONIC µs when the parent began this handover;
 *                                the child records it in the status beside the PID file, where
 *                                `reload --wait` tells its own reload's result from an older one.
 *                                Optional: a parent from an earlier release does not send it.
 *   GRACEFUL_RESTART_HANDOFF     the version of the handover channel (handoff/protocol.ts): the
 *                                child's IPC channel (Node's, `NODE_CHANNEL_FD`) is the parent's,
 *                                on which it takes idle connections and TLS ticket keys over
 * The last four came after version 1 without a bump: a child that does not know them ignores them.
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
export const ENV_FROM_FILES = 'GRACEFUL_RESTART_ENV_FILES'
export const ENV_DRAINING = 'GRACEFUL_RESTART_DRAINING'

export const ENV_HANDOVER_STARTED = 'GRACEFUL_RESTART_HANDOVER_STARTED'
export const ENV_HANDOFF = 'GRACEFUL_RESTART_HANDOFF'

export const INHERITANCE_ENV = [
  ENV_FDS, ENV_READY_FD, ENV_PARENT, ENV_GENERATION, ENV_VERSION, ENV_SUPERVISOR, ENV_WORKER, ENV_CHANNEL, ENV_FROM_FILES, ENV_DRAINING,
  ENV_HANDOVER_STARTED, ENV_HANDOFF
] as const

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

/** The JSON value of text, or undefined when it is not JSON (never thrown: callers refuse with their own code). */
function parseJson (text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

export function encodeListeners (listeners: PassedListener[]): string {
  return JSON.stringify(listeners)
}

export function decodeListeners (text: string): PassedListener[] | undefined {
  const value = parseJson(text)
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

/**
 * A generation that drains, known by its pid and the kernel's start time of that pid;
 * `sinceUs`: CLOCK_MONOTONIC µs when its drain began (unknown for the parent until the
 * child's ready report started that drain).
 */
export interface DrainingGeneration { pid: number, start: string, sinceUs?: number }

export function encodeDraining (list: readonly DrainingGeneration[]): string {
  return JSON.stringify(list.map(({ pid, start, sinceUs }) => ({ pid, start, ...(sinceUs === undefined ? {} : { sinceUs }) })))
}

export function decodeDraining (text: string): DrainingGeneration[] | undefined {
  const value = parseJson(text)
  if (!Array.isArray(value) || value.length > 1024) return undefined
  const out: DrainingGeneration[] = []
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined
    const { pid, start, sinceUs } = item as Record<string, unknown>
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 2) return undefined
    if (typeof start !== 'string' || !/^\d{1,20}$/.test(start)) return undefined
    if (sinceUs !== undefined && (typeof sinceUs !== 'number' || !Number.isSafeInteger(sinceUs) || sinceUs < 0)) return undefined
    out.push(sinceUs === undefined ? { pid, start } : { pid, start, sinceUs })
  }
  return out
}

export function decodeNames (text: string): string[] | undefined {
  const value = parseJson(text)
  if (!Array.isArray(value) || !value.every((name) => typeof name === 'string' && /^[^=\0]+$/.test(name))) return undefined
  return value as string[]
}
