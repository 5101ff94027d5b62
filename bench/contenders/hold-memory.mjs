// The core app (graceful-core.mjs) holding HOLD_MB (default 100) of resident memory, as an
// app with large caches would: every page is written at start, so it counts in RSS at once.
const mb = Number(process.env.HOLD_MB ?? 100)
globalThis.heldForTheBench = Buffer.alloc(mb * 1024 * 1024, 0x5a)
await import('./graceful-core.mjs')
