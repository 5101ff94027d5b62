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
  const v = Math.min(offered, CHANNEL_VERSION)
  const send = end.send.bind(end) as Send
  const pending = new Map<number, Pending>()
  let nextId = 1
  let keepAlive: NodeJS.Timeout | undefined

  const onDisconnect = (): void => {
    for (const [id, p] of [...pending]) settle(id)?.reject(channelError(`the supervisor closed its channel before it answered for ${p.key}`))
  }
  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id)
    if (p === undefined) return undefined
    pending.delete(id)
    if (pending.size === 0) {
      clearInterval(keepAlive)
      end.off('disconnect', onDisconnect)
    }
    return p
  }

  end.on('internalMessage', ((raw: unknown, handle: unknown) => {
    const message = decodeSupervisorMessage(raw)
    if (message === undefined) return
    const p = settle(message.id)
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
  }) as (...args: never[]) => void)

  const post = (message: WorkerMessage, onError: (err: Error) => void): boolean => {
    if (end.connected === false) {
      onError(new Error('the channel is closed'))
      return false
    }
    try {
      // false only means the message was queued behind others: it is still sent.
      send(encode(message, v), undefined, undefined, (err) => { if (err !== null) onError(err) })
      return true
    } catch (err) {
      onError(err as Error)
      return false
    }
  }

  return {
    askSocket: (socket, index) => new Promise<ReceivedSocket>((resolve, reject) => {
      const id = nextId++
      const key = socket.kind === 'tcp' ? hostPort(socket.host, socket.port) : socket.path
      if (pending.size === 0) {
        keepAlive = setInterval(() => {}, 2 ** 30)
        end.on('disconnect', onDisconnect)
      }
      pending.set(id, { key, resolve, reject })
      post({ type: 'listen', id, index, socket }, (err) => {
        settle(id)?.reject(channelError(`cannot ask the supervisor for ${key}: ${err.message}`))
      })
    }),
    askReload: (trigger) => post({ type: 'reload', trigger }, () => {})
  }
}

function channelError (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_CHANNEL', message)
}
