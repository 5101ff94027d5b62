import { test } from 'node:test'
import { assertPublicSurface } from '@graceful-restart/test-utils'

// The public surface, pinned: an export added here is a promise kept until the next major,
// so adding one is a decision made in this file, not a side effect of a refactor.
// Left out on purpose: parseListenArgs, listenerKey (how listen() arguments map to
// inherited sockets is the core's business), nodePlatform and Platform (the OS seam for
// unit tests), ROUTABLE_SIGNALS, CONTEXT_KINDS, DEFAULT_* and BALANCER_KEEP_ALIVE_TIMEOUT
// (the README documents the defaults; the types name the signals and contexts), the
// Graceful class as a value (its constructor takes the OS seam; gracefulRestart() is the
// way in).
test('@graceful-restart/core: each entry exports exactly the pinned names, types and values', async () => {
  await assertPublicSurface(new URL('../../../', import.meta.url), {
    '.': {
      values: ['CHANNELS', 'GracefulError', 'HandoverError', 'gracefulRestart', 'healthHandler'],
      types: ['ContextKind', 'DrainCounts', 'Graceful', 'GracefulErrorCode', 'GracefulOptions', 'HandoverResult', 'HealthPaths', 'Logger', 'ProcessContext', 'RoutableSignal', 'SettableContext', 'ShutdownResult', 'SignalAction', 'State']
    },
    // For framework adapters: the core decides, adapters translate.
    './adapter': {
      values: ['currentGraceful', 'healthAnswer', 'resolveHealthPaths', 'serverFactory', 'setKeepAliveTimeout', 'withHealth'],
      types: ['HealthAnswer', 'ServerFactory', 'ServerFactoryOptions']
    }
  })
})
