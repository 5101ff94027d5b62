#!/usr/bin/env bash
# The test suite on a machine that is busy with something else, as CI's shared runners are:
# a busy-looping process at the suite's own priority (nice 0 unless you nice this script)
# takes a core's worth of CPU for the whole run. A test that passes on a quiet machine and
# fails here waits for time instead of an event, or has found a product bug: find it here
# before CI does.
#
#   scripts/stress-ci.sh [substring ...]      the files `node scripts/test.mjs` would run
#   NODE=/opt/nodes/n24/package/bin/node scripts/stress-ci.sh
#   HOGS=2 scripts/stress-ci.sh               more busy loops (default 1)
#
# The busy loops end with this script whatever happens: on exit and on Ctrl-C, SIGTERM or
# SIGHUP by the traps (which pass the signal on to the suite), and, if this script is
# SIGKILLed, by themselves: each one checks that its parent is still the one that started it.
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=${NODE:-node}
hogs=${HOGS:-1}

hog_pids=()
suite=''
cleanup () {
  for pid in "${hog_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# The suite runs in a session of its own (setsid), so the whole of it gets the signal.
stop_suite () {
  if [ -n "$suite" ]; then kill -s "$1" -- "-$suite" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'stop_suite INT; exit 130' INT
trap 'stop_suite TERM; exit 143' TERM
trap 'stop_suite HUP; exit 129' HUP

hog='const parent = process.ppid; for (let i = 1; ; i++) if (i % 4e6 === 0 && process.ppid !== parent) process.exit(0)'
for _ in $(seq 1 "$hogs"); do
  "$node_bin" -e "$hog" &
  hog_pids+=("$!")
done
echo "stress-ci: $hogs busy loop(s) (pid ${hog_pids[*]}, nice $(nice)) while the suite runs on $("$node_bin" --version)" >&2

# In the background so that the traps run at once, not after the suite.
setsid "$node_bin" scripts/test.mjs "$@" &
suite=$!
status=0
wait "$suite" || status=$?
exit "$status"
