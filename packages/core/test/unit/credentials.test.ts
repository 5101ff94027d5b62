// `run --user/--group/--socket-mode/--socket-group`: parsing and validation, from account
// files given as text (no real user is looked up or switched to here).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { identityOptions } from '../../src/cli/run-command.ts'
import {
  canSwitchTo, findSetpriv, parseGroups, parsePasswd, parseSocketMode, resolveCredentials, startAs, userEnv
} from '../../src/supervisor/credentials.ts'

const files = {
  passwd: [
    'root:x:0:0:root:/root:/bin/bash',
    '# a comment',
    'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
    'app:x:1001:1001:App,,,:/srv/app:/bin/sh',
    'broken:x:notanumber:1:::',
    '+nisuser::::::',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    ''
  ].join('\n'),
  group: [
    'root:x:0:',
    'www-data:x:33:',
    'ssl-cert:x:110:app,postgres',
    'app:x:1001:',
    'deploy:x:2000:ops, app ',
    'nogroup:x:65534:',
    'bad:x:zz:app'
  ].join('\n')
}

test('reads /etc/passwd and /etc/group lines, skipping comments, NIS entries and malformed lines', () => {
  assert.deepEqual(parsePasswd(files.passwd).map((a) => a.name), ['root', 'www-data', 'app', 'nobody'])
  assert.deepEqual(parsePasswd(files.passwd)[2], { name: 'app', uid: 1001, gid: 1001, home: '/srv/app' })
  assert.deepEqual(parseGroups(files.group).find((g) => g.name === 'deploy'), { name: 'deploy', gid: 2000, members: ['ops', 'app'] })
  assert.equal(parseGroups(files.group).some((g) => g.name === 'bad'), false)
})

test('--user gives initgroups semantics: the primary (or --group) gid first, then every group listing the user', () => {
  assert.deepEqual(resolveCredentials('app', undefined, files), { user: 'app', uid: 1001, gid: 1001, groups: [1001, 110, 2000], home: '/srv/app' })
  assert.deepEqual(resolveCredentials('app', 'www-data', files).groups, [33, 110, 2000], 'initgroups(user, gid) includes the given gid, not the passwd one')
  assert.deepEqual(resolveCredentials('app', '110', files).groups, [110, 2000], 'no duplicates')
  assert.deepEqual(resolveCredentials('nobody', undefined, files), { user: 'nobody', uid: 65534, gid: 65534, groups: [65534], home: '/nonexistent' })
  assert.equal(resolveCredentials('33', undefined, files).user, 'www-data', 'a uid names its passwd entry')
  assert.deepEqual(resolveCredentials('4242', '4242', files), { user: '4242', uid: 4242, gid: 4242, groups: [4242], home: '/' }, 'a bare uid with a bare gid, as in containers')
})

test('unknown users, unknown groups, bad modes and misplaced flags are ERR_GRACEFUL_INVALID_OPTION', () => {
  const invalid = { code: 'ERR_GRACEFUL_INVALID_OPTION' }
  assert.throws(() => resolveCredentials('ghost', undefined, files), { ...invalid, message: /--user "ghost": no such user/ })
  assert.throws(() => resolveCredentials('app', 'ghosts', files), { ...invalid, message: /--group "ghosts": no such group/ })
  assert.throws(() => resolveCredentials('4242', undefined, files), { ...invalid, message: /no \/etc\/passwd entry.*--group/ })
  for (const bad of ['', '660x', '8888', '0o1777', '12', 'rw-rw----', '-660']) assert.throws(() => parseSocketMode(bad), invalid, bad)
  assert.equal(parseSocketMode('0660'), 0o660)
  assert.equal(parseSocketMode('660'), 0o660)
  assert.equal(parseSocketMode('0o600'), 0o600)
  assert.equal(parseSocketMode('0777'), 0o777)

  const root = (): bigint => 0n
  const opts = (flags: Parameters<typeof identityOptions>[0], euid = 0) => identityOptions(flags, () => files, euid, root)
  assert.throws(() => opts({ group: 'app' }), { ...invalid, message: /--group .* needs --user/ })
  assert.throws(() => opts({ socketGroup: 'nope' }), { ...invalid, message: /--socket-group "nope"/ })
  assert.throws(() => opts({ socketMode: '999' }), { ...invalid, message: /--socket-mode/ })
  assert.throws(() => opts({ user: 'app' }, 1000), { ...invalid, message: /runs as uid 1000 and may not start workers as uid 1001; start it as root/ })
  assert.deepEqual(opts({ socketMode: '0660', socketGroup: 'www-data' }), { user: undefined, unixSockets: { mode: 0o660, gid: 33 } })
  assert.equal(opts({ user: 'app', group: 'deploy' }).user?.gid, 2000)
  assert.equal(opts({ user: '1000', group: '1000' }, 1000).user?.uid, 1000, 'our own uid needs no privilege')
})

test('who may switch users: root, the same uid, or a process holding CAP_SETUID and CAP_SETGID', () => {
  assert.equal(canSwitchTo(65534, 0, undefined), true)
  assert.equal(canSwitchTo(1000, 1000, undefined), true)
  assert.equal(canSwitchTo(65534, 1000, undefined), false)
  assert.equal(canSwitchTo(65534, 1000, (1n << 6n) | (1n << 7n)), true)
  assert.equal(canSwitchTo(65534, 1000, 1n << 7n), false, 'CAP_SETUID alone cannot set the groups')
})

test('a worker starts through setpriv (supplementary groups kept, same pid) or, without it, with spawn uid/gid and no extra groups', () => {
  const creds = resolveCredentials('app', undefined, files)
  const launch = { execPath: 'node', args: ['server.js', '--port', '80'], cwd: '/srv/app' }
  assert.deepEqual(startAs(creds, launch, '/usr/bin/setpriv'), {
    launch: { execPath: '/usr/bin/setpriv', args: ['--reuid=1001', '--regid=1001', '--groups=1001,110,2000', '--', 'node', 'server.js', '--port', '80'], cwd: '/srv/app' },
    ids: undefined,
    lost: []
  })
  assert.deepEqual(startAs(creds, launch, undefined), { launch, ids: { uid: 1001, gid: 1001 }, lost: [110, 2000] })
  assert.equal(findSetpriv(() => false), undefined)
  assert.equal(findSetpriv((f) => f === '/bin/setpriv'), '/bin/setpriv', 'only fixed paths, never PATH')
  assert.deepEqual(userEnv({ PATH: '/usr/bin', HOME: '/root', USER: 'root' }, creds), { PATH: '/usr/bin', HOME: '/srv/app', USER: 'app', LOGNAME: 'app' })
})
