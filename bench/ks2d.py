"""Benchmark: exact 2D Kolmogorov-Smirnov, O(n log n) wavelet matrix against the earlier O(n log^2 n)
dyadic blocks and against direct O(n^2) counting — the same D to the last bit.

The earlier implementation is read from the git history (commit :data:`BEFORE`), so both run
in the same process on the same samples.  Usage: python bench/ks2d.py
"""

from __future__ import annotations

import subprocess
import time
import types
from pathlib import Path

import numpy as np
from _record import record

from hgtools.metrics import ks_2d, ks_2d_direct

#: The last commit with the O(n log^2 n) implementation.
BEFORE = "3ca4495"
ROOT = Path(__file__).resolve().parents[1]


def earlier_ks_2d():
    """``ks_2d`` as it was at :data:`BEFORE` (None outside a git checkout)."""
    try:
        source = subprocess.run(["git", "show", f"{BEFORE}:hgtools/metrics.py"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("metrics_before")
    exec(compile(source, f"{BEFORE}:hgtools/metrics.py", "exec"), module.__dict__)
    return module.ks_2d


def timed(func, a, b) -> tuple[float, float]:
    t0 = time.perf_counter()
    d = func(a, b)
    return d, time.perf_counter() - t0


def main() -> None:
    rng = np.random.default_rng(0)
    before = earlier_ks_2d()
    rows = []
    for n in (1_000, 3_000, 10_000, 69_811):  # 69,811: the full-size test split
        a = rng.normal(size=(n, 2))
        b = rng.normal(size=(n, 2)) + 0.05
        d_fast, t_fast = timed(ks_2d, a, b)
        row = {"points per sample": n, "O(n log n) [s]": round(t_fast, 3), "D": d_fast}
        if before is not None:
            d_before, t_before = timed(before, a, b)
            assert d_before == d_fast
            row["before: O(n log^2 n) [s]"] = round(t_before, 3)
        if n <= 10_000:
            d_direct, t_direct = timed(ks_2d_direct, a, b)
            assert d_direct == d_fast
            row["direct O(n^2) [s]"] = round(t_direct, 3)
        rows.append(row)
    record("ks2d", "2D Kolmogorov-Smirnov: O(n log n) against the earlier O(n log^2 n) and direct counting "
                   "(identical D, same run)", rows, universe=False)


if __name__ == "__main__":
    main()
