// Inherited fd + http-terminator, as documented: on SIGUSR2 the process starts the next
// one with its listening socket at fd 3, waits for 'ready' over IPC, then calls
// `httpTerminator.terminate()` and exits. The first process binds PORT itself.
import http from 'node:http'
import { spawn } from 'node:child_process'
import { createHttpTerminator } from 'http-terminator'
import { configure, event, handler, host, port, writePidFile } from './app.mjs'

const inheritedFd = process.env.INHERITED_FD !== undefined ? Number(process.env.INHERITED_FD) : undefined
const server = configure(http.createServer(handler))
const terminator = createHttpTerminator({ server })

server.listen(inheritedFd !== undefined ? { fd: inheritedFd } : { port, host }, () => {
  writePidFile()
  event('listening', { port, inherited: inheritedFd !== undefined })
  if (typeof process.send === 'function') {
    process.send('ready')
    process.disconnect()
  }
})

let handingOver = false
process.on('SIGUSR2', () => {
  if (handingOver) return
  handingOver = true
  const started = performance.now()
  const fd = server._handle?.fd
  if (typeof fd !== 'number' || fd < 0) {
    event('handover:error', { message: 'no listening fd' })
    handingOver = false
    return
  }
  const env = { ...process.env, INHERITED_FD: '3' }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['ignore', 'inherit', 'inherit', fd, 'ipc'],
    env
  })
  const onExit = (code, signal) => {
    event('handover:rollback', { code, signal })
    handingOver = false
  }
  child.once('exit', onExit)
  child.once('message', (msg) => {
    if (msg !== 'ready') return
    child.off('exit', onExit)
    child.unref()
    event('handover:ready', { childPid: child.pid, durationMs: performance.now() - started })
    terminator.terminate().then(
      () => process.exit(0),
      (err) => {
        event('terminate:error', { message: String(err) })
        process.exit(1)
      })
  })
})
