#!/usr/bin/env python3
"""Bounded HTTP probe for the failover test bed (runs inside the client namespace).

Sends one GET at a time to --url, starting a request every --interval seconds (the next one starts
at once when a request took longer), each with --timeout, for at most --duration seconds and at most
--count requests. Every result is one JSON line in --out, flushed as soon as the request ends (the
demo shows failures live):
  {"seq", "mono", "wall", "ok", "status", "latency", "served_by", "error"}
(mono = CLOCK_MONOTONIC at the start of the request, wall = unix time at the start).

The summary (stdout, and --summary as JSON) gives total, failed, and the longest gap without a
successful response: measured between completions of successful requests, including the gap from
the window's start to the first success and from the last success to the window's end (an outage
still open when the window closes counts).

Safety: only addresses inside the test bed's network (--allow-net, default 10.231.0.0/24) may be
targeted, and the probe refuses to run in the root network namespace unless --allow-root-netns.
"""

import argparse
import http.client
import ipaddress
import json
import os
import signal
import sys
import time
import urllib.parse


def summarize(results, window_start, window_end):
    """Returns the summary dict for a list of result dicts (pure; unit-tested)."""
    total = len(results)
    failed = sum(1 for r in results if not r["ok"])
    success_times = sorted(r["mono"] + r["latency"] for r in results if r["ok"])
    edges = [window_start] + success_times + [window_end]
    longest, gap_start = 0.0, window_start
    for before, after in zip(edges, edges[1:]):
        if after - before > longest:
            longest, gap_start = after - before, before
    open_gap = not success_times or (window_end - success_times[-1]) >= longest
    first_failure = next((r["mono"] - window_start for r in results if not r["ok"]), None)
    return {
        "total": total,
        "ok": total - failed,
        "failed": failed,
        "longest_gap": round(longest, 4),
        "longest_gap_start": round(gap_start - window_start, 4),
        "longest_gap_open": bool(open_gap and failed > 0),
        "first_failure": None if first_failure is None else round(first_failure, 4),
        "window": round(window_end - window_start, 4),
    }


def check_target(url, allow_net):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"probe: --url {url!r} must be http://ADDRESS:PORT/PATH")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        raise SystemExit(f"probe: --url host {parts.hostname!r} must be an IP address inside "
                         f"{allow_net} (the test bed's network)")
    if address not in ipaddress.ip_network(allow_net):
        raise SystemExit(f"probe: {address} is outside {allow_net}; the probe only targets the test "
                         f"bed's namespaces (change --allow-net only for another test bed)")
    return parts.hostname, parts.port or 80, (parts.path or "/")


def in_root_netns():
    try:
        return os.readlink("/proc/self/ns/net") == os.readlink("/proc/1/ns/net")
    except OSError:
        return False  # cannot tell (e.g. hidepid): trust the caller's `ip netns exec`


def one_request(host, port, path, timeout):
    start_mono, start_wall = time.monotonic(), time.time()
    record = {"mono": start_mono, "wall": start_wall, "ok": False, "status": None,
              "served_by": None, "error": None}
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        record["status"] = response.status
        record["served_by"] = response.getheader("X-Served-By")
        record["ok"] = response.status == 200
    except Exception as e:  # refused, timed out, reset: all count as failures
        record["error"] = type(e).__name__ + (f": {e}" if str(e) else "")
    finally:
        conn.close()
    record["latency"] = time.monotonic() - start_mono
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://10.231.0.10:8080/")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=100000, help="hard cap on requests")
    parser.add_argument("--out", required=True, help="JSONL file, one line per request")
    parser.add_argument("--summary", help="also write the summary as JSON here")
    parser.add_argument("--start-file",
                        help="write the window's start (mono and wall) here once probing begins")
    parser.add_argument("--allow-net", default="10.231.0.0/24")
    parser.add_argument("--allow-root-netns", action="store_true")
    args = parser.parse_args()

    host, port, path = check_target(args.url, args.allow_net)
    if in_root_netns() and not args.allow_root_netns:
        raise SystemExit("probe: refusing to run in the root network namespace; run it with "
                         "`ip netns exec <prefix>-client` (or pass --allow-root-netns)")
    if args.duration <= 0 or args.duration > 3600 or args.count <= 0:
        raise SystemExit("probe: --duration must be in (0, 3600] seconds and --count positive")
    if not 0.005 <= args.interval <= 60 or not 0 < args.timeout <= 60:
        raise SystemExit("probe: --interval must be in [0.005, 60] and --timeout in (0, 60] "
                         "seconds (the test bed's pace is --interval 0.05 --timeout 0.5)")

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    results = []
    window_start = time.monotonic()
    deadline = window_start + args.duration
    if args.start_file:
        with open(args.start_file, "w", encoding="utf-8") as f:
            json.dump({"mono": window_start, "wall": time.time()}, f)
    with open(args.out, "w", encoding="utf-8") as out:
        next_start = window_start
        while len(results) < args.count and not stopping:
            now = time.monotonic()
            if next_start > now:
                time.sleep(next_start - now)
            if time.monotonic() >= deadline:
                break
            started = time.monotonic()
            record = one_request(host, port, path, min(args.timeout, max(0.01, deadline - started)))
            record["seq"] = len(results)
            results.append(record)
            out.write(json.dumps(record) + "\n")
            out.flush()  # readers (the demo) see each result live; one write per request
            next_start = started + args.interval
    window_end = min(time.monotonic(), deadline) if not stopping else time.monotonic()

    summary = summarize(results, window_start, window_end)
    summary["interval"] = args.interval
    summary["timeout"] = args.timeout
    summary["url"] = args.url
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            json.dump(summary, f)
    print(f"probe: total={summary['total']} failed={summary['failed']} "
          f"longest_gap={summary['longest_gap']:.3f}s"
          f"{' (open)' if summary['longest_gap_open'] else ''} window={summary['window']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
