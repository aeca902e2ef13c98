"""Scores of predictions: MSE, Pearson r, 1D and 2D Kolmogorov-Smirnov, bootstrap intervals.

:func:`ks_2d` is the two-sample statistic of Fasano & Franceschini (1987) as
the study computed it: around every point of either sample, the fractions of
each sample in the four quadrants (strict inequalities; points on a quadrant's
lines count in none) are compared; D is the mean of the two maxima taken over
the points of each sample.  It is exact and runs in O(n log n) (a wavelet
matrix over the ranks, :class:`_DominanceCounter`) instead of the direct
O(n^2), so it can use every galaxy of the test set.
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


class _DominanceCounter:
    """Counts, for many queries, the points whose x-rank and y-rank are both below the query's.

    The points, ordered by x-rank, are stored in a wavelet matrix over their
    y-ranks: one level per bit of the rank, each a stable partition of the
    sequence by that bit with the running count of zeros.  "x-rank < tx" is a
    prefix of the sequence; walking down the levels, a query adds the members
    of its prefix whose y-rank has a 0 where ``ty`` has a 1 (they are smaller),
    then follows the side of ``ty``.  Building takes O(n log n) and each query
    O(log n), in NumPy vector operations over all queries at once.
    """

    def __init__(self, px: np.ndarray, py: np.ndarray, n_ranks: int):
        order = np.argsort(px, kind="stable")
        #: points with x-rank < r, for every r in 0..n_ranks
        index = np.int32 if 2 * n_ranks < np.iinfo(np.int32).max else np.int64  # half the memory traffic
        self.below_x = np.concatenate([[0], np.cumsum(np.bincount(px, minlength=n_ranks))]).astype(index)
        sequence = py[order].astype(index)
        self.n_bits = max(1, int(n_ranks).bit_length())
        self.levels = []
        for level in range(self.n_bits - 1, -1, -1):
            bits = (sequence >> level) & 1
            zeros = np.concatenate([[0], np.cumsum(1 - bits)]).astype(index)
            self.levels.append((level, zeros, int(zeros[-1])))
            sequence = np.concatenate([sequence[bits == 0], sequence[bits == 1]])

    def count(self, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
        """For each query j, the number of points with x-rank < tx[j] and y-rank < ty[j] (ranks <= n_ranks)."""
        end = self.below_x[tx]
        start = np.zeros_like(end)
        counts = np.zeros_like(end)
        ty = ty.astype(end.dtype)
        for level, zeros, n_zeros in self.levels:
            z_start, z_end = zeros[start], zeros[end]
            one = (ty >> level) & 1  # 1: the points with a 0 here are below ty
            # one: counts += zeros in [start, end), then go to the ones' side; zero: go to the zeros' side
            counts += one * (z_end - z_start)
            start = z_start + one * (n_zeros + start - 2 * z_start)
            end = z_end + one * (n_zeros + end - 2 * z_end)
        return counts


def _quadrant_fractions(px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray,
                        n_ranks: int) -> np.ndarray:
    """Fractions of the points strictly in each quadrant around each query: (q, 4) as (++, -+, +-, --).

    Points and queries are given by their ranks among all values of both
    samples, so ``x < qx`` is ``px < qx`` and ``x <= qx`` is ``px < qx + 1``.
    """
    n = len(px)
    counter = _DominanceCounter(px, py, n_ranks)
    below_y = np.concatenate([[0], np.cumsum(np.bincount(py, minlength=n_ranks))])
    queries = len(qx)
    # the four corner counts in one pass: (x <, y <), (x <, y <=), (x <=, y <), (x <=, y <=)
    corners = counter.count(np.concatenate([qx, qx, qx + 1, qx + 1]),
                            np.concatenate([qy, qy + 1, qy, qy + 1])).reshape(4, queries)
    ll, l_le, le_l, le_le = corners
    n_x_lt, n_x_le = counter.below_x[qx], counter.below_x[qx + 1]
    n_y_lt, n_y_le = below_y[qy], below_y[qy + 1]
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
    """Two-sample 2D Kolmogorov-Smirnov statistic of Fasano & Franceschini, exact, in O(n log n).

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
    both = np.concatenate([a, b])
    # ranks among all values of both samples (equal values share a rank)
    rx = np.unique(both[:, 0], return_inverse=True)[1].ravel().astype(np.int64)
    ry = np.unique(both[:, 1], return_inverse=True)[1].ravel().astype(np.int64)
    n_ranks = int(max(rx.max(), ry.max())) + 2
    na = len(a)
    fa = _quadrant_fractions(rx[:na], ry[:na], rx, ry, n_ranks)
    fb = _quadrant_fractions(rx[na:], ry[na:], rx, ry, n_ranks)
    diff = np.abs(fa - fb).max(axis=1)
    return float(0.5 * (diff[:na].max() + diff[na:].max()))


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


# ---------------------------------------------------------------------------
# scores of conditional distributions (draws of galaxies for the same haloes)
# ---------------------------------------------------------------------------

def _draws(samples, truth) -> tuple[np.ndarray, np.ndarray]:
    """(n_draws, n, d) draws and (n, d) truths as floats, with a clear error for mismatched shapes."""
    s, t = np.asarray(samples, dtype=float), np.asarray(truth, dtype=float)
    if s.ndim == 2:
        s = s[:, :, None]
    if t.ndim == 1:
        t = t[:, None]
    if s.ndim != 3 or t.ndim != 2 or s.shape[1:] != t.shape:
        raise ValueError(f"draws must have shape (n_draws, n, d) and truths (n, d); got {s.shape} and {t.shape}")
    if s.shape[0] < 2 or t.shape[0] == 0:
        raise ValueError("need at least two draws per object and at least one object")
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise ValueError("draws and truths must be finite (found NaN or inf)")
    return s, t


def pit(samples, truth) -> np.ndarray:
    """Probability integral transform: for each object and property, the fraction of draws below the truth.

    Ties count one half.  For a calibrated model the values are uniform on
    [0, 1]: a U-shaped histogram means draws too narrow, a peak too wide.

    Parameters
    ----------
    samples : array_like, shape (n_draws, n) or (n_draws, n, d)
        Draws of the model for each object.
    truth : array_like, shape (n,) or (n, d)

    Returns
    -------
    numpy.ndarray, shape (n, d)
    """
    s, t = _draws(samples, truth)
    return ((s < t).sum(axis=0) + 0.5 * (s == t).sum(axis=0)) / s.shape[0]


def coverage(samples, truth, level: float = 0.68) -> np.ndarray:
    """Fraction of truths inside the central ``level`` interval of the draws, per property (shape (d,))."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    s, t = _draws(samples, truth)
    low, high = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return ((t >= low) & (t <= high)).mean(axis=0)


def energy_distance(sample1, sample2) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples of vectors (V-statistic).

    Zero if and only if the two distributions are equal (Székely & Rizzo 2013);
    in the units of the vectors.  Samples of shape (n, d) or (n,).
    """
    from scipy.spatial.distance import cdist

    a, b = (np.asarray(x, dtype=float) for x in (sample1, sample2))
    a, b = (x[:, None] if x.ndim == 1 else x for x in (a, b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"need two non-empty samples of vectors of one dimension, got {a.shape} and {b.shape}")
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def conditional_energy_distance(samples1, samples2) -> np.ndarray:
    """Energy distance between two sets of draws for each object: (n_draws1, n, d) and (n_draws2, n, d) → (n,).

    With ``samples2`` drawn from the true conditional law, its mean over
    objects says how far a model's conditional distributions are from the
    truth, halo by halo; two independent sets of true draws give its noise floor.
    """
    s1, s2 = (np.asarray(x, dtype=float) for x in (samples1, samples2))
    s1, s2 = (x[:, :, None] if x.ndim == 2 else x for x in (s1, s2))
    if s1.ndim != 3 or s2.ndim != 3 or s1.shape[1:] != s2.shape[1:]:
        raise ValueError(f"draws must have shapes (n_draws, n, d) with the same n and d; got {s1.shape}, {s2.shape}")
    return np.array([energy_distance(s1[:, i], s2[:, i]) for i in range(s1.shape[1])])
