#!/usr/bin/env python3
"""The demo's witnesses side by side: each step of a procedure as every independent source saw it.

Sources, all written by the real components while the procedure ran:
  kernel             the VIP's address events in each edge (the test bed's `ip -o -ts monitor
                     address` logs, tests/failover/vip_moves.py): when the VIP really moved
  keepalived notify  the notify hook's log in each edge: keepalived's view of its own state, a
                     forked script that can run hundreds of ms late on a busy machine (issue 14)
  track file         edge-a's demotion channel (written by carp_exec or the wrapper)
  task's log         the HTTP server's own record of the signal and of its exit
  carp_exec          the plugin's task events, stamped by the plugin (failover_e2e --procedure)

For each step the demo's timeline and table print the first witness ("used"); every other witness
of that step is compared with it, and a difference larger than vip_moves.WITNESS_TOLERANCE (or a
witness that saw nothing) is reported as a disagreement, never resolved silently. Used by
scripts/demo_run.py; no state of its own.
"""

import os
import sys
from dataclasses import dataclass, field
from typing import List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "failover"))
import vip_moves  # noqa: E402

TOLERANCE = vip_moves.WITNESS_TOLERANCE


@dataclass
class Witness:
    source: str  # "the kernel", "keepalived's notify", "the track file", "the task's log",
    #              "carp_exec"
    wall: Optional[float]  # unix seconds; None: this source saw nothing
    detail: str = ""  # e.g. the plugin's own words


@dataclass
class Step:
    name: str
    used: Witness
    others: List[Witness] = field(default_factory=list)

    def problems(self):
        """One sentence per other witness that disagrees with the used one."""
        out = []
        for other in self.others:
            problem = vip_moves.disagreement(self.used.source, self.used.wall, other.source,
                                             other.wall)
            if problem:
                out.append(f"{self.name}: {problem}")
        return out


@dataclass
class PluginEvent:
    """One carp_exec task event as failover_e2e --procedure prints it."""
    wall: float  # the plugin's own timestamp
    phase: str  # demoting, confirming, signalled, exited, held, restored ("-": none)
    waited_ms: Optional[int]  # the handshake's wait, on the "signalled" event
    message: str


def parse_plugin_event(parts):
    """A PluginEvent from '<time> event <phase> <waited_ms> <message>' split on spaces, or None."""
    if len(parts) < 5 or parts[1] != "event":
        return None
    try:
        wall = float(parts[0])
        waited = None if parts[3] == "-" else int(parts[3])
    except ValueError:
        return None
    return PluginEvent(wall, parts[2], waited, " ".join(parts[4:]))


def first(items, predicate):
    return next((x for x in items if predicate(x)), None)


def lane_steps(key, start, kernel, notify, watched, plugin):
    """The steps of one lane with their witnesses.

    key: D (carp_exec), B (wrapper) or A (raw_exec); start: unix time of the stop request;
    kernel: vip_moves.AddressEvent list (both edges, time order); notify: (wall, node, state) list;
    watched: {kind: wall} of the demo's own watcher (track file and the task's logs);
    plugin: PluginEvent list (D only)."""
    def kernel_first(node, added, since):
        event = first(kernel, lambda e: e.node == node and e.added == added and e.wall >= since)
        return None if event is None else event.wall

    def notify_first(node, state, since):
        change = first(notify, lambda c: c[1] == node and c[2] == state and c[0] >= since)
        return None if change is None else change[0]

    def plugin_phase(phase):
        return first(plugin, lambda e: e.phase == phase)

    # Notify lines may come early only by clock granularity; look back by the tolerance.
    early = start - TOLERANCE
    on_b = kernel_first("edge-b", True, start)
    off_a = kernel_first("edge-a", False, start)
    back_since = on_b if on_b is not None else start
    back_a = kernel_first("edge-a", True, back_since)
    steps = []

    demoted = Step("demoted", Witness("the track file", watched.get("demoted")))
    if key == "D":
        # The demotion is a log line, not a Nomad event (a stop is at most 3 events: Nomad keeps
        # 10 per task); an older plugin's "demoting" event is still compared when present.
        event = plugin_phase("demoting")
        if event is not None:
            demoted.others.append(Witness("carp_exec", event.wall, event.message))
    if key != "A":
        steps.append(demoted)

    steps.append(Step("VIP on edge-b", Witness("the kernel", on_b),
                      [Witness("keepalived's notify", notify_first("edge-b", "MASTER", early))]))
    left = Step("VIP left edge-a", Witness("the kernel", off_a),
                [Witness("keepalived's notify", notify_first("edge-a", "BACKUP", early))])
    if key == "D":
        # "handed over <VIP> in N ms (…)" (older: "…left this node after N ms"): N counts from
        # carp_exec's StopTask, a hair after ours.
        event = plugin_phase("signalled")
        confirmed = event is not None and event.waited_ms is not None and \
            ("handed over" in event.message or "left this node" in event.message)
        left.others.append(Witness("carp_exec", start + event.waited_ms / 1000 if confirmed else None,
                                   event.message if event else ""))
    steps.append(left)

    signalled = Step("task signalled", Witness("the task's log", watched.get("signalled")))
    exited = Step("task exited", Witness("the task's log", watched.get("exited")))
    if key == "D":
        for step, phase in ((signalled, "signalled"), (exited, "exited")):
            event = plugin_phase(phase)
            step.others.append(Witness("carp_exec", event and event.wall,
                                       event.message if event else ""))
    steps += [signalled, exited]

    if key == "D":
        event = plugin_phase("restored")
        steps.append(Step("restored", Witness("the track file", watched.get("restored")),
                          [Witness("carp_exec", event and event.wall,
                                   event.message if event else "")]))
    elif key == "B":
        steps.append(Step("undemoted", Witness("the track file", watched.get("undemoted"))))
    if key != "A":
        steps.append(Step("VIP back on edge-a", Witness("the kernel", back_a),
                          [Witness("keepalived's notify",
                                   notify_first("edge-a", "MASTER", back_since - TOLERANCE))]))
    return steps


def describe(steps, t0):
    """The lane's witness block: one line per step, then one line per disagreement."""
    def at(wall):
        return "-" if wall is None else f"{wall - t0:.3f} s"

    lines = [f"  witnesses (s since the probe started; they agree within "
             f"{TOLERANCE * 1000:.0f} ms unless marked ⚠):"]
    for step in steps:
        if step.used.wall is None and all(o.wall is None for o in step.others):
            lines.append(f"     {step.name:<19} not seen by any witness")
            continue
        cells = [f"{step.used.source} {at(step.used.wall)}"]
        for other in step.others:
            cells.append(f"{other.source} {at(other.wall)}")
        mark = "⚠" if step.problems() else " "
        lines.append(f"   {mark} {step.name:<19} " + " · ".join(cells))
    for step in steps:
        for problem in step.problems():
            lines.append(f"    ⚠ {problem}; the timeline and table use {step.used.source}'s time")
    return lines


def as_json(steps, t0):
    """The steps for timeline.json: times in seconds since the probe started."""
    def rel(wall):
        return None if wall is None else round(wall - t0, 6)

    return [{"step": s.name,
             "used": {"source": s.used.source, "t": rel(s.used.wall)},
             "others": [{"source": o.source, "t": rel(o.wall), "detail": o.detail}
                        for o in s.others],
             "problems": s.problems()} for s in steps]
