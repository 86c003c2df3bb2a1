"""Statistics of scripts/compare-go.sh: an interval for the median of per-pair ratios, and
verdicts on targets read from scripts/compare-targets.csv.

The interval is the distribution-free sign-test (order-statistic) interval for the median:
with the n finite ratios sorted, [x_(k), x_(n-k+1)] holds the true median with probability
1 - 2 * P(B <= k - 1), B ~ Binomial(n, 1/2), whatever the ratios' distribution, provided the
pairs are independent. k is the largest that keeps that coverage at or above LEVEL (95%);
9 pairs give k = 2 (the second smallest to the second largest ratio, coverage 96.1%). Below
6 pairs no k reaches 95% (5 pairs: the full range covers 93.8%), and no target is judged.

A target bounds the median ratio testbed / Go: `<= b` is met when the interval's upper end
is at most b, missed when its lower end is above b, and unclear otherwise (`>= b` the
mirror image). Python 3 standard library only.
"""

import csv
import math
from math import comb

LEVEL = 0.95


def coverage(n, k):
    """The probability that [x_(k), x_(n-k+1)] of n samples holds their median."""
    below = sum(comb(n, i) for i in range(k))
    return 1.0 - 2.0 * below / 2.0**n


def median(values):
    """The median of a non-empty list."""
    xs = sorted(values)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def sign_interval(values, level=LEVEL):
    """The sign-test interval for the median of the finite values: a dict with n, median,
    lo, hi, coverage and enough (whether coverage reaches level)."""
    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    n = len(xs)
    if n == 0:
        return {"n": 0, "median": None, "lo": None, "hi": None, "coverage": 0.0, "enough": False}
    k = 1
    while 2 * (k + 1) <= n + 1 and coverage(n, k + 1) >= level:
        k += 1
    cov = coverage(n, k)
    return {
        "n": n,
        "median": median(xs),
        "lo": xs[k - 1],
        "hi": xs[n - k],
        "coverage": cov,
        "enough": cov >= level,
    }


def verdict(interval, op, bound):
    """'met', 'missed' or 'unclear' for a target `op bound` (op '<=' or '>=') on the ratio
    whose interval is given."""
    if not interval["enough"]:
        return "unclear"
    lo, hi = interval["lo"], interval["hi"]
    if op == "<=":
        return "met" if hi <= bound else "missed" if lo > bound else "unclear"
    if op == ">=":
        return "met" if lo >= bound else "missed" if hi < bound else "unclear"
    raise ValueError(f"unknown target operator {op!r}")


def load_targets(path):
    """The targets table: {workload: [{figure, op, bound, claim}, ...]}."""
    targets = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if row["op"] not in ("<=", ">="):
                raise ValueError(f"{path}: operator {row['op']!r} is not <= or >=")
            targets.setdefault(row["workload"], []).append(
                {"figure": row["figure"], "op": row["op"], "bound": float(row["bound"]),
                 "claim": row["claim"]}
            )
    return targets
