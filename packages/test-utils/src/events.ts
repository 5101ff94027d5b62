/**
 * The event lines of the fixtures: one JSON object per line with an `event` field. The one
 * parser of the tests. A line may carry something before its JSON (a supervisor's
 * `[g1 w0 <pid>] ` label, a watcher's escape codes), so the object is looked for, not
 * expected at the start.
 */
export type EventLine = Record<string, unknown> & { event: string }

export function parseEventLine (line: string): EventLine | undefined {
  const at = line.indexOf('{"event":')
  if (at === -1) return undefined
  try {
    const value = JSON.parse(line.slice(at)) as Record<string, unknown>
    return typeof value.event === 'string' ? value as EventLine : undefined
  } catch {
    return undefined
  }
}

/** Every event line among `lines`, or only those named `name`. */
export function eventLines (lines: readonly string[], name?: string): EventLine[] {
  const out: EventLine[] = []
  for (const line of lines) {
    const event = parseEventLine(line)
    if (event !== undefined && (name === undefined || event.event === name)) out.push(event)
  }
  return out
}
