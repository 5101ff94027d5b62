/**
 * The name a listener carries from one generation to the next (GRACEFUL_RESTART_FDS) and
 * between the supervisor and its workers: `tcp:HOST:PORT` (an IPv6 host in brackets, `*`
 * for every address) or `unix:PATH`. Keys cross the handover protocol, so a release reads
 * every form an earlier one wrote: releases before this module wrote IPv6 hosts bare
 * (`tcp:::1:8080`). This file is the only one that writes or reads them.
 */
export type ListenerAddress =
  | { kind: 'tcp', host: string | undefined, port: number }
  | { kind: 'unix', path: string }

const ANY_HOST = '*'

/** `host:port`, with an IPv6 host in brackets; undefined host: `*`. */
export function hostPort (host: string | undefined, port: number): string {
  return `${host === undefined ? ANY_HOST : host.includes(':') ? `[${host}]` : host}:${port}`
}

export function formatKey (address: ListenerAddress): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `tcp:${hostPort(address.host, address.port)}`
}

/** The key in the form this release writes (a key it cannot read is left as it is). */
export function normalizeKey (key: string): string {
  const address = parseKey(key)
  return address === undefined ? key : formatKey(address)
}

/** What a key names; undefined when it is none. An IPv6 host may come with or without brackets. */
export function parseKey (key: string): ListenerAddress | undefined {
  if (key.startsWith('unix:')) return { kind: 'unix', path: key.slice('unix:'.length) }
  if (!key.startsWith('tcp:')) return undefined
  const rest = key.slice('tcp:'.length)
  const cut = rest.lastIndexOf(':')
  const port = rest.slice(cut + 1)
  if (cut < 0 || !/^\d{1,5}$/.test(port)) return undefined
  const text = rest.slice(0, cut)
  const host = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  return { kind: 'tcp', host: host === ANY_HOST ? undefined : host, port: Number(port) }
}
