import readline from 'node:readline'
import type { Readable, Writable } from 'node:stream'

/**
 * Copies a worker's output to the supervisor's, one line at a time, each labelled with the
 * generation, worker slot and pid, so one journal tells which process said what.
 */
export function labelLines (source: Readable | null, sink: Writable, label: string): void {
  if (source === null) return
  const lines = readline.createInterface({ input: source, crlfDelay: Infinity })
  lines.on('line', (line) => { sink.write(`${label} ${line}\n`) })
  source.on('error', () => {})
}
