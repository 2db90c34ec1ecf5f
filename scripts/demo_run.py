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

While a procedure runs, this script (through scripts/demo_watch.py) watches the test bed's own
records (edge-a's track file, the kernel's address events in both edges, the server's event log)
and prints each step as it happens, together with the task events carp_exec sends and
keepalived's notify lines (labelled as keepalived's view). VIP moves are the kernel's: the test bed logs `ip -o -ts monitor address` in
each edge (tests/failover/vip_moves.py); the notify hook is a forked script that can run late.
After each procedure it compares every step's witnesses (scripts/demo_witnesses.py) and says
where two disagree by more than 100 ms. Afterwards it prints the summary table and writes
<out>/timeline.json and the chart <out>/failover-timeline.svg (scripts/demo_chart.py).

Everything the run creates (namespaces, keepalived, plugin, tasks, probes) is removed at the end,
also on Ctrl-C or SIGTERM. Exit status: 0 when carp_exec lost no request other than one in flight
at a VIP move (move_losses.py), 1 otherwise, 130 when interrupted.
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
from demo_watch import LaneWatcher, PluginLineTap  # noqa: E402
# The rule for requests lost in flight at a VIP move (windows, error classes), shared with the
# testbed self-test; failover_e2e applies the same rule in C++ (tests/failover/move_losses.h).
from move_losses import (MOVE_WINDOW_AFTER, MOVE_WINDOW_BEFORE, acceptable,  # noqa: E402
                         caught_by_move, tally)

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
        moves = vip_moves.moves_within(vip_moves.pair_moves(kernel), t0 - MOVE_WINDOW_AFTER,
                                       window_end + MOVE_WINDOW_BEFORE)
        move_windows = [(m.first - t0, m.last - t0) for m in moves]
        requests = [{"t": r["wall"] - t0, "latency": r["latency"], "ok": r["ok"],
                     "error": r.get("error"), "status": r.get("status"),
                     "served_by": r.get("served_by")} for r in records]
        for r in requests:
            r["at_move"] = caught_by_move(r["ok"], r["error"], r["t"], r["latency"],
                                          move_windows) is not None
        # The verdict every failover check uses: nothing lost but in flight at a move, one per move.
        counts = tally(records, [(m.first, m.last) for m in moves])
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
                "per_move": counts["per_move"],
                "acceptable": acceptable(counts),
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
                 ("VIP left edge-a (kernel)", left, "\"handed over … in\"", says["vip_left"])]
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
    if not carp["summary"]["acceptable"]:
        print(f"demo: one VIP move caught more than one of carp_exec's requests (per move: "
              f"{carp['summary']['per_move']}); a move catches at most the one connection in "
              f"flight: please report it with {json_path}", file=sys.stderr)
        return 1
    if carp["summary"]["failed_at_move"]:
        print(f"demo: carp_exec's {carp['summary']['failed_at_move']} failed request(s) were in "
              "flight at the instant the VIP moved (see the table's notes); run the demo again "
              "to see a clean run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
