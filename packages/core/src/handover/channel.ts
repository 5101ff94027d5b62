/**
 * What the supervisor and each of its workers say over Node's IPC channel, which carries
 * listening sockets (SCM_RIGHTS) beside JSON messages.
 *
 * Versioned apart from the handover protocol (protocol.ts): the supervisor offers
 * its channel version in GRACEFUL_RESTART_CHANNEL, a worker speaks the lower of that and its
 * own, and the supervisor answers in the version it was asked in. A supervisor started from
 * an old release thus keeps serving workers of newer ones.
 *
 * Every message carries `cmd: 'NODE_GRACEFUL_RESTART'`. Node delivers messages whose `cmd`
 * starts with `NODE_` as 'internalMessage' and never to `process.on('message')`, so an app
 * that uses the channel itself (PM2's `process.send('ready')` convention) sees none of ours.
 *
 * Worker -> supervisor:
 *   { type: 'listen', id, index, socket }  the index-th socket for that address (two servers
 *                                          of one worker on port 0 get two sockets); answered
 *                                          by 'socket' with the socket attached, or 'refused'
 *   { type: 'reload', trigger }            start a reload (a worker may not signal the supervisor)
 * Supervisor -> worker:
 *   { type: 'socket', id, key }
 *   { type: 'refused', id, key, code, errno, message }
 */
import type { GracefulErrorCode } from '../errors.ts'

export const CHANNEL_VERSION = 1
export const CHANNEL_CMD = 'NODE_GRACEFUL_RESTART'

export type SocketSpec =
  | { kind: 'tcp', host: string | undefined, port: number, ipv6Only: boolean }
  | { kind: 'unix', path: string, readableAll: boolean, writableAll: boolean }

export interface ListenAsk { type: 'listen', id: number, index: number, socket: SocketSpec }
export interface ReloadAsk { type: 'reload', trigger: string }
export type WorkerMessage = ListenAsk | ReloadAsk

export interface SocketGranted { type: 'socket', id: number, key: string }
export interface SocketRefused { type: 'refused', id: number, key: string, code: GracefulErrorCode, errno: string | undefined, message: string }
export type SupervisorMessage = SocketGranted | SocketRefused

/** A message from a worker that speaks a newer channel version than this supervisor. */
export interface Unsupported { type: 'unsupported', id: number | undefined, v: number }

export type Envelope<M> = M & { cmd: typeof CHANNEL_CMD, v: number }

/** Sockets one worker may ask for under one address; a bound on hostile input, not a policy. */
const MAX_INDEX = 1023
const MAX_TEXT = 4096

export function encode<M extends WorkerMessage | SupervisorMessage> (message: M, v = CHANNEL_VERSION): Envelope<M> {
  return { cmd: CHANNEL_CMD, v, ...message }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT

/** The envelope's version, or undefined when the value is not one of our messages at all. */
function versionOf (value: unknown): number | undefined {
  if (!isObject(value) || value.cmd !== CHANNEL_CMD) return undefined
  return typeof value.v === 'number' && Number.isInteger(value.v) && value.v >= 1 ? value.v : undefined
}

function decodeSpec (value: unknown): SocketSpec | undefined {
  if (!isObject(value)) return undefined
  if (value.kind === 'tcp') {
    const { host, port, ipv6Only } = value
    if (host !== undefined && (typeof host !== 'string' || host.length > 255)) return undefined
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return undefined
    return { kind: 'tcp', host: host === '' ? undefined : host, port, ipv6Only: ipv6Only === true }
  }
  if (value.kind === 'unix' && isText(value.path) && !value.path.includes('\n')) {
    return { kind: 'unix', path: value.path, readableAll: value.readableAll === true, writableAll: value.writableAll === true }
  }
  return undefined
}

/** Read by the supervisor: a worker's message, a newer version it cannot answer, or undefined (not ours, or malformed). */
export function decodeWorkerMessage (value: unknown): WorkerMessage | Unsupported | undefined {
  const v = versionOf(value)
  if (v === undefined || !isObject(value)) return undefined
  if (v > CHANNEL_VERSION) return { type: 'unsupported', id: isId(value.id) ? value.id : undefined, v }
  if (value.type === 'listen') {
    const socket = decodeSpec(value.socket)
    const { id, index } = value
    if (!isId(id) || typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > MAX_INDEX || socket === undefined) return undefined
    return { type: 'listen', id, index, socket }
  }
  if (value.type === 'reload') {
    return { type: 'reload', trigger: isText(value.trigger) ? value.trigger.slice(0, 200) : 'worker' }
  }
  return undefined
}

/** Read by a worker: the supervisor's answer, or undefined when it is not ours or malformed. */
export function decodeSupervisorMessage (value: unknown): SupervisorMessage | undefined {
  if (versionOf(value) === undefined || !isObject(value)) return undefined
  const { id, key } = value
  if (!isId(id) || !isText(key)) return undefined
  if (value.type === 'socket') return { type: 'socket', id, key }
  if (value.type === 'refused') {
    const code = typeof value.code === 'string' && /^ERR_GRACEFUL_[A-Z_]+$/.test(value.code) ? value.code as GracefulErrorCode : 'ERR_GRACEFUL_BIND'
    const errno = typeof value.errno === 'string' && /^E[A-Z0-9]+$/.test(value.errno) ? value.errno : undefined
    return { type: 'refused', id, key, code, errno, message: typeof value.message === 'string' ? value.message.slice(0, MAX_TEXT) : 'refused' }
  }
  return undefined
}
