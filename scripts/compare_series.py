"""The time series of the claims' runs in scripts/compare-go.sh: for a workload whose
summaries carry `findings.series` (rows of numbers) and `findings.series_columns` (their
names, time in ms first), results/compare/<workload>/series.csv (every run's rows, with
its side and pair) and series.svg (the second column over time, one line per run: the
testbed's blue, Go's red). Workloads compared with each other (CONTRASTS: intern's serial
runner and Go 1.27's executor) also get one plot of both, once both have runs: the first
one's runs solid, the second's dashed. Python 3 standard library only.
"""

import html
import json
import os

COLORS = {"testbed": "#1f77b4", "go": "#d62728"}
# (first, second, file written into first's folder): both workloads' series in one plot.
CONTRASTS = [("intern-serial", "intern-executor", "serial-vs-executor.svg")]


def runs_with_series(records):
    """(side, pair, columns, rows) of each record whose findings carry a series."""
    out = []
    for r in records:
        f = (r.get("summary") or {}).get("findings") or {}
        if f.get("series") and f.get("series_columns"):
            out.append((r["side"], r["pair"], f["series_columns"], f["series"]))
    return out


def csv_text(runs):
    columns = runs[0][2]
    lines = [",".join(["side", "pair"] + columns)]
    for side, pair, _, rows in runs:
        lines += [",".join([side, str(pair)] + [str(v) for v in row]) for row in rows]
    return "\n".join(lines) + "\n"


def svg_text(runs, title, dashed=()):
    """The plot of runs' (side, pair, columns, rows); runs whose index is in dashed are drawn
    dashed."""
    W, H, L, R, T, B = 820, 440, 90, 170, 50, 60
    ylabel = runs[0][2][1]
    xmax = max(row[0] for _, _, _, rows in runs for row in rows) or 1
    ymax = max(row[1] for _, _, _, rows in runs for row in rows) or 1
    x = lambda v: L + (W - L - R) * v / xmax
    y = lambda v: H - B - (H - T - B) * v / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for i in range(6):
        xv, yv = xmax * i / 5, ymax * i / 5
        out.append(f'<text x="{x(xv):.1f}" y="{H - B + 18}" text-anchor="middle">{xv / 1e3:.1f}</text>')
        out.append(f'<text x="{L - 6}" y="{y(yv) + 4:.1f}" text-anchor="end">{yv:.0f}</text>')
        out.append(f'<line x1="{L}" y1="{y(yv):.1f}" x2="{W - R}" y2="{y(yv):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">seconds since the start</text>')
    out.append(f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {(T + H - B) / 2})">{html.escape(ylabel)}</text>')
    for i, (side, pair, _, rows) in enumerate(runs):
        pts = " ".join(f"{x(r[0]):.1f},{y(r[1]):.1f}" for r in rows)
        dash = ' stroke-dasharray="6 4"' if i in dashed else ""
        out.append(f'<polyline fill="none" stroke="{COLORS.get(side, "black")}" stroke-width="1.2" '
                   f'stroke-opacity="0.7"{dash} points="{pts}"><title>{side} pair {pair}</title></polyline>')
    for i, (side, name) in enumerate((("testbed", "testbed"), ("go", "Go"))):
        yy = T + 20 * i
        out.append(f'<line x1="{W - R + 15}" y1="{yy}" x2="{W - R + 40}" y2="{yy}" stroke="{COLORS[side]}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 46}" y="{yy + 4}">{name} (each run)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_series(out, workload, records):
    """Writes series.csv and series.svg into out when the runs carry a series; returns
    whether they did."""
    runs = runs_with_series(records)
    if not runs:
        return False
    with open(os.path.join(out, "series.csv"), "w") as f:
        f.write(csv_text(runs))
    with open(os.path.join(out, "series.svg"), "w") as f:
        f.write(svg_text(runs, f"{workload}: {runs[0][2][1]} over time, every run"))
    return True


def read_records(folder):
    """The records of folder/runs.jsonl ([] when there is none)."""
    try:
        with open(os.path.join(folder, "runs.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def write_contrasts(root):
    """Writes each CONTRASTS plot whose two workloads both have runs with series under root;
    returns the paths written."""
    written = []
    for first, second, name in CONTRASTS:
        a = runs_with_series(read_records(os.path.join(root, first)))
        b = runs_with_series(read_records(os.path.join(root, second)))
        if not a or not b:
            continue
        title = f"{a[0][2][1]} over time: {first} (solid) and {second} (dashed), every run"
        path = os.path.join(root, first, name)
        with open(path, "w") as f:
            f.write(svg_text(a + b, title, dashed=range(len(a), len(a) + len(b))))
        written.append(path)
    return written
