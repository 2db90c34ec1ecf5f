#!/usr/bin/env python3
"""Draws the demo's timeline as an SVG chart (python3 standard library only).

Input: the timeline JSON that scripts/demo_run.py writes (demo-out/timeline.json):
  {"advert_int", "wrapper_sleep", "wrapper_sleep_scaled", "replacement_delay", "probe_interval",
   "lanes": [{"key", "name", "what",
              "requests": [{"t", "latency", "ok", ...}],     t: seconds since the probe started
              "events": [{"t", "kind", "text"}],               kinds: stop, demoted, moved, ...
              "summary": {"total", "failed", "longest_gap", "longest_gap_start", "time_to_stop",
                          ...}}]}
Output: one lane per procedure; each request is a tick (green answered, red failed) at the time it
was sent, the longest gap without an answer is a bracket under the ticks, and the steps of the
procedure are vertical lines with labels (stacked so they never overlap).

usage: demo_chart.py TIMELINE_JSON OUT_SVG
"""

import json
import math
import sys
from xml.sax.saxutils import escape

WIDTH = 1100
LEFT = 250  # lane titles
RIGHT = 30
TOP = 140  # title, subtitles, legend
LABEL_ROW = 15  # height of one row of event labels
LABEL_ROWS = 4
BAND = 34  # height of the request ticks
LANE_GAP = 26
CHAR_WIDTH = 6.1  # average width of an 11 px sans-serif character, for overlap avoidance
OK_COLOUR = "#1e8e3e"
FAIL_COLOUR = "#d93025"
PEER_COLOUR = "#8ab4f8"
AMBER = "#b06000"  # failures only at a VIP move: not the procedure's doing

# kind -> (colour, label); kinds not listed are not drawn (their text is in the console timeline).
EVENTS = {
    "stop": ("#5f6368", "stop request"),
    "demoted": ("#e37400", "demoted"),
    "moved": ("#1a73e8", "VIP moved"),
    "undemoted": ("#9334e6", "undemoted"),
    "back": ("#0b3d91", "VIP back"),
    "signalled": ("#b31412", "signalled"),
    "ready": ("#137333", "ready"),
    "started": ("#137333", "replacement up"),
    "restored": ("#9334e6", "restored"),
}
LEGEND_ORDER = ["stop", "demoted", "moved", "signalled", "undemoted", "back", "started", "ready",
                "restored"]


def lane_height():
    return LABEL_ROWS * LABEL_ROW + 8 + BAND + 30


def text(x, y, content, size=11, anchor="start", colour="#202124", weight="normal"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{colour}" font-weight="{weight}">{escape(content)}</text>')


def place_labels(items, plot_left, plot_right):
    """items: [(x, label)] sorted by x. Returns [(x, label, row, anchor, text_x)]: each label goes
    in the lowest row where it does not overlap an earlier one; near the right edge it is drawn to
    the left of its line."""
    ends = [-math.inf] * LABEL_ROWS
    placed = []
    for x, label in items:
        width = len(label) * CHAR_WIDTH
        anchor, start, end = "start", x + 3, x + 3 + width
        if end > plot_right:
            anchor, start, end = "end", x - 3 - width, x - 3
        start = max(start, plot_left - LEFT + 10)
        row = next((r for r in range(LABEL_ROWS) if ends[r] + 6 <= start), None)
        if row is None:
            row = min(range(LABEL_ROWS), key=lambda r: ends[r])
        ends[row] = end
        placed.append((x, label, row, anchor, start if anchor == "start" else end))
    return placed


def render(timeline):
    lanes = timeline["lanes"]
    span = 1.0
    for lane in lanes:
        for r in lane["requests"]:
            span = max(span, r["t"] + min(r["latency"], 0.5))
        for e in lane["events"]:
            span = max(span, e["t"])
        span = max(span, lane["summary"].get("window", 0))
    span = math.ceil((span + 0.04) * 10) / 10
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    scale = (plot_right - plot_left) / span

    def x_of(t):
        return plot_left + max(0.0, min(t, span)) * scale

    height = TOP + len(lanes) * (lane_height() + LANE_GAP) + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, '
           f'sans-serif">',
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>']

    # Title and the settings that make the numbers honest.
    out.append(text(20, 30, "Rolling update of an HTTP server on the VRRP MASTER: carp_exec vs "
                            "the old wrapper vs raw_exec", size=17, weight="bold"))
    sleep_note = (f"old wrapper's sleep {timeline['wrapper_sleep']:g} s "
                  f"({'its real 15 s, scaled by advert_int' if timeline.get('wrapper_sleep_scaled') else 'as given'})")
    out.append(text(20, 52, f"keepalived VRRPv3 with advert_int {timeline['advert_int']:g} s · "
                            f"{sleep_note} · the replacement starts "
                            f"{timeline['replacement_delay']:g} s after the old task exited",
                    size=12, colour="#3c4043"))
    out.append(text(20, 69, f"The client sends one GET to the VIP every "
                            f"{timeline.get('probe_interval', 0.05) * 1000:.0f} ms; each procedure "
                            f"gets its stop request about 1 s after probing began; VIP moves are the "
                            f"kernel's address events in each edge.", size=12,
                    colour="#3c4043"))

    # Legend.
    lx, ly = 20, 96
    out.append(f'<rect x="{lx}" y="{ly - 11}" width="4" height="14" fill="{OK_COLOUR}"/>')
    out.append(text(lx + 9, ly, "request answered"))
    lx += 125
    out.append(f'<rect x="{lx}" y="{ly - 11}" width="4" height="14" fill="{FAIL_COLOUR}"/>')
    out.append(text(lx + 9, ly, "request failed"))
    lx += 110
    out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 26}" y2="{ly - 4}" stroke="#202124" '
               f'stroke-width="2"/>')
    out.append(text(lx + 31, ly, "longest gap without an answer"))
    lx += 222
    out.append(f'<rect x="{lx}" y="{ly - 8}" width="26" height="6" fill="{PEER_COLOUR}"/>')
    out.append(text(lx + 31, ly, "VIP on the peer, edge-b"))
    lx, ly = 20, ly + 20
    out.append(text(lx, ly, "steps:", colour="#3c4043"))
    lx += 45
    for kind in LEGEND_ORDER:
        colour, label = EVENTS[kind]
        out.append(f'<line x1="{lx}" y1="{ly - 12}" x2="{lx}" y2="{ly + 3}" stroke="{colour}" '
                   f'stroke-width="2" stroke-dasharray="4 2"/>')
        out.append(text(lx + 5, ly, label, colour=colour))
        lx += 14 + len(label) * CHAR_WIDTH + 8

    # Lanes.
    y = TOP
    for lane in lanes:
        y = draw_lane(out, lane, y, x_of, plot_left, plot_right)
        y += LANE_GAP

    # Time axis under the last lane.
    axis_y = y - LANE_GAP + 8
    out.append(f'<line x1="{plot_left}" y1="{axis_y}" x2="{plot_right}" y2="{axis_y}" '
               f'stroke="#5f6368"/>')
    step = 0.5 if span <= 6 else 1.0
    for i in range(int(span / step) + 1):
        t = i * step
        x = x_of(t)
        major = abs(t - round(t)) < 1e-9
        out.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + (6 if major else 3)}" '
                   f'stroke="#5f6368"/>')
        if major:
            out.append(text(x, axis_y + 19, f"{t:g} s", anchor="middle", colour="#3c4043"))
    out.append(text((plot_left + plot_right) / 2, axis_y + 38,
                    "seconds since the probe started", anchor="middle", colour="#3c4043"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw_lane(out, lane, y, x_of, plot_left, plot_right):
    s = lane["summary"]
    h = lane_height()
    band_top = y + LABEL_ROWS * LABEL_ROW + 8
    band_bottom = band_top + BAND
    out.append(f'<rect x="10" y="{y - 6}" width="{WIDTH - 20}" height="{h + 4}" rx="6" '
               f'fill="#f8f9fa" stroke="#dadce0"/>')

    # Lane title and its figures.
    at_move = s.get("failed_at_move", 0)
    failed_colour = FAIL_COLOUR if s["failed"] - at_move else AMBER if at_move else OK_COLOUR
    out.append(text(22, y + 16, lane["name"], size=15, weight="bold"))
    for i, line in enumerate(wrap(lane.get("what", ""), 36)[:3]):
        out.append(text(22, y + 33 + i * 13, line, size=10, colour="#5f6368"))
    out.append(text(22, band_top + 14, f"{s['failed']} of {s['total']} requests failed", size=12,
                    colour=failed_colour, weight="bold"))
    if at_move:
        out.append(text(22, band_top + 44, f"({at_move} in flight while the VIP moved)", size=10,
                        colour="#5f6368"))
    gap = f"longest gap {s['longest_gap']:.2f} s"
    stop = s.get("time_to_stop")
    stop_text = "" if stop is None else f" · time to stop {stop:.2f} s"
    out.append(text(22, band_top + 30, gap + stop_text, size=11, colour="#3c4043"))

    # Faint second grid, the request band.
    t = 0.0
    while x_of(t) < plot_right - 0.5:
        out.append(f'<line x1="{x_of(t):.1f}" y1="{y}" x2="{x_of(t):.1f}" y2="{band_bottom + 18}" '
                   f'stroke="#e8eaed"/>')
        t += 1.0
    out.append(f'<rect x="{plot_left}" y="{band_top}" width="{plot_right - plot_left}" '
               f'height="{BAND}" fill="#ffffff" stroke="#dadce0"/>')
    tick = max(1.5, x_of(0.035) - x_of(0))
    for r in lane["requests"]:
        colour = OK_COLOUR if r["ok"] else FAIL_COLOUR
        out.append(f'<rect x="{x_of(r["t"]):.1f}" y="{band_top + 3}" width="{tick:.1f}" '
                   f'height="{BAND - 6}" fill="{colour}"/>')

    # Where the VIP was on the peer: a strip above the ticks, from "moved" to "back" (or the end).
    moved = next((e["t"] for e in lane["events"] if e["kind"] == "moved"), None)
    if moved is not None:
        back = next((e["t"] for e in lane["events"] if e["kind"] == "back" and e["t"] >= moved),
                    None)
        x1, x2 = x_of(moved), x_of(back) if back is not None else plot_right
        out.append(f'<rect x="{x1:.1f}" y="{band_top - 7}" width="{max(1.0, x2 - x1):.1f}" '
                   f'height="6" fill="{PEER_COLOUR}"/>')

    # The longest gap: a bracket under the band, labelled when it is wide enough to matter.
    if s["longest_gap"] >= 0.2:
        x1, x2 = x_of(s["longest_gap_start"]), x_of(s["longest_gap_start"] + s["longest_gap"])
        by = band_bottom + 7
        out.append(f'<path d="M{x1:.1f},{by - 4} V{by} H{x2:.1f} V{by - 4}" fill="none" '
                   f'stroke="#202124" stroke-width="2"/>')
        label = f"{s['longest_gap']:.2f} s without an answer" + \
            (" (still open at the end)" if s.get("longest_gap_open") else "")
        out.append(text((x1 + x2) / 2, by + 14, label, anchor="middle", size=11))

    # Steps of the procedure.
    order = list(EVENTS)
    items = sorted(((x_of(e["t"]), e["kind"]) for e in lane["events"] if e["kind"] in EVENTS),
                   key=lambda item: (round(item[0]), order.index(item[1])))
    placed = place_labels([(x, EVENTS[k][1]) for x, k in items], plot_left, plot_right)
    for (x, kind), (_, label, row, anchor, text_x) in zip(items, placed):
        colour = EVENTS[kind][0]
        label_y = y + (row + 1) * LABEL_ROW - 2
        out.append(f'<line x1="{x:.1f}" y1="{label_y - 10}" x2="{x:.1f}" y2="{band_bottom}" '
                   f'stroke="{colour}" stroke-width="1.6" stroke-dasharray="4 2"/>')
        out.append(text(text_x, label_y, label, colour=colour, anchor=anchor))
    return y + h


def wrap(content, width):
    lines, line = [], ""
    for word in content.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: demo_chart.py TIMELINE_JSON OUT_SVG\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        timeline = json.load(f)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(render(timeline))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
