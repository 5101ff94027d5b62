/**
 * Ends an HTTP/2 session without refusing the requests its client sent before it could know.
 * RFC 9113 §6.8: a first GOAWAY naming the highest possible stream (the client stops opening
 * streams, and may still count on those it opened), then, one PING round trip later (every
 * stream the client opened before it read that GOAWAY has arrived by then), the final GOAWAY
 * naming the last stream processed: `session.close()`, which also lets open streams finish.
 *
 * What Node sends (frames captured from a raw client, Node 20 to 26): `session.goaway(0,
 * 2^31-1)` sends GOAWAY(2147483647, NO_ERROR), but nghttp2 then treats any GOAWAY it sent as
 * final for new streams: streams arriving after it are dropped without a word and refused
 * later by the final GOAWAY's lower last stream id. (nghttp2's shutdown notice, which avoids
 * that, is not exposed by Node.) So the first GOAWAY saves the streams that reach the server
 * before it is written, not those already on the wire. `ping()` is sent ahead of frames
 * already queued, hence the PING only after the first GOAWAY was written.
 *
 * A session that has not received any stream yet is almost always a client whose first
 * requests are on their way (it connected to send them): there the PING goes first and the
 * only GOAWAY follows its answer, so those requests are served, not dropped.
 */
import type { Http2Session } from 'node:http2'

const MAX_STREAM_ID = 2 ** 31 - 1
const NGHTTP2_NO_ERROR = 0

export type GoawayPlan = 'notice-then-ping' | 'ping-then-close' | 'close'

/** How a session is ended: pure, so the decision is tested without sockets. */
export function goawayPlan (lastProcStreamId: number | undefined, graceMs: number): GoawayPlan {
  if (graceMs <= 0) return 'close'
  return lastProcStreamId === 0 ? 'ping-then-close' : 'notice-then-ping'
}

/** Starts the graceful end of `session`; the final GOAWAY goes out within `graceMs`. */
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
  const plan = goawayPlan((session.state as { lastProcStreamID?: number }).lastProcStreamID, graceMs)
  if (plan === 'close') {
    close()
    return
  }
  timer = setTimeout(close, graceMs)
  timer.unref()
  const ping = (): void => {
    if (done || session.closed || session.destroyed) {
      close()
      return
    }
    try {
      // false: too many PINGs unanswered already; the round trip cannot be measured.
      if (!session.ping(() => close())) close()
    } catch {
      close()
    }
  }
  if (plan === 'ping-then-close') {
    ping()
    return
  }
  session.goaway(NGHTTP2_NO_ERROR, MAX_STREAM_ID)
  // Node writes the GOAWAY from a native immediate, which runs before this one.
  setImmediate(ping)
}
