"""Scores of predictions: MSE, Pearson r, 1D and 2D Kolmogorov-Smirnov, bootstrap intervals.

:func:`ks_2d` is the two-sample statistic of Fasano & Franceschini (1987) as
the study computed it: around every point of either sample, the fractions of
each sample in the four quadrants (strict inequalities; points on a quadrant's
lines count in none) are compared; D is the mean of the two maxima taken over
the points of each sample.  It is exact and runs in O(n log^2 n) instead of
the direct O(n^2), so it can use every galaxy of the test set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1D arrays of the same length, got shapes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError("need at least two values to score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores need finite values (found NaN or inf)")
    return a, b


def mse(y_true, y_pred) -> float:
    """Mean squared error."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean((a - b) ** 2))


def pearson(y_true, y_pred) -> float:
    """Pearson correlation coefficient."""
    a, b = _pair(y_true, y_pred)
    return float(np.corrcoef(a, b)[0, 1])


def ks_1d(sample1, sample2) -> float:
    """Two-sample Kolmogorov-Smirnov distance D = max |F1 - F2| (scipy's ``ks_2samp``)."""
    a, b = np.asarray(sample1, float), np.asarray(sample2, float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples must be non-empty")
    return float(stats.ks_2samp(a, b).statistic)


def _dominance_counts(px: np.ndarray, py: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """For each query j, the number of points i with px[i] < tx[j] and py[i] < ty[j] (integer ranks).

    The points sorted by x form a sequence; "px < tx" selects a prefix of it,
    which splits into at most log2(n) aligned dyadic blocks.  At each level the
    points are sorted by (block, y), and one ``searchsorted`` counts, for every
    query using a block of that level, its points below the query's y.
    """
    n = px.size
    order = np.argsort(px, kind="stable")
    sorted_x, y_by_x = px[order], py[order]
    prefix = np.searchsorted(sorted_x, tx, side="left")  # points with x < tx: the first `prefix`
    span = int(max(py.max(initial=0), ty.max(initial=0))) + 2
    counts = np.zeros(tx.size, dtype=np.int64)
    position = np.arange(n)
    level = 0
    while (1 << level) <= n:
        block = position >> level
        keys = np.sort(block * span + y_by_x)
        use = (prefix >> level) & 1 == 1  # the prefix holds a whole block of this level
        if use.any():
            b = (prefix[use] >> (level + 1)) << 1  # that block's index at this level
            hi = np.searchsorted(keys, b * span + ty[use], side="left")
            lo = np.searchsorted(keys, b * span, side="left")
            counts[use] += hi - lo
        level += 1
    return counts


def _quadrant_fractions(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Fractions of ``points`` strictly in each quadrant around each query: (q, 4) as (++, -+, +-, --)."""
    n = len(points)
    ux, uy = np.unique(points[:, 0]), np.unique(points[:, 1])
    px, py = np.searchsorted(ux, points[:, 0]), np.searchsorted(uy, points[:, 1])
    qx_lt, qx_le = np.searchsorted(ux, queries[:, 0], "left"), np.searchsorted(ux, queries[:, 0], "right")
    qy_lt, qy_le = np.searchsorted(uy, queries[:, 1], "left"), np.searchsorted(uy, queries[:, 1], "right")
    # x < qx  <=>  rank < searchsorted-left;  x <= qx  <=>  rank < searchsorted-right
    ll = _dominance_counts(px, py, qx_lt, qy_lt)      # x <  qx, y <  qy
    l_le = _dominance_counts(px, py, qx_lt, qy_le)    # x <  qx, y <= qy
    le_l = _dominance_counts(px, py, qx_le, qy_lt)    # x <= qx, y <  qy
    le_le = _dominance_counts(px, py, qx_le, qy_le)   # x <= qx, y <= qy
    n_x_lt = np.searchsorted(np.sort(points[:, 0]), queries[:, 0], "left")
    n_x_le = np.searchsorted(np.sort(points[:, 0]), queries[:, 0], "right")
    n_y_lt = np.searchsorted(np.sort(points[:, 1]), queries[:, 1], "left")
    n_y_le = np.searchsorted(np.sort(points[:, 1]), queries[:, 1], "right")
    pp = n - n_x_le - n_y_le + le_le
    mp = n_x_lt - l_le
    pm = n_y_lt - le_l
    mm = ll
    return np.stack([pp, mp, pm, mm], axis=1) / n


def _as_points(sample) -> np.ndarray:
    arr = np.asarray(sample, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"a 2D sample must have shape (n, 2), got {arr.shape}")
    if len(arr) == 0:
        raise ValueError("a 2D sample must not be empty")
    if not np.isfinite(arr).all():
        raise ValueError("a 2D sample must hold finite values (found NaN or inf)")
    return arr


def ks_2d(sample1, sample2) -> float:
    """Two-sample 2D Kolmogorov-Smirnov statistic of Fasano & Franceschini, exact, in O(n log^2 n).

    Parameters
    ----------
    sample1, sample2 : array_like
        (n1, 2) and (n2, 2) points.

    Returns
    -------
    float
        D = (D1 + D2) / 2, where D1 (D2) is the largest difference between the
        two samples' quadrant fractions around any point of sample 1 (2).
    """
    a, b = _as_points(sample1), _as_points(sample2)
    queries = np.concatenate([a, b])
    diff = np.abs(_quadrant_fractions(a, queries) - _quadrant_fractions(b, queries)).max(axis=1)
    return float(0.5 * (diff[: len(a)].max() + diff[len(a):].max()))


def ks_2d_direct(sample1, sample2) -> float:
    """The same statistic by direct O(n^2) counting (reference for tests and benchmarks)."""
    a, b = _as_points(sample1), _as_points(sample2)

    def fractions(points, q):
        x, y = points[:, 0][None, :], points[:, 1][None, :]
        qx, qy = q[:, 0][:, None], q[:, 1][:, None]
        return np.stack([((x > qx) & (y > qy)).mean(1), ((x < qx) & (y > qy)).mean(1),
                         ((x > qx) & (y < qy)).mean(1), ((x < qx) & (y < qy)).mean(1)], axis=1)

    d = [np.abs(fractions(a, q) - fractions(b, q)).max() for q in (a, b)]
    return float(0.5 * (d[0] + d[1]))


def bootstrap_interval(score: Callable[..., float], *arrays, n_boot: int = 200, seed: int = 0,
                       level: float = 0.68) -> tuple[float, float, float]:
    """A score and its bootstrap interval, resampling rows of the arrays together.

    Returns
    -------
    value, low, high : float
        The score on the full arrays and the central ``level`` interval of the
        resampled scores.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("bootstrap arrays must have the same length")
    rng = np.random.default_rng(seed)
    values = [score(*[a[idx] for a in arrays]) for idx in (rng.integers(0, n, n) for _ in range(n_boot))]
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(score(*arrays)), float(low), float(high)
