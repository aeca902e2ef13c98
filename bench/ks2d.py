"""Benchmark: exact 2D Kolmogorov-Smirnov, fast O(n log^2 n) against direct O(n^2).

Usage: python bench/ks2d.py
"""

from __future__ import annotations

import time

import numpy as np
from _record import record

from hgtools.metrics import ks_2d, ks_2d_direct


def timed(func, a, b) -> tuple[float, float]:
    t0 = time.perf_counter()
    d = func(a, b)
    return d, time.perf_counter() - t0


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for n in (1_000, 3_000, 10_000, 70_000):
        a = rng.normal(size=(n, 2))
        b = rng.normal(size=(n, 2)) + 0.05
        d_fast, t_fast = timed(ks_2d, a, b)
        row = {"points per sample": n, "fast [s]": round(t_fast, 3), "D": round(d_fast, 6)}
        if n <= 10_000:
            d_direct, t_direct = timed(ks_2d_direct, a, b)
            assert d_direct == d_fast
            row["direct [s]"] = round(t_direct, 3)
        rows.append(row)
    record("ks2d", "2D Kolmogorov-Smirnov: fast exact against direct counting (identical D)", rows)


if __name__ == "__main__":
    main()
