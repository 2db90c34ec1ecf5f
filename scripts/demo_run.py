#!/usr/bin/env python3
"""The demo's run: three stop procedures on one keepalived test bed, live, then a table and a chart.

Called by scripts/demo after installing and building (run it directly with the same flags to skip
those steps). It reuses the stop-procedure benchmark (bench/procedures/run, loaded as a module):
its Bench class builds the test bed (tests/failover/testbed) under our own namespace prefix and runs
one rolling update per procedure while the client probes the VIP every 50 ms:

  D  carp_exec       the real plugin, driven through the test host acting as the Nomad client
                     (tests/failover/failover_e2e --procedure): StopTask demotes, confirms that the
                     VIP moved, signals the task, stays demoted until the replacement is ready
  B  old wrapper     demote, sleep, undemote, signal (tests/failover/procedures/wrapper)
  A  raw_exec        signal only (tests/failover/procedures/naive)

While a procedure runs, this script watches the test bed's own records (edge-a's track file, the
kernel's address events in both edges, the server's event log) and prints each step as it
happens, together with the task events carp_exec sends and keepalived's notify lines (labelled as
keepalived's view). VIP moves are the kernel's: the test bed logs `ip -o -ts monitor address` in
each edge (tests/failover/vip_moves.py); the notify hook is a forked script that can run late.
After each procedure it compares every step's witnesses (scripts/demo_witnesses.py) and says
where two disagree by more than 100 ms. Afterwards it prints the summary table and writes
<out>/timeline.json and the chart <out>/failover-timeline.svg (scripts/demo_chart.py).

Everything the run creates (namespaces, keepalived, plugin, tasks, probes) is removed at the end,
also on Ctrl-C or SIGTERM. Exit status: 0 when carp_exec lost no request, 1 otherwise, 130 when
interrupted.
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH_PATH = os.path.join(REPO, "bench", "procedures", "run")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "failover"))
import demo_chart  # noqa: E402  (beside this file)
import demo_witnesses  # noqa: E402  (beside this file)
import vip_moves  # noqa: E402  (tests/failover)
# The rule for requests lost in flight at a VIP move (windows, error classes), shared with the
# testbed self-test; failover_e2e applies the same rule in C++ (tests/failover/move_losses.h).
from move_losses import caught_by_move  # noqa: E402

POLL_SECONDS = 0.01
LANES = ["D", "B", "A"]


def load_bench():
    """bench/procedures/run as a module (it has no .py suffix, so import it by path)."""
    loader = importlib.machinery.SourceFileLoader("carp_procedures_bench", BENCH_PATH)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Console:
    """Serialises the lines of the watcher thread and of the plugin's event stream. Timeline lines
    wait HOLD_SECONDS so that steps seen by different sources a few ms apart print in time order."""

    HOLD_SECONDS = 0.08

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []  # (wall, text)

    def line(self, text=""):
        with self.lock:
            print(text, flush=True)

    def add(self, wall, text):
        with self.lock:
            self.pending.append((wall, text))

    def flush(self, everything=False):
        with self.lock:
            horizon = time.time() - self.HOLD_SECONDS
            ready = sorted(p for p in self.pending if everything or p[0] <= horizon)
            self.pending = [p for p in self.pending if not (everything or p[0] <= horizon)]
            for _, text in ready:
                print(text, flush=True)


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


def failure_runs(requests):
    """Consecutive failed requests as (start, end, count, most common error, how many were caught
    by a VIP move), times relative to t0."""
    runs, current = [], None
    for r in requests:
        if not r["ok"]:
            if current is None:
                current = [r["t"], r["t"] + r["latency"], 0, {}, 0]
            current[1] = r["t"] + r["latency"]
            current[2] += 1
            error = (r.get("error") or f"HTTP {r.get('status')}").split(":")[0]
            current[3][error] = current[3].get(error, 0) + 1
            current[4] += 1 if r.get("at_move") else 0
        elif current is not None:
            runs.append(current)
            current = None
    if current is not None:
        runs.append(current)
    return [(s, e, n, max(errors, key=errors.get), m) for s, e, n, errors, m in runs]


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


class Demo:
    def __init__(self, args, bench_module):
        self.args = args
        self.console = Console()
        bench_args = argparse.Namespace(
            advert_int=args.advert_int, wrapper_sleep=args.wrapper_sleep,
            replacement_delay=args.replacement_delay, confirm_timeout=args.confirm_timeout,
            pre=1.0, post=2.0, prefix=args.prefix, e2e=args.e2e, plugin=args.plugin,
            keep=args.keep)
        self.bench = bench_module.Bench(bench_args)
        self.tap = PluginLineTap(self.bench)
        self.lanes = []

    def describe(self, key):
        sleep_s = self.bench.wrapper_sleep()
        return {
            "D": ("carp_exec", "StopTask: demote, wait until the VIP moved, signal, stay demoted "
                               "until the replacement is ready"),
            "B": ("old wrapper", f"demote, sleep {sleep_s:g} s, undemote, signal"),
            "A": ("raw_exec", "signal only; keepalived untouched"),
        }[key]

    def run_lane(self, key):
        name, what = self.describe(key)
        self.console.line()
        self.console.line(f"── {name}: {what}")
        tag = key.lower()
        watcher = LaneWatcher(self.bench.tb, self.bench.run_dir, key, tag, self.console)
        self.tap.on_line = lambda line: watcher.plugin_line(line, self.bench.run_dir)
        watcher.start()
        try:
            row = self.bench.one(key)
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as e:
            self.console.line(f"  this procedure could not run: {e}")
            self.lanes.append({"key": key, "name": name, "what": what, "error": str(e)})
            return
        finally:
            watcher.stop()
            self.tap.on_line = None
        lane = self.collect(key, tag, row, watcher)
        self.lanes.append(lane)
        s = lane["summary"]
        verdict = "✓ every request answered" if s["failed"] == 0 else f"✗ {s['failed']} failed"
        self.console.line(f"  requests: {s['total']} sent, {verdict}; longest gap without an "
                          f"answer {s['longest_gap']:.2f} s")
        for start, end, count, error, at_move in failure_runs(lane["requests"]):
            note = " — in flight while the VIP moved" if at_move == count else ""
            self.console.line(f"    ✗ {count} request{'s' if count != 1 else ''} failed from "
                              f"{start:.3f} s to {end:.3f} s ({error}){note}")
        self.console.line("\n".join(lane["witness_lines"]))

    def collect(self, key, tag, row, watcher):
        client = os.path.join(self.bench.run_dir, "client")
        records = read_jsonl(os.path.join(client, f"probe-{tag}.jsonl"))
        with open(os.path.join(client, f"probe-{tag}.json"), encoding="utf-8") as f:
            summary = json.load(f)
        # t0 precisely: the first request starts when the probe's window starts.
        t0 = records[0]["wall"] if records else watcher.t0 or time.time()
        start = float(row["events"][0][0]) if row.get("events") else t0
        tb = self.bench.tb
        kernel = vip_moves.read_address_logs(
            {"edge-a": tb["CX_ADDR_LOG_A"], "edge-b": tb["CX_ADDR_LOG_B"]}, tb["CX_VIP"])
        notify = vip_moves.read_notify_log(tb["CX_STATE_LOG_A"], "edge-a") + \
            vip_moves.read_notify_log(tb["CX_STATE_LOG_B"], "edge-b")
        watched = {}
        for wall, kind, _ in watcher.events:
            watched.setdefault(kind, wall)
        # The task's own log, read whole: the live watcher may have looked away.
        old_log = os.path.join(self.bench.run_dir, "edge-a", f"server-{tag}-a1.jsonl")
        for record in read_jsonl(old_log) if os.path.exists(old_log) else []:
            kind = {"signal": "signalled", "exit": "exited"}.get(record["event"])
            if kind and kind not in watched:
                watched[kind] = record["wall"]
        steps = demo_witnesses.lane_steps(key, start, kernel, notify, watched,
                                          watcher.plugin_events)
        used = {step.name: step.used.wall for step in steps}

        events = [{"t": start - t0, "kind": "stop", "text": "stop request"}]
        for wall, kind, text in watcher.events:
            # The chart marks when the replacement could serve: carp_exec's ready check for D,
            # the moment it listened for the others (there the test bed's own check pings later).
            # Moves come from the kernel's logs below, read whole.
            if kind in ("stop", "moved", "left", "back") or \
                    kind == ("started" if key == "D" else "ready"):
                continue
            if wall < start:
                # A file's mtime is the kernel's coarse clock (a few ms behind): nothing the
                # procedure did can precede its start.
                wall = start
            events.append({"t": wall - t0, "kind": kind, "text": text})
        for step_name, kind, text in (("VIP on edge-b", "moved", "VIP moved to edge-b (kernel)"),
                                      ("VIP left edge-a", "left", "VIP left edge-a (kernel)"),
                                      ("VIP back on edge-a", "back", "VIP back on edge-a (kernel)")):
            if used.get(step_name) is not None:
                events.append({"t": used[step_name] - t0, "kind": kind, "text": text})
        name, what = self.describe(key)
        # The kernel's address events are the witnesses of the moves (vip_moves.py).
        window_end = max((r["wall"] + r["latency"] for r in records), default=t0)
        moves = vip_moves.moves_within(vip_moves.pair_moves(kernel), t0 - 1.0, window_end + 1.0)
        move_windows = [(m.first - t0, m.last - t0) for m in moves]
        requests = [{"t": r["wall"] - t0, "latency": r["latency"], "ok": r["ok"],
                     "error": r.get("error"), "status": r.get("status"),
                     "served_by": r.get("served_by")} for r in records]
        for r in requests:
            r["at_move"] = caught_by_move(r["ok"], r["error"], r["t"], r["latency"],
                                          move_windows) is not None
        problems = [p for step in steps for p in step.problems()]
        on_b = used.get("VIP on edge-b")
        return {
            "key": key, "name": name, "what": what,
            "requests": requests,
            "events": sorted(events, key=lambda e: e["t"]),
            "moves": [{"to": m.to, "first": m.first - t0, "last": m.last - t0} for m in moves],
            "witnesses": demo_witnesses.as_json(steps, t0),
            "witness_lines": demo_witnesses.describe(steps, t0),
            "summary": {
                "total": summary["total"], "failed": summary["failed"],
                "failed_at_move": sum(1 for r in requests if r["at_move"]),
                "longest_gap": summary["longest_gap"],
                "longest_gap_start": summary["longest_gap_start"],
                "longest_gap_open": summary["longest_gap_open"],
                "window": summary["window"],
                # Stop request → SIGTERM seen by the task (its own log).
                "time_to_stop": row.get("time_to_signal"),
                # Stop request → the kernel added the VIP in edge-b.
                "vip_moved": None if on_b is None else on_b - start,
                "disagreements": problems,
                "carp_exec_says": self.carp_exec_says(steps, start) if key == "D" else None,
            },
        }

    @staticmethod
    def carp_exec_says(steps, start):
        """The table's figures for carp_exec as its own task events give them, from the stop
        request: when it signalled the task, and when it saw the VIP leave this node."""
        found = {}
        for step in steps:
            for other in step.others:
                if other.source == "carp_exec" and other.wall is not None:
                    found[step.name] = other.wall - start
        return {"signalled": found.get("task signalled"),
                "vip_left": found.get("VIP left edge-a")}

    def table(self):
        sleep_s = self.bench.wrapper_sleep()
        out = ["", "── summary (same test bed, same rolling update, same probe)", ""]
        header = (f"  {'procedure':<13} {'failed requests':>16} {'at a VIP move':>14} "
                  f"{'longest gap':>12} {'time to stop':>13} {'VIP moved':>10}")
        out += [header, "  " + "-" * (len(header) - 2)]
        for lane in self.lanes:
            if "error" in lane:
                out.append(f"  {lane['name']:<13} could not run: {lane['error']}")
                continue
            s = lane["summary"]
            gap = f"{s['longest_gap']:.2f} s" + ("+" if s["longest_gap_open"] else "")
            at_move = str(s["failed_at_move"]) if s["vip_moved"] is not None else "-"
            out.append(f"  {lane['name']:<13} {str(s['failed']) + ' of ' + str(s['total']):>16} "
                       f"{at_move:>14} {gap:>12} {seconds(s['time_to_stop']):>13} "
                       f"{seconds(s['vip_moved']):>10}")
        out += self.cross_check()
        out += [
            "",
            f"  keepalived VRRPv3 with advert_int {self.args.advert_int:g} s (production often uses "
            "1 s; the takeover, and so carp_exec's wait, grows with it)",
            f"  old wrapper's sleep: {sleep_s:g} s, its real 15 s scaled by advert_int "
            "(its failures do not depend on it: it undemotes before it signals)",
            "  time to stop: stop request → SIGTERM seen by the task (carp_exec's is the VRRP "
            "takeover it waits for, bounded by confirm_timeout "
            f"{self.args.confirm_timeout:g} s); VIP moved: stop request → the kernel added the VIP "
            "in edge-b (its address events, not keepalived's notify hook)",
            "  at a VIP move: of the failed requests, those reset or timed out while the VIP changed "
            "node (a connection in flight at that instant is lost, whatever the procedure; it "
            "happens now and then); the others were refused: the VIP led to a node with no server",
            f"  the replacement starts {self.args.replacement_delay:g} s after the old task exited, "
            "for every procedure; longest gap: longest time without a successful answer"
            " (+: still open when probing ended)",
        ]
        self.console.line("\n".join(out))

    def cross_check(self):
        """carp_exec's row against carp_exec's own task events, within the stated tolerance."""
        lane = next((x for x in self.lanes if x["key"] == "D" and "error" not in x), None)
        if lane is None or lane["summary"]["carp_exec_says"] is None:
            return []
        s = lane["summary"]
        says = s["carp_exec_says"]
        left = next((w["used"]["t"] for w in lane["witnesses"] if w["step"] == "VIP left edge-a"),
                    None)
        start = next((e["t"] for e in lane["events"] if e["kind"] == "stop"), 0.0)
        left = None if left is None else left - start
        pairs = [("time to stop", s["time_to_stop"], "its signalled event", says["signalled"]),
                 ("VIP left edge-a (kernel)", left, "\"left this node after\"", says["vip_left"])]
        parts, problems = [], []
        tolerance = vip_moves.WITNESS_TOLERANCE
        for what, ours, name, theirs in pairs:
            parts.append(f"{what} {seconds(ours)}, {name} {seconds(theirs)}")
            if ours is None or theirs is None or abs(ours - theirs) > tolerance:
                problems.append(what)
        verdict = (f"agree within {tolerance * 1000:.0f} ms" if not problems else
                   f"⚠ disagree on {', '.join(problems)} (more than {tolerance * 1000:.0f} ms "
                   "apart, or one saw nothing; the table keeps the task's log and the kernel)")
        return [f"  carp_exec's own task events, from the stop request: {'; '.join(parts)} — "
                f"{verdict}"]

    def write_outputs(self):
        os.makedirs(self.args.out, exist_ok=True)
        timeline = {
            "advert_int": self.args.advert_int,
            "wrapper_sleep": self.bench.wrapper_sleep(),
            "wrapper_sleep_scaled": self.args.wrapper_sleep == "scaled",
            "replacement_delay": self.args.replacement_delay,
            "probe_interval": 0.05,
            "lanes": [lane for lane in self.lanes if "error" not in lane],
        }
        json_path = os.path.join(self.args.out, "timeline.json")
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(timeline, f, indent=1)
        svg_path = os.path.join(self.args.out, "failover-timeline.svg")
        with open(svg_path, "w", encoding="utf-8") as f:
            f.write(demo_chart.render(timeline))
        return json_path, svg_path


def seconds(value):
    if value is None:
        return "-"
    return f"{value:.3f} s" if abs(value) < 0.1 else f"{value:.2f} s"


def interrupt(*_):
    raise KeyboardInterrupt()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    build = os.environ.get("CARP_BUILD_DIR", os.path.join(REPO, "build"))
    parser.add_argument("--build-dir", default=build, help="where carp_exec and failover_e2e are")
    parser.add_argument("--out", default=os.path.join(REPO, "demo-out"))
    parser.add_argument("--prefix", default=os.environ.get("CX_PREFIX") or "cxdemo",
                        help="namespace name prefix (default: $CX_PREFIX, else cxdemo)")
    parser.add_argument("--advert-int", type=float, default=0.1)
    parser.add_argument("--wrapper-sleep", default="scaled",
                        help="the old wrapper's sleep in seconds, or 'scaled' = 15 x advert_int")
    parser.add_argument("--replacement-delay", type=float, default=3.0)
    parser.add_argument("--confirm-timeout", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep the test bed's run dir (logs)")
    args = parser.parse_args()
    args.e2e = os.path.join(args.build_dir, "tests", "failover", "failover_e2e")
    args.plugin = os.path.join(args.build_dir, "carp_exec")
    if args.wrapper_sleep != "scaled":
        float(args.wrapper_sleep)
    for path in (args.e2e, args.plugin):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"demo: {path} is not built; run scripts/demo (it builds), or "
                             f"cmake --build {args.build_dir} --target carp_exec failover_e2e")
    if os.geteuid() != 0:
        raise SystemExit("demo: must run as root (network namespaces, keepalived): sudo scripts/demo")

    # Explicit handlers: a demo started in the background inherits SIGINT ignored, and SIGTERM
    # (timeout, ctest) must clean up as well.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    demo = Demo(args, load_bench())
    status = 0
    try:
        print(f"demo: building the test bed (namespaces {args.prefix}-edge-a, {args.prefix}-edge-b, "
              f"{args.prefix}-client, {args.prefix}-sw; keepalived on both edges, advert_int "
              f"{args.advert_int:g} s)", flush=True)
        demo.bench.up()
        print(f"demo: edge-a is MASTER with VIP {demo.bench.tb['CX_VIP']}; edge-b is BACKUP and "
              "serves too. Each procedure performs the same rolling update of the HTTP server on "
              "edge-a.", flush=True)
        for key in LANES:
            demo.run_lane(key)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; cleaning up", file=sys.stderr, flush=True)
        status = 130
    finally:
        # Cleanup must finish even when Ctrl-C is pressed again.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.bench.down()
    if status:
        return status
    demo.table()
    json_path, svg_path = demo.write_outputs()
    print(f"\ndemo: timeline chart {svg_path} (data: {json_path})")
    carp = next((lane for lane in demo.lanes if lane["key"] == "D"), None)
    if any("error" in lane for lane in demo.lanes):
        print("demo: a procedure could not run (see above)", file=sys.stderr)
        return 1
    disagreements = [f"{lane['name']}: {p}" for lane in demo.lanes
                     for p in lane["summary"]["disagreements"]]
    if disagreements:
        print(f"demo: the witnesses disagreed {len(disagreements)} time(s), each marked ⚠ above "
              "(the kernel's address events decide when the VIP moved; keepalived's notify hook "
              "and carp_exec's events are shown beside them):")
        for line in disagreements:
            print(f"  {line}")
    lost = carp["summary"]["failed"] - carp["summary"]["failed_at_move"]
    if lost != 0:
        print(f"demo: carp_exec lost {lost} request(s) other than at a VIP move; this should not "
              f"happen: please report it with {json_path}", file=sys.stderr)
        return 1
    if carp["summary"]["failed_at_move"]:
        print(f"demo: carp_exec's {carp['summary']['failed_at_move']} failed request(s) were in "
              "flight at the instant the VIP moved (see the table's notes); run the demo again "
              "to see a clean run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
