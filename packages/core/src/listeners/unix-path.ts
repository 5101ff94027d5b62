/**
 * A unix socket path left by a process that died without removing it blocks every bind to
 * it (EADDRINUSE), though nobody serves it. Both the generations (bind.ts) and the
 * supervisor (supervisor/sockets.ts) take such a path over the same way: connect to it, and
 * remove it only when nobody answers.
 */
import fs from 'node:fs'
import net from 'node:net'
import { GracefulError } from '../errors.ts'

export function probeUnix (path: string): Promise<'in-use' | 'stale' | 'absent'> {
  return new Promise((resolve) => {
    if (!fs.existsSync(path)) {
      resolve('absent')
      return
    }
    const socket = net.connect(path)
    socket.once('connect', () => { socket.destroy(); resolve('in-use') })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'absent' : 'in-use')
    })
  })
}

/**
 * Frees `path` for a new socket: removes a stale one. Rejects with ERR_GRACEFUL_ADDRESS_IN_USE
 * (shaped like Node's EADDRINUSE) when another process serves it.
 */
export async function takeOverUnixPath (path: string): Promise<void> {
  const state = await probeUnix(path)
  if (state === 'in-use') {
    const err = new GracefulError('ERR_GRACEFUL_ADDRESS_IN_USE', `unix socket ${path} is served by another process`)
    throw Object.assign(err, { syscall: 'listen', address: path, errno: 'EADDRINUSE' })
  }
  if (state === 'stale') fs.rmSync(path, { force: true })
}
