/** What `graceful-restart --help` prints, and what follows every command-line error. */
import { GracefulError } from '../errors.ts'

export const USAGE = `usage:
  graceful-restart run [options] -- <command> [args...]
      --listen ADDR         socket to bind before any worker starts: PORT, HOST:PORT, [IPv6]:PORT or
                            unix:/path (repeatable); without it, workers ask for the addresses they listen on
      --workers N           processes serving the same sockets (default 1)
      --surge K             a reload replaces K workers at a time, never more than N + K processes
                            (draining ones included); default: all N at once
      --user NAME           run workers as this user, with its groups, HOME and USER (needs root)
      --group NAME          the workers' group (default: the user's own)
      --socket-mode MODE    mode of the unix sockets the supervisor binds, such as 0660
      --socket-group NAME   group of the unix sockets the supervisor binds
      --pid-file FILE       write the supervisor's PID here (status goes to FILE.json)
      --status-file FILE    where to write the status (default: PID file + .json)
      --upgrade-timeout MS  how long new workers may take to become ready (default 60000)
      --drain-timeout MS    how long old workers may drain before SIGKILL (default 30000, +5 s)
      --max-draining N      old generations draining at once; the oldest ends its drain first (default 3)
      --env-file FILE       read again at each reload; fills in variables the environment does not set (repeatable)
      --watch PATH          reload when PATH changes on disk: a symlink's target, a file's content, a directory's listing (repeatable)
      --watch-debounce MS   quiet time after the last change before the reload (default 500)
      --fetch URL           poll this release manifest ({ "version", "url", "sha256" }); the workers run from DIR/current
      --releases DIR        where --fetch unpacks releases (DIR/<version>) and points DIR/current
      --interval TIME       between two checks of the manifest: 30s, 500ms, 5m (default 30s)
      --keep N              releases kept on disk, the running one included (default 3)
      --prepare CMD         run by sh in a new release before it goes live (say "npm ci --omit=dev")
      --public-key FILE     ed25519 public key (PEM): releases need a valid "signature" in the manifest
  graceful-restart reload --pid-file FILE [--wait] [--timeout MS]   --wait: exit 0 taken over, 1 rolled back
  graceful-restart stop   --pid-file FILE [--timeout MS]
  graceful-restart status --pid-file FILE [--json]                  exit 0 running, 3 not running
      FILE: the supervisor's --pid-file, or in re-exec mode the app's pidFile; the status
      beside it (FILE.json, or --status-file) must show that its PID is still the process
      that wrote it, else nothing is signalled (ERR_GRACEFUL_STALE_PIDFILE)
signals to the supervisor: SIGUSR2 or SIGHUP reload; SIGTERM, SIGINT or SIGQUIT drain and stop (twice: at once)`

/** A mistake on the command line: exit code 2 (main.ts), the usage after the message. */
export function invalid (message: string): GracefulError {
  return new GracefulError('ERR_GRACEFUL_INVALID_OPTION', `${message}\n${USAGE}`)
}
