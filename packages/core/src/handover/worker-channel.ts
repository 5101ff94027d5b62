/**
 * A worker's end of the channel to its supervisor (channel.ts): it asks for the sockets
 * the supervisor does not hold yet, and for reloads, since a worker running as another
 * user may not signal the supervisor.
 *
 * The channel is Node's IPC channel (`process.send`). It does not keep the worker alive by
 * itself (Node refs it only while the app listens for 'message' or 'disconnect'), so while
 * an answer is awaited a 'disconnect' listener and a timer keep the process up; nothing is
 * left behind once every answer arrived.
 */
import { GracefulError } from '../errors.ts'
import { hostPort } from '../listeners/key.ts'
import { CHANNEL_VERSION, decodeSupervisorMessage, encode, type SocketSpec, type WorkerMessage } from './channel.ts'

/** A listening socket the supervisor passed: a libuv TCP or Pipe handle. */
export interface ReceivedSocket { handle: object, key: string }

export interface SupervisorChannel {
  /** The index-th socket for this address; rejects with a coded GracefulError, never hangs. */
  askSocket: (socket: SocketSpec, index: number) => Promise<ReceivedSocket>
  /** Asks the supervisor to reload every worker; false when the channel is already closed. */
  askReload: (trigger: string) => boolean
}

type Send = (message: unknown, handle: undefined, options: undefined, callback: (err: Error | null) => void) => boolean

/** The parts of `process` the channel uses; tests pass a fake. */
export interface IpcEnd {
  send?: Send | ((...args: never[]) => unknown) | undefined
  readonly connected?: boolean
  on: (event: 'internalMessage' | 'disconnect', fn: (...args: never[]) => void) => unknown
  off: (event: 'disconnect', fn: () => void) => unknown
}

interface Pending { key: string, resolve: (socket: ReceivedSocket) => void, reject: (err: GracefulError) => void }

/** The channel when the supervisor offered one (`offered` is its version) and Node set it up. */
export function openSupervisorChannel (offered: number | undefined, end: IpcEnd = process as unknown as IpcEnd): SupervisorChannel | undefined {
  if (offered === undefined || offered < 1 || typeof end.send !== 'function') return undefined
  return new WorkerChannel(end, end.send.bind(end) as Send, Math.min(offered, CHANNEL_VERSION))
}

class WorkerChannel implements SupervisorChannel {
  readonly #end: IpcEnd
  readonly #send: Send
  readonly #version: number
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #keepAlive: NodeJS.Timeout | undefined

  constructor (end: IpcEnd, send: Send, version: number) {
    this.#end = end
    this.#send = send
    this.#version = version
    end.on('internalMessage', ((raw: unknown, handle: unknown) => { this.#answered(raw, handle) }) as (...args: never[]) => void)
  }

  askSocket (socket: SocketSpec, index: number): Promise<ReceivedSocket> {
    return new Promise<ReceivedSocket>((resolve, reject) => {
      const id = this.#nextId++
      const key = socket.kind === 'tcp' ? hostPort(socket.host, socket.port) : socket.path
      if (this.#pending.size === 0) {
        this.#keepAlive = setInterval(() => {}, 2 ** 30)
        this.#end.on('disconnect', this.#onDisconnect)
      }
      this.#pending.set(id, { key, resolve, reject })
      this.#post({ type: 'listen', id, index, socket }, (err) => {
        this.#settle(id)?.reject(channelError(`cannot ask the supervisor for ${key}: ${err.message}`))
      })
    })
  }

  askReload (trigger: string): boolean {
    return this.#post({ type: 'reload', trigger }, () => {})
  }

  readonly #onDisconnect = (): void => {
    for (const [id, p] of [...this.#pending]) this.#settle(id)?.reject(channelError(`the supervisor closed its channel before it answered for ${p.key}`))
  }

  #settle (id: number): Pending | undefined {
    const p = this.#pending.get(id)
    if (p === undefined) return undefined
    this.#pending.delete(id)
    if (this.#pending.size === 0) {
      clearInterval(this.#keepAlive)
      this.#end.off('disconnect', this.#onDisconnect)
    }
    return p
  }

  #answered (raw: unknown, handle: unknown): void {
    const message = decodeSupervisorMessage(raw)
    if (message === undefined) return
    const p = this.#settle(message.id)
    if (p === undefined) return
    if (message.type === 'refused') {
      const err = new GracefulError(message.code, message.message)
      if (message.errno !== undefined) Object.assign(err, { errno: message.errno, syscall: 'listen' })
      p.reject(err)
    } else if (typeof handle === 'object' && handle !== null) {
      p.resolve({ handle, key: message.key })
    } else {
      p.reject(channelError(`the supervisor answered for ${message.key} without a socket`))
    }
  }

  #post (message: WorkerMessage, onError: (err: Error) => void): boolean {
    if (this.#end.connected === false) {
      onError(new Error('the channel is closed'))
      return false
    }
    try {
      // false only means the message was queued behind others: it is still sent.
      this.#send(encode(message, this.#version), undefined, undefined, (err) => { if (err !== null) onError(err) })
      return true
    } catch (err) {
      onError(err as Error)
      return false
    }
  }
}

function channelError (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_CHANNEL', message)
}
