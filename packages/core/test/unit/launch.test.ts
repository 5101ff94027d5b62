import { test } from 'node:test'
import assert from 'node:assert/strict'
import { captureLaunch } from '../../src/handover/launch.ts'

// current -> releases/v1; Node has already resolved cwd and argv[1] through the symlink.
const realpath = (p: string): string => p.replace('/srv/app/current', '/srv/app/releases/v1')

test('restarts the script through the symlink when started from inside it', () => {
  const launch = captureLaunch({
    execPath: '/usr/bin/node', execArgv: ['--max-old-space-size=256'],
    argv: ['/usr/bin/node', '/srv/app/releases/v1/server.js', '--flag'],
    cwd: '/srv/app/releases/v1', env: { PWD: '/srv/app/current' }, realpath,
    cmdline: '/usr/bin/node\0--max-old-space-size=256\0server.js\0--flag\0'
  })
  assert.deepEqual(launch, { execPath: '/usr/bin/node', args: ['--max-old-space-size=256', '/srv/app/current/server.js', '--flag'], cwd: '/srv/app/current' })
})

test('restarts the script through the symlink when started by its path from elsewhere', () => {
  const launch = captureLaunch({
    execPath: '/usr/bin/node', execArgv: [], argv: ['/usr/bin/node', '/srv/app/releases/v1/server.js'],
    cwd: '/', env: { PWD: '/' }, realpath: (p) => p, cmdline: 'node\0/srv/app/current/server.js\0'
  })
  assert.deepEqual(launch.args, ['/srv/app/current/server.js'])
  assert.equal(launch.cwd, '/')
})

test('without a command line, maps the script back under the logical working directory', () => {
  const launch = captureLaunch({
    execPath: '/usr/bin/node', execArgv: [], argv: ['/usr/bin/node', '/srv/app/releases/v1/server.js'],
    cwd: '/srv/app/releases/v1', env: { PWD: '/srv/app/current' }, realpath, cmdline: undefined
  })
  assert.deepEqual(launch.args, ['/srv/app/current/server.js'])
})

test('ignores a PWD that does not lead to the real working directory', () => {
  const launch = captureLaunch({
    execPath: '/usr/bin/node', execArgv: [], argv: ['/usr/bin/node', '/opt/x/app.js'],
    cwd: '/opt/x', env: { PWD: '/somewhere/else' }, realpath: (p) => p, cmdline: 'node\0app.js\0'
  })
  assert.deepEqual(launch, { execPath: '/usr/bin/node', args: ['/opt/x/app.js'], cwd: '/opt/x' })
})
