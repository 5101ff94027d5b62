/**
 * Node 22 and later load the CA certificates on a background thread as soon as `node:tls`
 * is loaded, and OpenSSL opens NODE_EXTRA_CA_CERTS there without O_CLOEXEC: a child spawned
 * while that thread reads inherits the open file, and so does every generation after it
 * (test/hardening/fd-hygiene.test.ts catches it; Node 20 reads on the main thread first).
 * The first secure context waits for that thread, so one is created before the first
 * spawn. A process that never loaded tls has no such thread and pays nothing.
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
