/**
 * What a worker asks on its channel (handover/channel.ts): a socket to listen on, which the
 * supervisor binds once and keeps (sockets.ts), or a reload (the worker got the reload
 * signal but may not signal the supervisor, say as `--user`). Every request with an id
 * gets an answer, a refusal with a code and the errno included, so a worker's listen()
 * never hangs.
 */
import { GracefulError } from '../errors.ts'
import { CHANNEL_VERSION, decodeWorkerMessage, encode, type ListenAsk, type SupervisorMessage } from '../handover/channel.ts'
import { specKey, type SocketTable } from './sockets.ts'
import type { Worker } from './worker.ts'

export interface RequestHost {
  readonly sockets: SocketTable
  stopping: () => boolean
  reload: (trigger: string) => Promise<void>
  /** The supervisor holds a new socket: its status changed. */
  changed: () => void
  log: (msg: string) => void
}

type Reply = (answer: SupervisorMessage, v: number, handle?: object) => void

export function answerWorker (host: RequestHost, worker: Worker, raw: unknown, stray: unknown): void {
  const message = decodeWorkerMessage(raw)
  if (message === undefined) return
  // A socket the worker itself sent along with a message is not one we asked for.
  if (stray !== undefined && stray !== null) (stray as { close?: () => void }).close?.()
  const reply: Reply = (answer, v, handle) => {
    worker.proc.channel?.send(encode(answer, v), handle).catch(() => {
      // The worker is gone; its exit is handled on its own.
    })
  }
  if (message.type === 'unsupported') {
    if (message.id !== undefined) {
      reply({ type: 'refused', id: message.id, key: '-', code: 'ERR_GRACEFUL_PROTOCOL', errno: undefined, message: `the supervisor speaks channel version ${CHANNEL_VERSION}, the worker ${message.v}: restart the supervisor to upgrade it` }, CHANNEL_VERSION)
    }
    return
  }
  if (message.type === 'reload') {
    host.reload(`${describe(worker)}: ${message.trigger}`).catch(() => {})
    return
  }
  void grantSocket(host, worker, message, (raw as { v: number }).v, reply)
}

function describe (worker: Worker): string {
  return `worker ${worker.slot} of generation ${worker.generation} (pid ${worker.proc.pid ?? '-'})`
}

async function grantSocket (host: RequestHost, worker: Worker, message: ListenAsk, v: number, reply: Reply): Promise<void> {
  const key = specKey(message.socket)
  const who = describe(worker)
  try {
    if (host.stopping()) throw new GracefulError('ERR_GRACEFUL_SHUTTING_DOWN', 'it is stopping')
    const { socket, bound } = await host.sockets.obtain(message.socket, message.index, who)
    const handle = socket.handle()
    if (bound) {
      host.log(`${who} listens on ${key}: bound ${socket.address ?? key}, kept for every later worker`)
      host.changed()
    }
    reply({ type: 'socket', id: message.id, key }, v, handle)
  } catch (caught) {
    const refusal = refusalOf(caught, key)
    host.log(`${who} listens on ${key}: ${refusal.message}`)
    reply({ type: 'refused', id: message.id, key, ...refusal }, v)
  }
}

/** Our code when the error has one (else ERR_GRACEFUL_BIND), and the OS's errno name. */
function refusalOf (caught: unknown, key: string): { code: GracefulError['code'], errno: string | undefined, message: string } {
  const err = caught as { code?: unknown, errno?: unknown, message?: string }
  const code = typeof err.code === 'string' && err.code.startsWith('ERR_GRACEFUL_') ? err.code as GracefulError['code'] : 'ERR_GRACEFUL_BIND'
  const errno = typeof err.errno === 'string' ? err.errno : typeof err.code === 'string' && code !== err.code ? err.code : undefined
  const reason = err.message ?? String(caught)
  return { code, errno, message: `the supervisor ${reason.startsWith('cannot bind ') ? reason : `cannot bind ${key}: ${reason}`}` }
}
