#!/bin/sh
# The operator commands through the built binary, as an operator runs them: exit codes, the
# --json output parsed by python3 with its documented keys, and a check --live cycle on the fake
# OpenBSD node (tests/fakes) with its timings and the ledger back to 0.
# POSIX sh, so it runs on the BSDs too; without python3 the --json key checks are skipped.
# usage: cli_binary_test.sh BUILD/carp_exec REPO/tests/fakes
set -eu
bin="$1" fakes="$2"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/carp_exec_cli.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" "$tmp/node"
for tool in ifconfig sysctl; do
  ln -s "$fakes/$tool" "$tmp/bin/$tool"
  echo "$tmp/node" > "$tmp/bin/$tool.dir"
done
echo 'inet=192.0.2.10 groups="carp edge"' > "$tmp/node/iface.carp1"
echo 0 > "$tmp/node/group.edge"
echo 1 > "$tmp/node/lag"
state="$tmp/state"
# The plugin's options for the fake node, then the command's own arguments.
on_node() {  # command [more arguments]
  cmd="$1"; shift
  "$bin" "$cmd" --backend=openbsd-carp --group=edge --interfaces=carp1 --vip=192.0.2.10 \
    --ifconfig_path="$tmp/bin/ifconfig" --sysctl_path="$tmp/bin/sysctl" --state-dir "$state" "$@"
}
failures=0

expect() {  # name expected-exit command...
  name="$1" want="$2"; shift 2
  got=0
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, want $want"; cat "$tmp/out" "$tmp/err"; failures=$((failures + 1))
  else
    echo "ok   $name (exit $got)"
  fi
}
json_check() {  # file, python on stdin
  if command -v python3 >/dev/null; then
    python3 - "$1"
  else
    cat >/dev/null
    echo "skip --json key checks (no python3)"
  fi
}
contains() {  # name file text
  if ! grep -qF -- "$3" "$2"; then
    echo "FAIL $1: no \"$3\" in"; cat "$2"; failures=$((failures + 1))
  fi
}

expect "version" 0 "$bin" version
contains "version" "$tmp/out" "carp_exec "
expect "help" 0 "$bin" help
contains "help" "$tmp/out" "Exit status"
expect "unknown command" 2 "$bin" frobnicate
expect "unknown option" 2 "$bin" check --backend=openbsd-carp --nope=1

expect "status of an empty state dir" 0 "$bin" status --state-dir "$state" --json
json_check "$tmp/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["version", "state_dir", "state_dir_exists", "ledger", "handovers", "handovers_error",
        "check_live", "tasks", "tasks_total", "guarded_running", "failover"]
assert list(d) == keys, list(d)
assert list(d["ledger"]) == ["path", "present", "error", "backend", "target", "boot_id",
                             "boot_id_current", "share", "demoted", "intent"], list(d["ledger"])
assert d["state_dir_exists"] is False and d["tasks"] == [] and d["failover"] is None
PY

expect "check, good options" 0 on_node check
contains "check, good options" "$tmp/out" "result: all checks passed"
expect "check, demote_by out of range" 1 on_node check --demote_by=500
contains "check, demote_by out of range" "$tmp/out" "failover.demote_by must be a whole number from 1 to 128, got 500"

expect "check --live" 0 on_node check --live
for line in "demoted at" "state BACKUP    after" "VIP gone        after" "confirmed       after" \
            "restored at" "back to MASTER  after" "our share 0"; do
  contains "check --live" "$tmp/out" "$line"
done
grep -E '^  (demoted at|state BACKUP|VIP gone|confirmed|restored at|back to MASTER)' "$tmp/out"

expect "status with the observed state" 0 on_node status --json
json_check "$tmp/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ledger"]["present"] and d["ledger"]["share"] == 0 and not d["ledger"]["demoted"], d
f = d["failover"]
assert list(f) == ["backend", "state", "holds_vip", "vips_held", "demote_count", "detail",
                   "error"], list(f)
assert f["state"] == "MASTER" and f["vips_held"] == ["192.0.2.10"] and f["demote_count"] == 0, f
PY

echo "alloc1/traefik/0001" > "$state/failover/handovers"
expect "check --live during a hand-over" 3 on_node check --live
contains "check --live during a hand-over" "$tmp/err" "a hand-over is in progress for alloc1/traefik/0001"
[ "$(cat "$tmp/node/group.edge")" = "0" ] || { echo "FAIL: the refused check changed the counter"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all operator command checks passed"
