#!/usr/bin/env python3
"""The demo's live view of one procedure: what each component writes, reported as it happens.

LaneWatcher follows the test bed's files while a procedure runs (edge-a's track file, the kernel's
address events in both edges, keepalived's notify logs, the old and the replacement server's
event logs) and puts each step on the demo's console once, in time order; PluginLineTap shows it
the lines of failover_e2e --procedure (carp_exec's task events) as the benchmark reads them.
Used by scripts/demo_run.py, which owns the console, the benchmark and the verdict.
"""

import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "failover"))
import demo_witnesses  # noqa: E402  (beside this file)
import vip_moves  # noqa: E402  (tests/failover)

POLL_SECONDS = 0.01

class LaneWatcher:
    """Watches the test bed's files during one procedure and reports each step once.

    Sources, all written by the real components: edge-a's track file (the demotion channel; its
    mtime is the moment of the write), the kernel's address events in both edges (when the VIP
    really moved), the notify logs of both keepalived (keepalived's view, shown as such), and the
    event logs of the old and the replacement server (the task's own view of the signal and of the
    ready check). Times are relative to t0, when the probe's first request started.
    """

    def __init__(self, tb, run_dir, key, tag, console):
        self.key = key
        self.console = console
        self.track = tb["CX_TRACK_A"]
        self.vip = tb["CX_VIP"]
        self.probe_file = os.path.join(run_dir, "client", f"probe-{tag}.jsonl")
        self.tails = {
            "addr-a": Tail(tb["CX_ADDR_LOG_A"]),
            "addr-b": Tail(tb["CX_ADDR_LOG_B"]),
            "state-a": Tail(tb["CX_STATE_LOG_A"]),
            "state-b": Tail(tb["CX_STATE_LOG_B"]),
            "old": Tail(os.path.join(run_dir, "edge-a", f"server-{tag}-a1.jsonl")),
            "new": Tail(os.path.join(run_dir, "edge-a", f"server-{tag}-a2.jsonl")),
        }
        self.t0 = None
        self.events = []  # (wall, kind, text)
        self.seen = set()
        self.track_value = "0"
        self.demoted_wall = None
        self.track_polled = 0.0  # wall time of the previous look at the track file
        self.stop_wall = None  # D: from the plugin driver's "start" line
        self.plugin_events = []  # D: demo_witnesses.PluginEvent, in arrival order
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)

    def rel(self, wall):
        return wall - self.t0 if self.t0 is not None else 0.0

    def report(self, wall, kind, text, once=True):
        if once:
            if kind in self.seen:
                return
            self.seen.add(kind)
        self.events.append((wall, kind, text))
        self.console.add(wall, f"  {self.rel(wall):6.3f} s  {text}")

    def loop(self):
        for _ in range(int(600 / POLL_SECONDS)):  # bounded: a lane takes ~10 s
            if self.stopping.is_set():
                break
            try:
                self.poll()
            except (OSError, ValueError, IndexError, KeyError):
                pass  # a file half-written or not there yet: read it on the next round
            self.console.flush()
            time.sleep(POLL_SECONDS)
        self.console.flush(everything=True)

    def poll(self):
        if self.t0 is None:
            if not os.path.exists(self.probe_file):
                # Before the probe starts the bed is being reset: remember where the logs end.
                for tail in self.tails.values():
                    tail.skip_to_end()
                self.track_value = read_text(self.track) or "0"
                self.track_polled = time.time()
                return
            # t0 is the first request's start, the origin of the table, the chart and the
            # witness block too; its record is written when that request ends (a few ms).
            first = read_first_record(self.probe_file)
            if first is None:
                return
            self.t0 = first["wall"]
            self.console.add(self.t0, f"  {0:6.3f} s  client starts probing the VIP: one GET every "
                                      f"50 ms (timeout 0.5 s)")
        self.poll_track()
        self.poll_kernel()
        self.poll_notify()
        for line in self.tails["old"].new_lines():
            record = json.loads(line)
            if record["event"] == "signal":
                since = ""
                if self.stop_wall is not None:
                    since = f", {(record['wall'] - self.stop_wall) * 1000:.0f} ms after the stop request"
                self.report(record["wall"], "signalled",
                            f"old task signalled ({record['signal']} seen by the task{since})")
            elif record["event"] == "exit":
                self.report(record["wall"], "exited", "old task exited")
        for line in self.tails["new"].new_lines():
            record = json.loads(line)
            if record["event"] == "listening":
                self.report(record["wall"], "started", "replacement task started")
            elif record["event"] == "ping":
                self.report(record["wall"], "ready", "replacement ready (answers /ping)")

    def since_demotion(self, wall):
        return f"{(wall - self.demoted_wall) * 1000:.0f} ms after the demotion"

    def poll_kernel(self):
        """The VIP's moves as the kernel in each edge saw them (vip_moves.py). Only moves that
        follow our demotion: carp_exec's set-up (demoted until its first guarded task is ready)
        moves the VIP too, before the probe starts."""
        for node, tail in (("edge-a", self.tails["addr-a"]), ("edge-b", self.tails["addr-b"])):
            for line in tail.new_lines():
                event = vip_moves.parse_address_line(line, node, self.vip)
                if event is None or self.demoted_wall is None or event.wall < self.demoted_wall:
                    continue
                if node == "edge-b" and event.added:
                    self.report(event.wall, "moved", f"VIP moved to edge-b, "
                                                     f"{self.since_demotion(event.wall)} (kernel: "
                                                     f"{self.vip} added in edge-b)")
                elif node == "edge-a" and not event.added:
                    self.report(event.wall, "left", f"VIP left edge-a, "
                                                    f"{self.since_demotion(event.wall)} (kernel: "
                                                    f"deleted in edge-a)")
                elif node == "edge-a" and event.added and "moved" in self.seen:
                    self.report(event.wall, "back", "VIP back on edge-a, preempt (kernel: added in "
                                                    "edge-a)")

    def poll_notify(self):
        """keepalived's notify lines, shown as keepalived's view; they decide nothing."""
        for node in ("a", "b"):
            for line in self.tails[f"state-{node}"].new_lines():
                wall, state = float(line.split()[0]), line.split()[1]
                if self.demoted_wall is None or wall < self.demoted_wall:
                    continue
                self.events.append((wall, f"notify-{node}", state))
                self.console.add(wall, f"  {self.rel(wall):6.3f} s      keepalived's view: "
                                       f"edge-{node} notify hook says {state}")

    def poll_track(self):
        now = time.time()
        value = read_text(self.track)
        # Empty: read between the writer's truncate and its write; look again next round.
        if not value or value == self.track_value or not value.lstrip("-").isdigit():
            self.track_polled = now
            return
        # The write happened after our previous look and before this one; the mtime (the
        # kernel's coarse clock) says when more precisely, if it falls in that interval.
        wall = min(now, max(os.stat(self.track).st_mtime, self.track_polled))
        self.track_polled = now
        before, self.track_value = self.track_value, value
        if value != "0" and before == "0":
            self.demoted_wall = wall
            self.report(wall, "demoted", f"edge-a demoted (track file {value}: keepalived "
                                         f"priority 150 → {150 - int(value)}, below edge-b's 100)")
        elif value == "0":
            kind = "restored" if self.key == "D" else "undemoted"
            self.report(wall, kind, f"edge-a {kind} (track file 0: priority 150 again)")

    def plugin_line(self, line, run_dir):
        """One line of failover_e2e --procedure: '<unix time> <event> [text]' (D only)."""
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) < 2:
            return
        try:
            wall = float(parts[0])
        except ValueError:
            return
        if parts[1] == "start":
            self.stop_wall = wall
            self.report(wall, "stop", "stop request: StopTask (the rolling update stops the old "
                                      "task)")
        elif parts[1] == "event":
            event = demo_witnesses.parse_plugin_event(line.rstrip("\n").split(" "))
            if event is None:
                return
            text = event.message.replace(run_dir + "/", "")
            self.plugin_events.append(event)
            self.events.append((wall, "plugin", text))
            self.console.add(wall, f"  {self.rel(wall):6.3f} s      carp_exec task event: {text}")
        elif parts[1] == "replacement-started":
            self.report(wall, "replacement", "replacement StartTask")


class Tail:
    """New complete lines of a file that grows by appends."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def skip_to_end(self):
        try:
            self.offset = os.path.getsize(self.path)
        except OSError:
            self.offset = 0

    def new_lines(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind("\n")
        if end < 0:
            return []
        self.offset += len(data[:end + 1].encode("utf-8"))
        return [line for line in data[:end].split("\n") if line.strip()]


def read_first_record(path):
    """The first complete JSON line of a file, or None while there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline()
    except OSError:
        return None
    return json.loads(line) if line.endswith("\n") else None


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


class PluginLineTap:
    """Bench keeps its children in a list; the one with a stdin pipe is failover_e2e. Wrapping its
    stdout shows each line to the watcher as the bench reads it, so the plugin's task events are
    printed live without changing the bench."""

    class Reader:
        def __init__(self, raw, on_line):
            self.raw = raw
            self.on_line = on_line

        def readline(self):
            line = self.raw.readline()
            if line:
                self.on_line(line)
            return line

        def __getattr__(self, name):
            return getattr(self.raw, name)

    def __init__(self, bench):
        self.on_line = None
        tap = self

        class Children(list):
            def append(self, proc):
                if proc.stdin is not None and proc.stdout is not None:
                    proc.stdout = PluginLineTap.Reader(
                        proc.stdout, lambda line: tap.on_line and tap.on_line(line))
                super().append(proc)

        bench.children = Children()
