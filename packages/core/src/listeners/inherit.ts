/**
 * Reads the sockets this process was handed: by the previous generation (our protocol) or,
 * for the first generation, by systemd socket activation. Every variable involved is
 * removed from the environment once read, so the app's own child processes never see it.
 */
import { GracefulError } from '../errors.ts'
import {
  ENV_CHANNEL, ENV_DRAINING, ENV_FDS, ENV_FROM_FILES, ENV_GENERATION, ENV_HANDOFF, ENV_HANDOVER_STARTED, ENV_PARENT, ENV_READY_FD, ENV_SUPERVISOR,
  ENV_VERSION, ENV_WORKER, INHERITANCE_ENV, PROTOCOL_VERSION, SYSTEMD_ENV, SYSTEMD_FIRST_FD, decodeDraining, decodeListeners, decodeNames,
  type DrainingGeneration
} from '../handover/protocol.ts'
import { tcpMatches } from './address.ts'
import { normalizeKey, parseKey } from './key.ts'
import { describeSocket, isReadinessChannel, type SocketInfo } from './fd.ts'

export interface InheritedSocket {
  fd: number
  /** The listener key the previous generation asked for; undefined for systemd sockets. */
  key: string | undefined
  source: 'parent' | 'systemd'
  /** systemd's FileDescriptorName, when given. */
  name: string | undefined
  info: SocketInfo
}

export interface Inheritance {
  sockets: InheritedSocket[]
  /** Where to report readiness to the previous generation. */
  readyFd: number | undefined
  generation: number
  parentPid: number | undefined
  /** Set when this process is a worker of `graceful-restart run`: the supervisor's pid. */
  supervisorPid?: number | undefined
  worker?: number | undefined
  /** Under the supervisor: the version of the channel it opened to this worker (handover/channel.ts). */
  channel?: number | undefined
  /** Variables the previous generation set from its `envFile` files (handover/env.ts). */
  envFromFiles?: string[]
  /** The older generations still draining, oldest first, the parent last. */
  draining?: DrainingGeneration[]
  /** CLOCK_MONOTONIC µs when the previous generation began handing over to this one. */
  handoverStartedUs?: number | undefined
  /** The version of the handover channel the previous generation opened (handoff/protocol.ts). */
  handoff?: number | undefined
  /** Variables that were present but not meant for this process; reported, never adopted. */
  ignored: GracefulError[]
}

export interface InheritContext {
  env: NodeJS.ProcessEnv
  pid: number
  ppid: number
  describe?: (fd: number, boundOnly?: boolean) => SocketInfo
  /** Whether an fd is fit to be the readiness channel (default: fstat and /proc). */
  readinessChannel?: (fd: number) => boolean
}

function inheritError (message: string, cause?: unknown): GracefulError {
  return new GracefulError('ERR_GRACEFUL_INHERIT_ENV', message, cause === undefined ? undefined : { cause })
}

function parseIntStrict (text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined
  return Number(text)
}

/**
 * Whether an inherited socket is a listening socket for the address its key names. A
 * supervisor's sockets may be bound and not yet listening: the first worker's listen()
 * starts them, and the supervisor never accepts on them.
 */
export function socketMatchesKey (info: SocketInfo, key: string, boundOnly = false): boolean {
  if (info.kind === 'unknown') return true // nothing more to check on this platform
  if (!info.listening && !boundOnly) return false
  const address = parseKey(key)
  if (address?.kind === 'unix') {
    // The first generation binds a temporary name and renames it into place (see bind.ts).
    return info.kind === 'unix' && (info.path === address.path || info.path.startsWith(`${address.path}.gr-`))
  }
  return address?.kind === 'tcp' && info.kind === 'tcp' && tcpMatches(address, info.host, info.port)
}

function fromParent (ctx: InheritContext, describe: (fd: number, boundOnly?: boolean) => SocketInfo): Inheritance | undefined {
  const { env } = ctx
  const present = INHERITANCE_ENV.some((name) => env[name] !== undefined)
  if (!present) return undefined
  const values = Object.fromEntries(INHERITANCE_ENV.map((name) => [name, env[name]]))
  for (const name of INHERITANCE_ENV) delete env[name]

  const parentPid = parseIntStrict(values[ENV_PARENT])
  if (parentPid === undefined || parentPid !== ctx.ppid) {
    // Left over from someone else (a copied environment, a grandchild): not our sockets.
    return {
      sockets: [], readyFd: undefined, generation: 1, parentPid: undefined,
      ignored: [inheritError(`${ENV_PARENT}=${String(values[ENV_PARENT])} does not name this process's parent (${ctx.ppid}); inherited sockets ignored`)]
    }
  }
  // A release that speaks a newer protocol than this one must not be half-understood:
  // refusing makes the parent roll back, with this message on our stderr.
  const version = values[ENV_VERSION] === undefined ? PROTOCOL_VERSION : parseIntStrict(values[ENV_VERSION])
  if (version === undefined || version < 1 || version > PROTOCOL_VERSION) {
    throw new GracefulError('ERR_GRACEFUL_PROTOCOL', `the previous generation speaks handover protocol ${String(values[ENV_VERSION])}; this release understands 1 to ${PROTOCOL_VERSION}. Restart the service instead of handing over.`)
  }
  const passed = decodeListeners(values[ENV_FDS] ?? '[]')
  if (passed === undefined) throw inheritError(`${ENV_FDS} is malformed: ${String(values[ENV_FDS])}`)
  const readyFd = parseIntStrict(values[ENV_READY_FD])
  if (values[ENV_READY_FD] !== undefined && readyFd === undefined) throw inheritError(`${ENV_READY_FD} is malformed: ${String(values[ENV_READY_FD])}`)
  // The ready line is written into it, then it is closed: never stdio, a listener, a file.
  if (readyFd !== undefined && (readyFd < 3 || passed.some((p) => p.fd === readyFd) || !(ctx.readinessChannel ?? isReadinessChannel)(readyFd))) {
    throw inheritError(`${ENV_READY_FD}=${readyFd} is not a readiness pipe (stdio, an inherited listener, or not a pipe)`)
  }
  const generation = parseIntStrict(values[ENV_GENERATION]) ?? 2
  const supervisorPid = parseIntStrict(values[ENV_SUPERVISOR])
  if (supervisorPid !== undefined && supervisorPid !== parentPid) throw inheritError(`${ENV_SUPERVISOR} does not name the parent`)
  const worker = parseIntStrict(values[ENV_WORKER])
  const channel = supervisorPid === undefined ? undefined : parseIntStrict(values[ENV_CHANNEL])
  const envFromFiles = values[ENV_FROM_FILES] === undefined ? [] : decodeNames(values[ENV_FROM_FILES])
  if (envFromFiles === undefined) throw inheritError(`${ENV_FROM_FILES} is malformed: ${String(values[ENV_FROM_FILES])}`)
  const draining = values[ENV_DRAINING] === undefined ? [] : decodeDraining(values[ENV_DRAINING])
  if (draining === undefined) throw inheritError(`${ENV_DRAINING} is malformed: ${String(values[ENV_DRAINING])}`)
  const started = values[ENV_HANDOVER_STARTED]
  // Informational (it only labels a result): a malformed value is dropped, not fatal.
  const handoverStartedUs = started !== undefined && /^\d{1,17}$/.test(started) ? Number(started) : undefined
  // Only without a supervisor: a worker's IPC channel is the supervisor's.
  const handoff = supervisorPid === undefined ? parseIntStrict(values[ENV_HANDOFF]) : undefined

  const sockets = passed.map(({ fd, key }): InheritedSocket => {
    const info = describe(fd, supervisorPid !== undefined)
    if (!socketMatchesKey(info, key, supervisorPid !== undefined)) {
      throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `inherited fd ${fd} is not a listening socket for ${key} (${JSON.stringify(info)})`)
    }
    // In this release's form, as this generation's own listen() calls name it.
    return { fd, key: normalizeKey(key), source: 'parent', name: undefined, info }
  })
  return { sockets, readyFd, generation, parentPid, supervisorPid, worker, channel, envFromFiles, draining, handoverStartedUs, handoff, ignored: [] }
}

function fromSystemd (ctx: InheritContext, describe: (fd: number) => SocketInfo): Inheritance | undefined {
  const { env } = ctx
  if (env.LISTEN_FDS === undefined && env.LISTEN_PID === undefined) return undefined
  const values = Object.fromEntries(SYSTEMD_ENV.map((name) => [name, env[name]]))
  for (const name of SYSTEMD_ENV) delete env[name]
  const count = parseIntStrict(values.LISTEN_FDS)
  const pid = parseIntStrict(values.LISTEN_PID)
  const empty = { sockets: [], readyFd: undefined, generation: 1, parentPid: undefined }
  if (pid !== ctx.pid) {
    return { ...empty, ignored: [inheritError(`LISTEN_PID=${String(values.LISTEN_PID)} is not this process (${ctx.pid}); systemd sockets ignored`)] }
  }
  if (count === undefined || count > 1024) throw inheritError(`LISTEN_FDS is malformed: ${String(values.LISTEN_FDS)}`)
  const names = values.LISTEN_FDNAMES?.split(':') ?? []
  const sockets: InheritedSocket[] = []
  for (let i = 0; i < count; i++) {
    const fd = SYSTEMD_FIRST_FD + i
    const info = describe(fd)
    if (info.kind !== 'unknown' && !info.listening) {
      throw new GracefulError('ERR_GRACEFUL_INHERITED_FD', `systemd fd ${fd} is not a listening socket`)
    }
    sockets.push({ fd, key: undefined, source: 'systemd', name: names[i] || undefined, info })
  }
  return { ...empty, sockets, ignored: [] }
}

/** Reads and removes the inheritance variables. Throws coded errors for malformed input. */
export function readInheritance (ctx: InheritContext): Inheritance {
  const describe = ctx.describe ?? describeSocket
  const parent = fromParent(ctx, describe)
  const systemd = fromSystemd(ctx, describe)
  if (parent !== undefined && parent.parentPid !== undefined) {
    return parent
  }
  const ignored = [...(parent?.ignored ?? []), ...(systemd?.ignored ?? [])]
  return systemd === undefined
    ? { sockets: [], readyFd: undefined, generation: 1, parentPid: undefined, ignored }
    : { ...systemd, ignored }
}
