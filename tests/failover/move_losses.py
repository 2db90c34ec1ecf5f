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

    move_losses.py --probe PROBE.jsonl --state-log EDGE_A_STATE_LOG --state-log EDGE_B_STATE_LOG
prints the tally and exits 0 when no request failed other than in flight at a move, at most one
per move; 1 otherwise. The moves are the MASTER lines of the keepalived notify logs
("<unix time> <state> <priority>") that fall within the probe's window.
"""

import argparse
import json
import sys

# The witness of a move is written a few ms after it happened (the notify hook, `ip monitor`), so
# the window reaches back further than forward. Seconds; kMoveWindowBefore/After in C++.
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


def master_moves(state_log_paths, since, until):
    """(t, t) for each MASTER line of the notify logs with since <= t <= until, in time order."""
    moves = []
    for path in state_log_paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 2 and fields[1] == "MASTER":
                    t = float(fields[0])
                    if since <= t <= until:
                        moves.append((t, t))
    return sorted(moves)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", required=True, help="the probe's JSONL (probe.py --out)")
    parser.add_argument("--state-log", action="append", required=True,
                        help="a keepalived notify log of the test bed (repeat for each node)")
    args = parser.parse_args()
    try:
        requests = read_jsonl(args.probe)
        if not requests:
            print(f"move_losses: {args.probe} has no request; did the probe run?")
            return 1
        since = min(r["wall"] for r in requests) - MOVE_WINDOW_AFTER
        until = max(r["wall"] + r["latency"] for r in requests) + MOVE_WINDOW_BEFORE
        moves = master_moves(args.state_log, since, until)
    except (OSError, ValueError, KeyError) as e:
        print(f"move_losses: cannot read the probe or the state logs: {e}")
        return 1
    counts = tally(requests, moves)
    print(f"probe: {describe(counts)}")
    return 0 if acceptable(counts) else 1


if __name__ == "__main__":
    sys.exit(main())
