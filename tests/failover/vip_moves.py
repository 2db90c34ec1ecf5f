#!/usr/bin/env python3
"""VIP moves as the kernel saw them: address events in each edge namespace of the test bed.

`testbed up` runs `ip -o -ts monitor address` inside each edge namespace (TZ=UTC) and appends its
lines to <run>/edge-X/addr.log (CX_ADDR_LOG_A/B). One line per RTM_NEWADDR or RTM_DELADDR
notification, e.g.

  [2026-12-02T05:54:28.021256] 2: eth0    inet 10.231.0.10/24 scope global secondary eth0\\ ...
  [2026-12-02T05:54:28.235091] Deleted 2: eth0    inet 10.231.0.10/24 scope global ...

The bracket is the wall time (gettimeofday) at which ip read the notification from its netlink
socket, printed as local time with microseconds (iproute2 lib/utils.c print_timestamp, called for
each message by ip/ipmonitor.c: accept_msg, or print_headers in newer releases, when -ts is
given); each line reaches the file as it is printed (checked with iproute2 6.1). With
keepalived, the VIP is added by the node that becomes MASTER and deleted by the one that leaves
MASTER (keepalived/vrrp/vrrp.c: vrrp_state_become_master adds the VIPs over netlink,
vrrp_restore_interface deletes them on leaving MASTER), so these lines are the kernel's own record of every move, independent of keepalived's
notify hook (a forked shell script that can run hundreds of ms late on a loaded machine, issue 14).

The notify logs ("<unix time> <state> <priority>") are read here too, as keepalived's view, so the
callers can show both and say when they disagree by more than WITNESS_TOLERANCE.
Used by move_losses.py (the rule for requests lost at a move), scripts/demo_run.py and
bench/demo_flake.
"""

import datetime
import re
from dataclasses import dataclass
from typing import Optional

# Two witnesses of one step (kernel, keepalived's notify hook, carp_exec's task events, the task's
# own log) agree when their times differ by at most this (seconds). carp_exec polls every 20 ms
# in the test bed, its events and the notify hook cross a process boundary, and the machine may
# be busy; a witness further off than this is reported, not silently preferred.
WITNESS_TOLERANCE = 0.1

_ADDR_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\]\s+(Deleted\s+)?\d+:\s+\S+\s+inet\s+"
    r"([0-9.]+)/")


@dataclass(frozen=True)
class AddressEvent:
    wall: float  # unix seconds
    node: str  # "edge-a", "edge-b"
    added: bool  # False: deleted


@dataclass(frozen=True)
class Move:
    """One change of the VIP's node: added on `to` at `added`; deleted from `source` at `deleted`
    (None when no deletion belongs to this move, e.g. the VIP appeared on a node without leaving
    another)."""
    to: str
    added: float
    source: Optional[str] = None
    deleted: Optional[float] = None

    @property
    def first(self):
        return self.added if self.deleted is None else min(self.added, self.deleted)

    @property
    def last(self):
        return self.added if self.deleted is None else max(self.added, self.deleted)


def parse_address_line(line, node, vip):
    """The AddressEvent of one `ip -o -ts monitor address` line if it is about `vip`, else None.
    The time is read as UTC: the test bed runs ip with TZ=UTC."""
    m = _ADDR_LINE.match(line.strip())
    if not m or m.group(3) != vip:
        return None
    stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f" if "." in m.group(1)
                                       else "%Y-%m-%dT%H:%M:%S")
    wall = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    return AddressEvent(wall, node, m.group(2) is None)


def read_address_log(path, node, vip):
    """Every event about `vip` in one edge's address log, in file order."""
    events = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            event = parse_address_line(line, node, vip)
            if event is not None:
                events.append(event)
    return events


def read_address_logs(logs, vip):
    """logs: {node: path}. All events about `vip`, in time order."""
    events = []
    for node, path in logs.items():
        events += read_address_log(path, node, vip)
    return sorted(events, key=lambda e: e.wall)


def pair_moves(events):
    """The moves in time-ordered `events`: each addition of the VIP is a move to that node; the
    deletion on another node that lies between the previous and the next addition and is nearest
    to it belongs to the same move (keepalived adds on the new MASTER and deletes on the old one a
    few ms apart, in either order: a demoted MASTER leaves after the peer took over, a crashed one
    may be cleaned up first). A deletion that belongs to no addition is not a move."""
    adds = [e for e in events if e.added]
    deletes = [e for e in events if not e.added]
    used = set()
    moves = []
    for i, add in enumerate(adds):
        low = adds[i - 1].wall if i > 0 else float("-inf")
        high = adds[i + 1].wall if i + 1 < len(adds) else float("inf")
        candidates = [(abs(d.wall - add.wall), j) for j, d in enumerate(deletes)
                      if j not in used and d.node != add.node and low < d.wall < high]
        if candidates:
            _, j = min(candidates)
            used.add(j)
            moves.append(Move(add.node, add.wall, deletes[j].node, deletes[j].wall))
        else:
            moves.append(Move(add.node, add.wall))
    return moves


def moves_within(moves, since, until):
    """The moves with a witness in [since, until]."""
    return [m for m in moves if m.last >= since and m.first <= until]


def read_notify_log(path, node):
    """keepalived's view: (wall, node, state) per line of a notify log, in file order."""
    changes = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2:
                try:
                    changes.append((float(fields[0]), node, fields[1]))
                except ValueError:
                    continue
    return changes


def notify_master_after(changes, node, since):
    """When keepalived's notify hook on `node` first said MASTER at or after `since`; None if not."""
    return next((wall for wall, n, state in changes
                 if n == node and state == "MASTER" and wall >= since), None)


def disagreement(name_a, wall_a, name_b, wall_b, tolerance=WITNESS_TOLERANCE):
    """A sentence when two witnesses of one step are more than `tolerance` apart (or one saw
    nothing), else None."""
    if wall_a is None and wall_b is None:
        return None
    if wall_a is None or wall_b is None:
        seen, missing = (name_b, name_a) if wall_a is None else (name_a, name_b)
        return f"{seen} saw it, {missing} did not"
    delta = wall_b - wall_a
    if abs(delta) <= tolerance:
        return None
    return (f"{name_b} is {abs(delta) * 1000:.0f} ms {'later' if delta > 0 else 'earlier'} than "
            f"{name_a} (tolerance {tolerance * 1000:.0f} ms)")
