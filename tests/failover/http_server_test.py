#!/usr/bin/env python3
"""Stop test of http_server.py: start it, send SIGTERM, it must log the signal and exit 0 promptly.

Repeats the cycle --cycles times (default 80), sending the signal at a different moment each time:
right when the "listening" line appears, and up to a few ms later, so that it lands in every part of
the server's start and wait. Every other cycle the signal goes to the server's accept thread
(tgkill) rather than to the process: the kernel delivers a process-directed signal to any thread
that does not block it, and a server whose main thread waits without bound then never runs its
handler (the bug this test was written for: about 1 stop in 40 hung until SIGKILL). A server that
misses the signal is SIGKILLed after --grace seconds and counted. Loopback only (the server binds
127.0.0.1 on a port the kernel picks; no request is sent).

    tests/failover/http_server_test.py [--cycles 80] [--grace 3]
prints "http_server stop test: N of N cycles exited 0 on SIGTERM" and exits 0 when all did.
"""

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "http_server.py")
START_TIMEOUT = 10.0


def thread_signaller():
    """tgkill(tgid, tid, sig) from the C library, or None where it has none (then every signal is
    process-directed)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.tgkill
    except (OSError, AttributeError):
        return None


TGKILL = thread_signaller()


def other_thread(pid):
    """A thread of `pid` other than its main thread, or None."""
    try:
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None
    return next((t for t in tids if t != pid), None)


def read_events(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line)["event"] for line in f if line.endswith("\n")]
    except (OSError, ValueError, KeyError):
        return []


def one_cycle(index, log_path, grace):
    """Returns None when the server stopped as promised, else what went wrong."""
    proc = subprocess.Popen([sys.executable, SERVER, "--bind", "127.0.0.1", "--port", "0",
                             "--name", f"cycle-{index}", "--log", log_path, "--drain", "0.01"],
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "listening" not in read_events(log_path):
            if proc.poll() is not None:
                return f"exited {proc.returncode} before listening"
            if time.monotonic() >= deadline:
                return f"not listening within {START_TIMEOUT:g} s"
            time.sleep(0.0005)
        # 0 to 7 ms after "listening": the start's tail and the wait itself.
        time.sleep((index % 8) / 1000.0)
        tid = other_thread(proc.pid) if TGKILL is not None and index % 2 == 1 else None
        if tid is None or TGKILL(proc.pid, tid, signal.SIGTERM) != 0:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return f"ignored SIGTERM for {grace:g} s (SIGKILLed)"
        events = read_events(log_path)
        if code != 0:
            return f"exit code {code} after SIGTERM (events {events})"
        if events[-2:] != ["signal", "exit"]:
            return f"events {events}, want ... signal, exit"
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=80)
    parser.add_argument("--grace", type=float, default=3.0)
    args = parser.parse_args()
    if not 0 < args.cycles <= 10000:
        raise SystemExit("http_server_test: --cycles must be in 1..10000")
    passed, problems = 0, []
    with tempfile.TemporaryDirectory(prefix="cx-http-server-test.") as work:
        for i in range(args.cycles):
            log_path = os.path.join(work, f"server-{i}.jsonl")
            problem = one_cycle(i, log_path, args.grace)
            if problem is None:
                passed += 1
            else:
                problems.append(f"cycle {i}: {problem}")
    for p in problems:
        print(f"  FAIL {p}")
    how = "half of them to a non-main thread" if TGKILL else "process-directed only: no tgkill"
    print(f"http_server stop test: {passed} of {args.cycles} cycles exited 0 on SIGTERM ({how})")
    return 0 if passed == args.cycles else 1


if __name__ == "__main__":
    sys.exit(main())
