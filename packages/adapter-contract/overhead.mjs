#!/usr/bin/env node
// Steady-state overhead of each adapter: requests/s of the same app with and without it,
// measured with autocannon, alternating sides round by round so that drift (thermal,
// other load) hits both alike. Prints the median of each side, their ratio, and the
// median of the per-round ratios (each round pairs two back-to-back runs, so it is the
// figure least moved by load that comes and goes); exits 1 when that paired ratio says an
// adapter costs more than the budget (3 %).
// GR_OVERHEAD_AA=1 runs the plain app on both sides (an A/A run): the noise floor of the
// machine, to read the A/B figures against.
// Usage: node packages/adapter-contract/overhead.mjs [--rounds 5] [--seconds 3] [--connections 32] [fastify express koa]
// Needs the workspace built (pnpm build).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    budget: { type: 'string', default: '0.03' }
  }
})
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)
const connections = Number(values.connections)
const budget = Number(values.budget)
const frameworks = positionals.length > 0 ? positionals : ['fastify', 'express', 'koa']
const serverScript = new URL('./bench/server.mjs', import.meta.url)

async function startServer (framework, variant) {
  const child = spawn(process.execPath, [serverScript.pathname, framework, variant], { stdio: ['ignore', 'pipe', 'inherit'] })
  let buffered = ''
  child.stdout.setEncoding('utf8')
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${framework} ${variant} exited (${code}) before listening`)))
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      const line = buffered.split('\n').find((l) => l.startsWith('{'))
      if (line !== undefined) resolve(JSON.parse(line).port)
    })
  })
  return {
    port,
    pid: child.pid,
    async stop () {
      child.kill('SIGKILL')
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    }
  }
}

// The server's CPU time (user + system, in clock ticks) from /proc: what a request costs
// the server, which other load on the machine moves far less than requests/s.
function cpuTicks (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

async function measure (server, duration) {
  const before = cpuTicks(server.pid)
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}/`, connections, pipelining: 1, duration })
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`port ${server.port}: ${result.errors} errors, ${result.non2xx} non-2xx`)
  // Clock ticks are 10 ms: microseconds of CPU per request.
  return { rps: result.requests.average, cpuUs: (cpuTicks(server.pid) - before) * 10_000 / result.requests.total }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

console.log(`overhead: ${rounds} rounds x ${seconds} s per side, ${connections} connections, Node ${process.version}`)
const rows = []
for (const framework of frameworks) {
  const servers = { plain: await startServer(framework, 'plain'), graceful: await startServer(framework, 'graceful') }
  try {
    // Warm both (JIT, connection pools) before anything counts.
    for (const variant of ['plain', 'graceful']) await measure(servers[variant], 1)
    const samples = { plain: [], graceful: [] }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['plain', 'graceful'] : ['graceful', 'plain']
      for (const variant of order) samples[variant].push(await measure(servers[variant], seconds))
      const [p, g] = [samples.plain.at(-1), samples.graceful.at(-1)]
      console.log(`  ${framework} round ${round + 1}: plain ${p.rps.toFixed(0)} req/s (${p.cpuUs.toFixed(1)} us CPU/req), with adapter ${g.rps.toFixed(0)} req/s (${g.cpuUs.toFixed(1)} us CPU/req)`)
    }
    const rps = (side) => samples[side].map((x) => x.rps)
    const plain = median(rps('plain'))
    const graceful = median(rps('graceful'))
    const paired = median(samples.graceful.map((g, i) => g.rps / samples.plain[i].rps))
    const cpu = median(samples.graceful.map((g, i) => g.cpuUs / samples.plain[i].cpuUs))
    rows.push({ framework, plain, graceful, ratio: graceful / plain, paired, cpu })
  } finally {
    await servers.plain.stop()
    await servers.graceful.stop()
  }
}

console.log('\nframework  plain req/s  with adapter req/s  ratio of medians  median of paired ratios  CPU/request ratio')
let over = 0
for (const r of rows) {
  const ok = r.paired >= 1 - budget
  if (!ok) over++
  console.log(`${r.framework.padEnd(9)}  ${r.plain.toFixed(0).padStart(11)}  ${r.graceful.toFixed(0).padStart(18)}  ${r.ratio.toFixed(3).padStart(16)}  ${r.paired.toFixed(3).padStart(23)}  ${r.cpu.toFixed(3).padStart(17)}${ok ? '' : `  over the ${budget * 100} % budget`}`)
}
process.exit(over === 0 ? 0 : 1)
