#!/usr/bin/env python3
"""Draws one SVG per benchmark scenario from the load generator's own results.

    python3 bench/charts.py [RESULTS_DIR] [OUT_DIR]

RESULTS_DIR (default bench/results) holds the JSON files `loadgen --json` writes (bench/run.sh
writes idle.json and throughput.json) and, optionally, callgrind/*.json from bench/callgrind.sh.
Each scenario becomes OUT_DIR/<scenario>.svg (default docs/benchmarks/): one panel per
measurement (throughput, server CPU per operation, latency...), a bar per target at its median
over the rounds, with a line from the lowest to the highest round. Python 3 standard library only.
"""

import glob
import html
import json
import os
import re
import sys

COLORS = ["#d9480f", "#1971c2", "#868e96", "#2f9e44", "#ae3ec9"]
PANEL_W, PANEL_H, TOP, BOTTOM, LEFT = 230, 190, 46, 58, 14


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return 0.0
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def human(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def wrap(text, width=34):
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return lines[:2]


def panel(x0, row, targets):
    """One measurement: a bar per target, whiskers for the round-to-round spread."""
    out = []
    title = row["label"].split(": ", 1)[-1]
    better = "higher is better" if row["higher_is_better"] else "lower is better"
    for i, line in enumerate(wrap(f"{title} ({row['unit'].strip()})")):
        out.append(f'<text x="{x0 + PANEL_W / 2}" y="{16 + 14 * i}" text-anchor="middle" font-size="12">{html.escape(line)}</text>')
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 44}" text-anchor="middle" font-size="10" fill="#555">{better}</text>')
    rounds = [[v for v in r if v is not None] for r in row["values"]]
    top = max((max(r) for r in rounds if r), default=1.0) or 1.0
    n = len(targets)
    slot = (PANEL_W - 2 * LEFT) / n
    base = TOP + PANEL_H
    out.append(f'<line x1="{x0 + LEFT}" y1="{base}" x2="{x0 + PANEL_W - LEFT}" y2="{base}" stroke="#333"/>')
    for i, (name, values) in enumerate(zip(targets, rounds)):
        m = median(values)
        h = PANEL_H * m / top
        x = x0 + LEFT + i * slot + slot * 0.15
        w = slot * 0.7
        out.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{COLORS[i % len(COLORS)]}"><title>{html.escape(name)}: {human(m)}</title></rect>')
        if len(values) > 1:
            lo, hi = min(values), max(values)
            cx = x + w / 2
            y_lo, y_hi = base - PANEL_H * lo / top, base - PANEL_H * hi / top
            out.append(f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" stroke="#000" stroke-width="1.5"/>')
            for y in (y_lo, y_hi):
                out.append(f'<line x1="{cx - 5:.1f}" y1="{y:.1f}" x2="{cx + 5:.1f}" y2="{y:.1f}" stroke="#000"/>')
        out.append(f'<text x="{x + w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" font-size="11">{human(m)}</text>')
        saturated = row.get("generator_saturated", [False] * n)[i]
        label = name + (" *" if saturated else "")
        out.append(f'<text x="{x + w / 2:.1f}" y="{base + 15}" text-anchor="middle" font-size="11">{html.escape(label)}</text>')
    return out


def svg(title, rows, targets, note):
    width = PANEL_W * len(rows)
    height = TOP + PANEL_H + BOTTOM + 22
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for i, row in enumerate(rows):
        parts.extend(panel(i * PANEL_W, row, targets))
    parts.append(f'<text x="6" y="{height - 6}" font-size="10" fill="#555">{html.escape(title)} — {html.escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks"
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        with open(path) as f:
            run = json.load(f)
        targets = run["targets"]
        scenarios = {}
        for row in run["rows"]:
            if "latency" in row["label"] and "p99" not in row["label"]:
                continue  # p50 is in the tables; the charts keep throughput, CPU and p99
            scenarios.setdefault(row["scenario"], []).append(row)
        note = f"median of {run['rounds']} rounds, bars from the lowest to the highest; * generator saturated; load {run['loadavg'].split(' ')[0]}"
        for scenario, rows in scenarios.items():
            name = os.path.join(out_dir, slug(scenario) + ".svg")
            with open(name, "w") as f:
                f.write(svg(scenario, rows, targets, note))
            written.append(name)
    counts = sorted(glob.glob(os.path.join(results, "callgrind", "*.json")))
    if counts:
        servers = []
        for path in counts:
            with open(path) as f:
                servers.append(json.load(f))
        targets = [s["server"] for s in servers]
        rows = [
            {"label": "instructions per round trip", "unit": "instr", "higher_is_better": False,
             "values": [[s["instr_per_round_trip"]] for s in servers]},
            {"label": "instructions per delivery", "unit": "instr", "higher_is_better": False,
             "values": [[s["instr_per_delivery"]] for s in servers]},
        ]
        name = os.path.join(out_dir, "callgrind.svg")
        with open(name, "w") as f:
            f.write(svg("callgrind", rows, targets, "valgrind --tool=callgrind, user-space instructions"))
        written.append(name)
    for name in written:
        print(name)


if __name__ == "__main__":
    main()
