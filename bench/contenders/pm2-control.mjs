// Drives one PM2 daemon (PM2_HOME from the env) through PM2's programmatic API, so that a
// reload costs one RPC rather than a CLI boot. Commands arrive over IPC:
//   { id, cmd: 'start', app }   { id, cmd: 'reload', name }   { id, cmd: 'pids', name }
//   { id, cmd: 'kill' }
// and each gets { id, ok, result | error } back.
import pm2 from 'pm2'

const call = (fn) => new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))))

await call((cb) => pm2.connect(cb))

process.on('message', async (msg) => {
  let result
  try {
    if (msg.cmd === 'start') {
      await call((cb) => pm2.start(msg.app, cb))
    } else if (msg.cmd === 'reload') {
      await call((cb) => pm2.reload(msg.name, cb))
    } else if (msg.cmd === 'pids') {
      const list = await call((cb) => pm2.list(cb))
      result = list.filter((p) => p.name === msg.name && p.pid > 0 && p.pm2_env?.status === 'online').map((p) => p.pid)
    } else if (msg.cmd === 'kill') {
      await call((cb) => pm2.killDaemon(cb))
      pm2.disconnect()
    } else {
      throw new Error(`unknown command ${msg.cmd}`)
    }
    process.send({ id: msg.id, ok: true, result })
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err?.message ?? err) })
  }
  if (msg.cmd === 'kill') process.disconnect()
})
process.send({ ready: true })
