# Shared by the stop procedures (sourced, not run). Each procedure stops the test HTTP server
# ("the task") that `testbed serve NODE` started on NODE, the way some other tool would, and prints
# one line per step on stdout: "<unix time> <event> [detail]". Events: start, demote, moved,
# timeout, undemote, signal, exited.
set -euo pipefail

PROC_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TESTBED="$PROC_HERE/../testbed"
ENV_FILE="$("$TESTBED" env)"
# shellcheck disable=SC1090
source "$ENV_FILE"

event() { echo "$EPOCHREALTIME $*"; }

proc_node() {
  case "${1:-}" in
    edge-a) NS="$CX_NS_A"; TRACK="$CX_TRACK_A"; STATE="$CX_STATE_A"; NODE_DIR="$CX_RUN_DIR/edge-a" ;;
    edge-b) NS="$CX_NS_B"; TRACK="$CX_TRACK_B"; STATE="$CX_STATE_B"; NODE_DIR="$CX_RUN_DIR/edge-b" ;;
    *) echo "procedure: node must be edge-a or edge-b, got \"${1:-}\"" >&2; exit 2 ;;
  esac
}

demote() { printf '%s\n' "$1" >"$TRACK"; event demote "$1"; }
undemote() { printf '0\n' >"$TRACK"; event undemote; }

holds_vip() { ip -n "$NS" -4 -o addr show dev "$CX_IFACE" | grep -qF " $CX_VIP/"; }
local_state() { cat "$STATE" 2>/dev/null || echo UNKNOWN; }

# Alive and not a zombie (PID 1 may reap a dead orphan late).
task_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# SIGTERM to the task, SIGKILL after KILL_TIMEOUT seconds (Nomad's kill_timeout), bounded.
signal_task() {
  local kill_timeout="${1:-5}" pid i deadline
  pid="$(tr -dc 0-9 <"$NODE_DIR/server.pid")"
  event signal "SIGTERM pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((${EPOCHREALTIME/./} + kill_timeout * 1000000))
  for ((i = 0; i < kill_timeout * 200; i++)); do
    task_alive "$pid" || break
    ((${EPOCHREALTIME/./} < deadline)) || break
    sleep 0.005
  done
  if task_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    event killed "SIGKILL pid $pid after ${kill_timeout}s"
  fi
  rm -f "$NODE_DIR/server.pid"
  event exited
}
