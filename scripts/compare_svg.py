"""The latency plot of scripts/compare-go.sh: both sides' operation latency by percentile
(an HdrHistogram .hgrm each) on a "nines" axis, as SVG. Python 3 standard library only.
"""

import html
import math


def parse_hgrm(path):
    """(quantile, value in ns) points of an .hgrm in µs; [] when the file is missing."""
    pts = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return pts
    for line in lines:
        parts = line.split()
        if len(parts) in (3, 4) and not line.startswith("#"):
            try:
                v, q = float(parts[0]), float(parts[1])
            except ValueError:
                continue
            pts.append((q, v * 1000.0))
    return pts


def nines(q):
    return -math.log10(1.0 - q) if q < 1.0 else None


def svg(series, title):
    W, H, L, R, T, B = 820, 440, 80, 250, 50, 60
    finite = [(nines(q), v) for _, _, pts in series for q, v in pts if q < 1.0 and v > 0]
    vals = [v for _, _, pts in series for q, v in pts if v > 0]
    if not finite:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">'
                f'<text x="{W/2}" y="{H/2}" text-anchor="middle">{html.escape(title)}: no data</text></svg>\n')
    xmax = min(math.floor(max(x for x, _ in finite) + 1e-9) + 1, 17)
    lo = math.floor(math.log10(min(vals)))
    hi = math.ceil(math.log10(max(vals)))
    hi = hi if hi > lo else lo + 1
    px = lambda x: L + (W - L - R) * x / xmax
    py = lambda v: H - B - (H - T - B) * (math.log10(v) - lo) / (hi - lo)
    units = [(1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1, "ns")]
    def vlabel(v):
        for scale, unit in units:
            if v >= scale:
                return f"{v/scale:.3g} {unit}"
        return f"{v:.3g} ns"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{(L + W - R)/2}" y="24" text-anchor="middle" font-size="15">{html.escape(title)}</text>']
    for k in range(0, xmax + 1):
        x = px(k)
        lab = "0%" if k == 0 else "90%" if k == 1 else "99." + "9" * (k - 2) + "%" if k > 2 else "99%"
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H-B}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{H-B+16}" text-anchor="middle">{lab}</text>')
    steps = (1, 2, 5) if hi - lo <= 3 else (1,)
    for e in range(lo, hi + 1):
        for m in steps:
            v = m * 10 ** e
            if v > 10 ** hi:
                break
            y = py(v)
            out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W-R}" y2="{y:.1f}" stroke="{"#ddd" if m == 1 else "#f0f0f0"}"/>')
            out.append(f'<text x="{L-6}" y="{y+4:.1f}" text-anchor="end">{html.escape(vlabel(v))}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W-L-R}" height="{H-T-B}" fill="none" stroke="black"/>')
    out.append(f'<text x="{(L + W - R)/2}" y="{H-18}" text-anchor="middle">percentile</text>')
    out.append(f'<text x="18" y="{(T + H - B)/2}" text-anchor="middle" transform="rotate(-90 18 {(T + H - B)/2})">latency (log scale)</text>')
    for i, (label, color, pts) in enumerate(series):
        line = [(px(nines(q)), py(v)) for q, v in pts if q < 1.0 and v > 0]
        mx = [v for q, v in pts if q >= 1.0 and v > 0]
        if line:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="' +
                       " ".join(f"{x:.1f},{y:.1f}" for x, y in line) + '"/>')
        if mx and line:
            out.append(f'<line x1="{line[-1][0]:.1f}" y1="{line[-1][1]:.1f}" x2="{px(xmax):.1f}" y2="{py(mx[0]):.1f}" '
                       f'stroke="{color}" stroke-dasharray="4 3"/>')
            out.append(f'<circle cx="{px(xmax):.1f}" cy="{py(mx[0]):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + 18 * i
        maxtxt = f" (max {vlabel(mx[0])})" if mx else ""
        out.append(f'<line x1="{W-R+12}" y1="{ly}" x2="{W-R+32}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W-R+36}" y="{ly+4}">{html.escape(label + maxtxt)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
