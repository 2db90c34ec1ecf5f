#!/usr/bin/env python3
"""Requests lost in flight at a VIP move: the one rule every failover check applies to the probe.

A request whose TCP connection is open at the instant the VIP changes node is lost whatever stopped
the task: the client's next packet reaches the other node, which answers with a reset (or, for a
SYN caught mid-move, nothing: a timeout). Measured on the keepalived test bed: about 3 moves in 120
catch one, with every stop procedure. Such a failure is excused, one per move at most; a refused
connection never is (the VIP led to a node with no server), nor any other error.

The same rule, with the same windows and error classes, is CaughtByMove in move_losses.h (C++,
used by failover_e2e); move_losses_cases.txt holds the cases both unit tests check, so the two
cannot drift apart. Used here by scripts/demo_run.py (import) and tests/failover/testbed_selftest
(this file as a command):

    move_losses.py --probe PROBE.jsonl --vip 10.231.0.10 \
        --addr-log edge-a=EDGE_A_ADDR_LOG --addr-log edge-b=EDGE_B_ADDR_LOG \
        [--state-log edge-a=EDGE_A_STATE_LOG --state-log edge-b=EDGE_B_STATE_LOG]
prints the tally and exits 0 when no request failed other than in flight at a move, at most one
per move; 1 otherwise. The moves are the kernel's: the VIP's address events in each edge
(vip_moves.py, from the test bed's `ip -o -ts monitor address` logs) that fall within the probe's
window. keepalived's notify logs, when given, are only shown beside them, as keepalived's view,
with a note where the two disagree by more than vip_moves.WITNESS_TOLERANCE.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vip_moves  # noqa: E402  (beside this file)

# A witness of a move may see it a few ms after the traffic switched, so the window reaches back
# further than forward. Seconds; kMoveWindowBefore/After in C++.
MOVE_WINDOW_BEFORE = 0.06
MOVE_WINDOW_AFTER = 0.02
# The probe's error text starts with the exception's class name (probe.py). kMoveErrors in C++.
MOVE_ERRORS = ("ConnectionResetError", "TimeoutError", "BrokenPipeError", "RemoteDisconnected")


def caught_by_move(ok, error, start, latency, moves):
    """The index of the move that caught this request, or None.

    ok, error: the probe's fields; start (seconds) and latency: when the request began and how long
    it took; moves: (first, last) pairs, the first and the last witness of each move (equal for a
    single witness), on the same clock as start. A request is caught when it failed with one of
    MOVE_ERRORS and [start, start + latency] overlaps [first - MOVE_WINDOW_BEFORE,
    last + MOVE_WINDOW_AFTER]; the earliest such move counts."""
    if ok or not (error or "").startswith(MOVE_ERRORS):
        return None
    end = start + latency
    for index, (first, last) in enumerate(moves):
        if start <= last + MOVE_WINDOW_AFTER and end >= first - MOVE_WINDOW_BEFORE:
            return index
    return None


def tally(requests, moves):
    """Counts over probe records (dicts with wall, latency, ok, error): total, failed, at_move,
    other (failed - at_move) and per_move (how many each move caught)."""
    per_move = [0] * len(moves)
    failed = 0
    for r in requests:
        if r["ok"]:
            continue
        failed += 1
        index = caught_by_move(r["ok"], r.get("error"), r["wall"], r["latency"], moves)
        if index is not None:
            per_move[index] += 1
    at_move = sum(per_move)
    return {"total": len(requests), "failed": failed, "at_move": at_move,
            "other": failed - at_move, "per_move": per_move}


def acceptable(counts):
    """The verdict every check uses: nothing lost but in flight at a move, one per move at most."""
    return counts["other"] == 0 and max(counts["per_move"], default=0) <= 1


def describe(counts):
    per_move = ", ".join(str(n) for n in counts["per_move"]) or "no move"
    return (f"{counts['total']} requests, {counts['failed']} failed: {counts['at_move']} reset or "
            f"timed out in flight at a VIP move (per move: {per_move}), {counts['other']} other")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def node_paths(values, option):
    """{node: path} from NODE=PATH arguments."""
    paths = {}
    for value in values or []:
        node, sep, path = value.partition("=")
        if not sep or node not in ("edge-a", "edge-b") or not path:
            raise SystemExit(f"move_losses: {option} {value!r}: want edge-a=PATH or edge-b=PATH")
        paths[node] = path
    return paths


def keepalived_view(moves, state_logs, origin):
    """Lines comparing each kernel move with keepalived's notify hook on the new node; times in
    seconds from `origin` (the probe's first request)."""
    changes = []
    for node, path in state_logs.items():
        changes += vip_moves.read_notify_log(path, node)
    lines = []
    for move in moves:
        notify = vip_moves.notify_master_after(changes, move.to,
                                               move.added - vip_moves.WITNESS_TOLERANCE)
        where = "never" if notify is None else f"{(notify - move.added) * 1000:+.0f} ms"
        problem = vip_moves.disagreement("the kernel", move.added, "keepalived's notify", notify)
        lines.append(f"  move to {move.to}: the kernel added the VIP at {move.added - origin:.3f} s; "
                     "keepalived's "
                     f"notify said MASTER {where}" + (f" (disagree: {problem})" if problem else ""))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", required=True, help="the probe's JSONL (probe.py --out)")
    parser.add_argument("--vip", required=True, help="the VIP, e.g. 10.231.0.10")
    parser.add_argument("--addr-log", action="append", required=True,
                        help="NODE=PATH: the test bed's kernel address log of an edge (repeat)")
    parser.add_argument("--state-log", action="append",
                        help="NODE=PATH: keepalived's notify log of an edge, shown beside (repeat)")
    args = parser.parse_args()
    addr_logs = node_paths(args.addr_log, "--addr-log")
    state_logs = node_paths(args.state_log, "--state-log")
    try:
        requests = read_jsonl(args.probe)
        if not requests:
            print(f"move_losses: {args.probe} has no request; did the probe run?")
            return 1
        since = min(r["wall"] for r in requests) - MOVE_WINDOW_AFTER
        until = max(r["wall"] + r["latency"] for r in requests) + MOVE_WINDOW_BEFORE
        moves = vip_moves.moves_within(
            vip_moves.pair_moves(vip_moves.read_address_logs(addr_logs, args.vip)), since, until)
        view = keepalived_view(moves, state_logs, min(r["wall"] for r in requests))
    except (OSError, ValueError, KeyError) as e:
        print(f"move_losses: cannot read the probe or the address logs: {e}")
        return 1
    counts = tally(requests, [(m.first, m.last) for m in moves])
    print(f"probe: {describe(counts)}; {len(moves)} VIP move(s) seen by the kernel")
    for line in view:
        print(line)
    return 0 if acceptable(counts) else 1


if __name__ == "__main__":
    sys.exit(main())
