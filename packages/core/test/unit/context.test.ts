// The process-context detector against fake process tables, one per context. The command
// lines are the ones the real tools produced (see the comment at the top of context.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { classifyProcess, detectContext, readProcFs, type ContextHost, type KnownContext, type ProcessContext } from '../../src/context.ts'

/** pid -> [ppid, comm, ...argv] */
type Table = Record<number, [number, string, ...string[]]>

interface Machine {
  pid?: number
  ppid: number
  env?: NodeJS.ProcessEnv
  cluster?: boolean
  procs?: Table
}

const HOST_INIT: Table = { 1: [0, 'systemd', '/sbin/init', 'splash'] }
const TERMINAL: Table = {
  ...HOST_INIT,
  900: [1, 'sshd', 'sshd: dev@pts/0'],
  901: [900, 'bash', '-bash']
}
const first: KnownContext = { supervised: false, previousGeneration: undefined }

function detect (m: Machine, known: KnownContext = first): ProcessContext {
  const procs = m.procs ?? {}
  const host: ContextHost = {
    pid: m.pid ?? 4242,
    ppid: m.ppid,
    env: m.env ?? {},
    isClusterWorker: m.cluster ?? false,
    readProcess: (pid) => {
      const row = procs[pid]
      if (row === undefined) return undefined
      const [ppid, comm, ...argv] = row
      return { ppid, comm, argv }
    }
  }
  return detectContext(host, known)
}

test('a server started from a terminal, a test runner or a plain script is standalone', () => {
  assert.equal(detect({ ppid: 901, procs: TERMINAL }).kind, 'standalone')
  // `node --test` runs each file in its own node process; the fixtures are its children.
  const runner: Table = { ...TERMINAL, 950: [901, 'node', 'node', '--test', 'dist/test/a.test.js'], 951: [950, 'node', '/usr/bin/node', '--test-reporter=tap', 'dist/test/a.test.js'] }
  assert.equal(detect({ ppid: 951, procs: runner }).kind, 'standalone')
  // `bash deploy.sh` ends with this process, but its parent (the login shell) stays.
  const script: Table = { ...TERMINAL, 960: [901, 'bash', 'bash', 'deploy.sh'] }
  const context = detect({ ppid: 960, procs: script })
  assert.equal(context.kind, 'standalone')
  assert.equal(context.evidence, 'parent chain ends at -bash (pid 901), which outlives this process')
  // Daemonized on a host: reparented to the host's init, which never exits.
  assert.equal(detect({ ppid: 1, procs: HOST_INIT }).kind, 'standalone')
  // No /proc (macOS) and no variable: nothing to go on.
  assert.equal(detect({ ppid: 77 }).kind, 'standalone')
})

test('a worker of graceful-restart run is supervised, whatever else the environment says', () => {
  const context = detect({ ppid: 10, env: { pm_id: '0', INVOCATION_ID: 'x' }, procs: { 10: [1, 'node', 'node', 'main.js', 'run'] } }, { supervised: true, previousGeneration: 10 })
  assert.equal(context.kind, 'supervisor')
})

test('PM2: fork and cluster mode, with the app name for `pm2 reload`', () => {
  const god: Table = { ...HOST_INIT, 300: [1, 'PM2 v7.0.4: God', 'PM2', 'v7.0.4:', 'God', 'Daemon', '(/root/.pm2)'] }
  const fork = detect({ ppid: 300, procs: god, env: { pm_id: '0', name: 'api', exec_mode: 'fork_mode', NODE_APP_INSTANCE: '0' } })
  assert.equal(fork.kind, 'pm2')
  assert.deepEqual(fork.pm2, { name: 'api', mode: 'fork' })
  const clustered = detect({ ppid: 300, procs: god, cluster: true, env: { pm_id: '3', name: 'api', exec_mode: 'cluster_mode' } })
  assert.deepEqual(clustered.pm2, { name: 'api', mode: 'cluster' })
  // pm2-runtime as a container's PID 1 is still PM2: it restarts the app itself.
  assert.equal(detect({ ppid: 1, procs: { 1: [0, 'node', 'node', '/usr/bin/pm2-runtime', 'app.js'] }, env: { pm_id: '0', name: 'app', exec_mode: 'fork_mode' } }).kind, 'pm2')
})

test('a node:cluster worker without PM2', () => {
  assert.equal(detect({ ppid: 901, procs: { ...TERMINAL, 910: [901, 'node', 'node', 'primary.js'] }, cluster: true }).kind, 'cluster')
})

test('node --watch: by the variable Node sets in the watched child, or by the parent command line', () => {
  assert.equal(detect({ ppid: 920, env: { WATCH_REPORT_DEPENDENCIES: '1' } }).kind, 'node-watch')
  const watcher: Table = { ...TERMINAL, 920: [901, 'node', 'node', '--watch-path=src', '--watch', 'server.js'] }
  assert.equal(detect({ ppid: 920, procs: watcher }).kind, 'node-watch')
  // An app argument that happens to read --watch is not Node's flag.
  const app: Table = { ...TERMINAL, 921: [901, 'node', 'node', 'build.js', '--watch'] }
  assert.equal(detect({ ppid: 921, procs: app }).kind, 'standalone')
})

test('tsx watch restarts the app; plain tsx is a wrapper that exits with it', () => {
  const watch: Table = { ...TERMINAL, 930: [901, 'node', 'node', '/app/node_modules/.bin/../tsx/dist/cli.mjs', 'watch', 'server.ts'] }
  assert.equal(detect({ ppid: 930, procs: watch }).kind, 'tsx-watch')
  const global: Table = { ...TERMINAL, 931: [901, 'node', 'node', '/usr/local/bin/tsx', 'watch', '--clear-screen=false', 'server.ts'] }
  assert.equal(detect({ ppid: 931, procs: global }).kind, 'tsx-watch')
  const plain: Table = { ...TERMINAL, 932: [901, 'node', 'node', '/usr/local/bin/tsx', 'server.ts'] }
  assert.equal(detect({ ppid: 932, procs: plain }).kind, 'standalone', 'from a terminal the login shell outlives it')
  const inContainer: Table = { 1: [0, 'node', 'node', '/app/node_modules/.bin/tsx', 'server.ts'] }
  assert.equal(detect({ ppid: 1, pid: 7, procs: inContainer }).kind, 'wrapper')
})

test('nodemon, directly and through the shell of `nodemon --exec`', () => {
  const direct: Table = { ...TERMINAL, 940: [901, 'node', 'node', '/app/node_modules/.bin/../nodemon/bin/nodemon.js', 'server.js'] }
  const context = detect({ ppid: 940, procs: direct })
  assert.equal(context.kind, 'nodemon')
  assert.equal(context.evidence, 'started by node nodemon.js (pid 940)')
  const exec: Table = { ...TERMINAL, 941: [901, 'node', 'node', '/usr/local/bin/nodemon', '--exec', 'node server.js'], 942: [941, 'sh', 'sh', '-c', 'node server.js'] }
  assert.equal(detect({ ppid: 942, procs: exec }).kind, 'nodemon')
  // nodemon as a container's PID 1 keeps running across restarts: it is the manager.
  assert.equal(detect({ ppid: 1, pid: 8, procs: { 1: [0, 'node', 'node', '/app/node_modules/.bin/nodemon', 'server.js'] } }).kind, 'nodemon')
})

test('systemd: a notify socket makes re-exec safe; without one the service ends with its main PID', () => {
  const notify = detect({ ppid: 1, procs: HOST_INIT, env: { INVOCATION_ID: 'abc', NOTIFY_SOCKET: '/run/systemd/notify' } })
  assert.equal(notify.kind, 'systemd-notify')
  assert.equal(detect({ ppid: 1, procs: HOST_INIT, env: { INVOCATION_ID: 'abc' } }).kind, 'systemd-simple')
  // ExecStart=/usr/bin/npm start: npm and its `sh -c` end with the app, then systemd sees the main PID exit.
  const npm: Table = { ...HOST_INIT, 50: [1, 'npm start', 'npm', 'start'], 51: [50, 'sh', 'sh', '-c', 'node server.js'] }
  assert.equal(detect({ ppid: 51, procs: npm, env: { INVOCATION_ID: 'abc' } }).kind, 'systemd-simple')
  // A user service (systemd --user) counts the same.
  const user: Table = { ...HOST_INIT, 700: [1, 'systemd', '/usr/lib/systemd/systemd', '--user'] }
  assert.equal(detect({ ppid: 700, procs: user, env: { INVOCATION_ID: 'abc' } }).kind, 'systemd-simple')
  // A terminal opened by a desktop's user service inherits INVOCATION_ID: its shell stays.
  const desktop: Table = { ...user, 710: [700, 'gnome-terminal-', '/usr/libexec/gnome-terminal-server'], 711: [710, 'bash', 'bash'] }
  assert.equal(detect({ ppid: 711, procs: desktop, env: { INVOCATION_ID: 'abc' } }).kind, 'standalone')
  // Without /proc the variable alone decides.
  assert.equal(detect({ ppid: 1, env: { INVOCATION_ID: 'abc' } }).kind, 'systemd-simple')
})

test('PID 1 of a PID namespace', () => {
  const context = detect({ pid: 1, ppid: 0 })
  assert.equal(context.kind, 'pid1')
  // Even with a notify socket: the namespace dies with PID 1 before systemd could follow.
  assert.equal(detect({ pid: 1, ppid: 0, env: { INVOCATION_ID: 'abc', NOTIFY_SOCKET: '/run/n' } }).kind, 'pid1')
  // A pod that shares one PID namespace: pause is PID 1, and each container's main process
  // has its parent outside the namespace, so getppid() says 0.
  const pod = detect({ pid: 7, ppid: 0, procs: { 1: [0, 'pause', '/pause'] } })
  assert.equal(pod.kind, 'pid1')
  assert.match(pod.evidence, /ppid 0/)
})

test('a chain of wrappers up to PID 1: tini, docker-init, dumb-init, npm, pnpm, yarn, sh -c', () => {
  const cases: Array<[string, Table, number]> = [
    ['tini (docker run --init)', { 1: [0, 'docker-init', '/sbin/docker-init', '--', 'node', 'server.js'] }, 1],
    ['tini', { 1: [0, 'tini', 'tini', '-s', '--', 'node', 'server.js'] }, 1],
    ['dumb-init', { 1: [0, 'dumb-init', '/usr/bin/dumb-init', 'node', 'server.js'] }, 1],
    ['npm start', { 1: [0, 'npm start', 'npm', 'start'], 12: [1, 'sh', 'sh', '-c', 'node server.js'] }, 12],
    ['pnpm start', { 1: [0, 'node', 'node', '/usr/local/bin/pnpm', 'start'], 9: [1, 'sh', 'sh', '-c', 'node server.js'] }, 9],
    ['yarn start', { 1: [0, 'node', '/usr/local/bin/node', '/opt/yarn-v1.22.22/bin/yarn.js', 'start'], 9: [1, 'sh', '/bin/sh', '-c', 'node server.js'] }, 9],
    ['sh -c', { 1: [0, 'sh', '/bin/sh', '-c', 'node migrate.js && node server.js'] }, 1],
    ['tini, then npm', { 1: [0, 'tini', 'tini', '--', 'npm', 'start'], 6: [1, 'npm start', 'npm', 'start'], 13: [6, 'sh', 'sh', '-c', 'node server.js'] }, 13]
  ]
  for (const [name, procs, ppid] of cases) {
    const context = detect({ pid: 20, ppid, procs })
    assert.equal(context.kind, 'wrapper', name)
  }
  assert.equal(detect({ pid: 20, ppid: 12, procs: { 1: [0, 'npm start', 'npm', 'start'], 12: [1, 'sh', 'sh', '-c', 'node server.js'] } }).evidence,
    'sh -c (pid 12), started by npm (pid 1)')
  // A real init as PID 1 of a container (s6, an init that reaps and stays) is not a wrapper.
  assert.equal(detect({ pid: 20, ppid: 1, procs: { 1: [0, 's6-svscan', 's6-svscan', '/run/service'] } }).kind, 'standalone')
})

test('a generation that took over sees the context of the one before it, not its parent', () => {
  // gen 1 ran under systemd (Type=notify); gen 2's parent is gen 1 until gen 1 exits.
  const procs: Table = { ...HOST_INIT, 500: [1, 'node', 'node', 'server.js'] }
  const env = { INVOCATION_ID: 'abc', NOTIFY_SOCKET: '/run/systemd/notify' }
  assert.equal(detect({ ppid: 500, procs, env }, { supervised: false, previousGeneration: 500 }).kind, 'systemd-notify')
  assert.equal(detect({ ppid: 500, procs, env }).kind, 'standalone', 'an unrelated node parent ends the walk')
})

test('classifyProcess: shells are wrappers only when they run a command or a script', () => {
  const role = (...argv: string[]): string => classifyProcess({ ppid: 1, comm: argv[0] ?? '', argv }).role
  assert.equal(role('bash'), 'other')
  assert.equal(role('-bash'), 'other')
  assert.equal(role('bash', '--login'), 'other')
  assert.equal(role('bash', '-c', 'node a.js'), 'wrapper')
  assert.equal(role('/bin/sh', 'start.sh'), 'wrapper')
  assert.equal(role('node', '-r', 'dotenv/config', 'server.js'), 'other')
  assert.equal(role('node', '-r', 'nodemon', 'server.js'), 'other', 'an option value is not the script')
  assert.equal(role('node', '-e', 'require("nodemon")'), 'other')
})

test('readProcFs reads this process from /proc', { skip: process.platform !== 'linux' }, () => {
  const self = readProcFs(process.pid)
  assert.equal(self?.ppid, process.ppid)
  assert.ok(self?.argv.some((a) => a.endsWith('context.test.js')), JSON.stringify(self?.argv))
  assert.equal(readProcFs(2 ** 30), undefined)
})
