// One server for the overhead benchmark: `node bench/server.mjs <fastify|express|koa> <plain|graceful>`.
// Same app both ways; "graceful" adds the adapter with its defaults (signal handlers,
// connection tracking). Prints `{ "port": N }` once listening on 127.0.0.1.
import fs from 'node:fs'

const [framework, variant] = process.argv.slice(2)
// 'plain' twice (A/A) when GR_OVERHEAD_AA is set: the noise floor of this machine.
const graceful = variant === 'graceful' && process.env.GR_OVERHEAD_AA === undefined
// The adapters are workspace packages this private package does not depend on (they
// depend on it for their tests); load their build output directly.
const adapter = (name) => import(new URL(`../../${name}/dist/src/index.js`, import.meta.url).href)
const body = { hello: 'world' }
const ready = (server) => fs.writeSync(1, JSON.stringify({ port: server.address().port }) + '\n')

if (framework === 'fastify') {
  const { default: Fastify } = await import('fastify')
  const app = Fastify()
  if (graceful) await app.register((await adapter('fastify')).default, { logger: false })
  app.get('/', async () => body)
  await app.listen({ port: 0, host: '127.0.0.1' })
  ready(app.server)
} else if (framework === 'express') {
  const { default: express } = await import('express')
  const app = express()
  app.get('/', (req, res) => { res.json(body) })
  const listen = graceful ? (await adapter('express')).gracefulExpress(app, { logger: false }).listen : app.listen.bind(app)
  const server = listen(0, '127.0.0.1', () => ready(server))
} else if (framework === 'koa') {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  app.use((ctx) => { ctx.body = body })
  const listen = graceful ? (await adapter('koa')).gracefulKoa(app, { logger: false }).listen : app.listen.bind(app)
  const server = listen(0, '127.0.0.1', () => ready(server))
} else {
  throw new Error(`unknown framework ${framework}`)
}
