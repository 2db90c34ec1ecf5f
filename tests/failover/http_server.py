#!/usr/bin/env python3
"""The HTTP server the failover tests run as their task (a stand-in for traefik).

GET /      -> 200, body "<name>\n" (the probe records which node answered)
GET /ping  -> 200, body "pong\n" (the ready check)
SIGTERM / SIGINT: log the signal, close the listening socket at once (new connections are refused,
as when traefik goes away), let requests in flight finish for --drain seconds, exit 0.

--log FILE appends JSON lines with wall (unix seconds) and mono (CLOCK_MONOTONIC) timestamps:
events "listening", "first_request", "ping", "signal", "exit". The tests compare "signal" with the
moment the VIP moved, and the first "ping" of a replacement with the moment the node was restored.

--check URL: one GET with a 0.5 s timeout; exit 0 on HTTP 200 (used by the test bed to wait for start).
"""

import argparse
import http.server
import json
import os
import select
import signal
import socketserver
import sys
import threading
import time
import urllib.request


class EventLog:
    """Appends one JSON object per line; safe to call from the request threads."""

    def __init__(self, path, name):
        self._path = path
        self._name = name
        self._lock = threading.Lock()

    def write(self, event, wall=None, mono=None, **fields):
        """wall/mono: when it happened, if not now."""
        if not self._path:
            return
        record = {"wall": time.time() if wall is None else wall,
                  "mono": time.monotonic() if mono is None else mono, "event": event,
                  "name": self._name, "pid": os.getpid()}
        record.update(fields)
        line = json.dumps(record) + "\n"
        with self._lock:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "carp-exec-test/1"
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 (name fixed by http.server)
        state = self.server.state
        if self.path == "/ping":
            state.log.write("ping")
            body = b"pong\n"
        else:
            if not state.first_request_logged:
                state.first_request_logged = True
                state.log.write("first_request", path=self.path)
            body = (state.name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", state.name)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # one line per request would drown the logs; the event log has what tests need


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class State:
    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.first_request_logged = False


def check(url):
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return 0 if response.status == 200 else 1
    except Exception:  # any failure means "not ready yet"
        return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--name", default=os.uname().nodename)
    parser.add_argument("--log", default="")
    parser.add_argument("--drain", type=float, default=0.1,
                        help="seconds requests in flight may finish after a stop signal")
    parser.add_argument("--check", metavar="URL", help="probe URL once and exit 0 if it answers 200")
    args = parser.parse_args()
    if args.check:
        return check(args.check)

    log = EventLog(args.log, args.name)
    # The handler only records the signal: it takes no lock (one the main thread holds, e.g. inside
    # EventLog.write, would deadlock it) and the main thread logs it. The kernel may deliver a
    # process-directed signal to any thread; then only the C-level part runs there, and the Python
    # handler waits until the main thread runs bytecode again. An unbounded Event.wait() never
    # does, so the server ignored such a SIGTERM until SIGKILL. The wakeup fd (written by the C
    # part in whatever thread) ends the main thread's wait at once; the 50 ms bound is the backstop.
    received = []  # (signal name, wall, mono); list.append needs no lock
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)

    def on_signal(signum, _frame):
        received.append((signal.Signals(signum).name, time.time(), time.monotonic()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = Server((args.bind, args.port), Handler)
    server.state = State(args.name, log)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    log.write("listening", port=args.port)
    while not received:
        select.select([wake_read], [], [], 0.05)
        try:
            os.read(wake_read, 64)  # drain, so the next select waits again
        except BlockingIOError:
            pass
    name, wall, mono = received[0]
    log.write("signal", wall=wall, mono=mono, signal=name)
    # Refuse new connections at once: this is the moment a real proxy stops taking traffic.
    server.socket.close()
    time.sleep(max(0.0, args.drain))
    server.shutdown()
    log.write("exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
