/**
 * Which process a pid names. A pid is reused once its process is gone; a pid together with
 * the kernel's start time of that process is not. Before an older generation is signalled,
 * its start time must still be the one it reported.
 */
import fs from 'node:fs'

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks after boot), or undefined when the
 * process is gone, a zombie, or the platform has no /proc.
 */
export function processStartTime (pid: number, read: (file: string) => string = (file) => fs.readFileSync(file, 'latin1')): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  let stat: string
  try {
    stat = read(`/proc/${pid}/stat`)
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (the state), so field 22 is fields[19].
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined
  const start = fields[19]
  return start !== undefined && /^\d+$/.test(start) ? start : undefined
}
