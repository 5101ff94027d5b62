/**
 * Ends an HTTP/2 session without refusing the requests its client sent before it could know:
 * a PING first, and the GOAWAY naming the last stream processed (`session.close()`, which
 * lets open streams finish) once the PING is answered, or after `graceMs`. Every stream the
 * client opened before it read the PING has reached the server by the time its answer does,
 * so a client whose requests are on their way as the drain starts (a new connection, sent
 * with its first request) is served, not refused.
 *
 * Why not RFC 9113 §6.8's first GOAWAY naming stream 2^31-1: Node can only send it as an
 * ordinary GOAWAY (`session.goaway(0, 2^31-1)`; nghttp2's shutdown notice is not exposed),
 * and nghttp2 treats any GOAWAY it sent as final. Frames captured from a raw client (Node
 * 20 to 26): streams arriving after it are dropped without a word and refused later by the
 * final GOAWAY's lower last stream id; and with no stream open the session stops reading
 * its socket, so the PING's answer, or the client leaving, is never seen (the session then
 * waits for the timeout, and on Node 22 may outlive the drain's deadline). So the GOAWAY
 * is sent once, as late as the PING round trip allows.
 */
import type { Http2Session } from 'node:http2'

/** Starts the graceful end of `session`; its GOAWAY goes out within `graceMs`. */
export function goAway (session: Http2Session, graceMs: number): void {
  if (session.closed || session.destroyed) return
  let done = false
  let timer: NodeJS.Timeout | undefined
  const close = (): void => {
    if (done) return
    done = true
    clearTimeout(timer)
    if (!session.closed && !session.destroyed) session.close()
  }
  if (graceMs <= 0) {
    close()
    return
  }
  timer = setTimeout(close, graceMs)
  timer.unref()
  try {
    // false: too many PINGs unanswered already; the round trip cannot be measured.
    if (session.ping(() => close()) === false) close()
  } catch {
    close()
  }
}
