/**
 * As PID 1 (a container without --init), processes orphaned inside the container are
 * re-parented to the supervisor. Node reaps only the children it started (no waitpid(-1)),
 * so their zombies would pile up unnoticed: say so once instead.
 */
import fs from 'node:fs'

const CHECK_MS = 10_000

export function watchOrphans (found: (zombies: number) => void): void {
  let warned = false
  const timer = setInterval(() => {
    if (warned) return
    const zombies = zombieChildren()
    if (zombies > 0) {
      warned = true
      found(zombies)
    }
  }, CHECK_MS)
  timer.unref()
}

function zombieChildren (): number {
  let count = 0
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] === 'Z' && fields[1] === String(process.pid)) count++
    } catch {}
  }
  return count
}
