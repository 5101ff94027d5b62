/**
 * Node 22 and later load the CA certificates on a background thread as soon as `node:tls`
 * is loaded, and OpenSSL opens NODE_EXTRA_CA_CERTS there without O_CLOEXEC. A child spawned
 * while that thread reads inherits the open file, and so does every generation after it:
 * measured here, 7 of 10 children spawned right after loading tls held it on Node 26, 2 of
 * 10 on Node 24, 0 of 30 on Node 22 (its read is quick, but a slow one leaks the same way);
 * Node 20 reads on the main thread before any app code runs. The first secure context
 * waits for that thread, so one is created before the first spawn. A process that never
 * loaded tls has no such thread and pays nothing.
 */
let settled = false

export function settleCertificateLoader (): void {
  if (settled) return
  const loaded = (process as { moduleLoadList?: unknown }).moduleLoadList
  // Without the list (not Node's usual runtime) assume tls may be loaded: loading it here
  // and waiting costs a few milliseconds of this handover, once.
  if (Array.isArray(loaded) && !loaded.includes('NativeModule tls')) return
  settled = true
  try {
    process.getBuiltinModule('node:tls').createSecureContext()
  } catch {
    // A runtime without TLS support has no certificate loader either.
  }
}
