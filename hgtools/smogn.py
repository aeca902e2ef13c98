"""SMOGN (Branco, Torgo & Ribeiro 2017): over- and under-sampling for imbalanced regression.

``smoter`` takes the arguments and defaults of ``smogn.smoter`` (Kunz 2019,
version 0.1.2), so its users can switch by changing one import, plus ``seed``
and ``compat``:

- ``compat=None`` (default): the algorithm as its authors published it
  (Branco et al. 2017, Algorithm 1): rare bins are only ever over-sampled and
  normal bins only ever under-sampled (a bin already beyond the "balance"
  target keeps its rows); a rare bin of ``k`` rows or fewer has no ``k``
  neighbours to interpolate towards and is kept as it is, never grown by
  copies; neighbours and safe distances use the features; a SMOTER row's
  target is interpolated with the same weight as its features; rare bins keep
  their original rows beside the synthetic ones; a normal bin is under-sampled
  by drawing its own rows.
- ``compat="smogn-0.1.2"``: what the ``smogn`` package observably does,
  bugs included — the distance includes the target; a SMOTER row's target is
  (|y_j| y_i + |y_i| y_j) / (|y_i| + |y_j|) (the package reads an unset, zeroed
  cell as the synthetic target), or y_i + y_j / 2 when |y_i| = |y_j|; in a bin
  where the target is constant, that rule hits the last varying feature
  instead (the package drops constant columns and takes the last one left); rare
  bins return only synthetic rows; every bin is over- or under-sampled to the
  "balance" size, whether rare or normal (a one-row normal bin is filled with
  copies; a rare bin of ``k`` rows or fewer raises); under-sampling a normal bin draws rows of
  the bin and then keeps every *other* row of the whole table; index labels
  are used as positions; synthetic values of any column with a positive value
  in the bin are clipped at 0.

Shared: the relevance function phi (control points ``[value, relevance, slope]``
through a monotone piecewise-cubic Hermite interpolant with smogn's slope
adjustment, phi = 1 below the first point and linear above the last; or
box-plot control points in automatic mode), contiguous rare/normal bins of the
sorted target split where phi crosses ``rel_thres``, ``balance``/``extreme``
sampling factors, and the choice between SMOTER interpolation and Gaussian
noise by the safe distance (half the median distance from a row to all rows
of its bin).  Neighbours come from a KD-tree per bin, the medians are computed
in blocks of rows (never an n x n matrix), and generation is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

COMPAT_MODES = (None, "smogn-0.1.2")

#: The study's settings (k = 7, pert = 0.04, "balance"), per target; manual control points are
#: rows [value, relevance, slope] as published (the colour points are not in increasing order).
STUDY_SETTINGS: dict[str, dict] = {
    "stellar_mass": {"k": 7, "pert": 0.04, "samp_method": "balance", "rel_method": "auto"},
    "sSFR": {"k": 7, "pert": 0.04, "samp_method": "balance", "rel_method": "manual", "rel_thres": 0.2,
             "rel_ctrl_pts_rg": [[-15.68, 1, 1], [-14.5, 0, 1], [-9.0, 1, 1]]},
    "radius": {"k": 7, "pert": 0.04, "samp_method": "balance", "rel_method": "manual", "rel_thres": 0.3,
               "rel_ctrl_pts_rg": [[0.06, 1, 1], [0.32, 0, 1], [0.7, 1, 1], [1.0, 1, 1], [2.1, 0, 1]]},
    "color": {"k": 7, "pert": 0.04, "samp_method": "balance", "rel_method": "manual", "rel_thres": 0.8,
              "rel_ctrl_pts_rg": [[-0.296, 1, 1], [-0.05, 1, 1], [-0.1, 0, 1], [1.14, 1, 1]]},
}


# ---------------------------------------------------------------------------
# relevance
# ---------------------------------------------------------------------------

def box_plot_stats(y: np.ndarray, coef: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Whisker ends, quartiles and median (midpoint quantiles), and the values beyond the whiskers."""
    if coef <= 0:
        raise ValueError("coef must be greater than zero")
    y = np.asarray(y, dtype=float)
    q1, med, q3 = np.quantile(y, [0.25, 0.5, 0.75], method="midpoint")
    iqr = q3 - q1
    low = y[y >= q1 - coef * iqr].min()
    high = y[y <= q3 + coef * iqr].max()
    return np.array([low, q1, med, q3, high]), y[(y < low) | (y > high)]


def control_points(y: np.ndarray, method: str = "auto", xtrm_type: str = "both", coef: float = 1.5,
                   ctrl_pts=None) -> np.ndarray:
    """Relevance control points as rows ``[value, relevance, slope]``, sorted by value.

    ``"auto"``: relevance 1 at the box-plot whisker ends when values lie
    beyond them (on the ``xtrm_type`` side), 0 at the median.  ``"manual"``:
    the user's points, sorted by value (rows ``[x, phi]`` get slopes 0 at the
    ends and the secant slopes in between).
    """
    y = np.asarray(y, dtype=float)
    if method == "auto":
        stats, extremes = box_plot_stats(y, coef)
        pts = []
        if xtrm_type in ("both", "low") and (extremes < stats[0]).any():
            pts.append([stats[0], 1.0, 0.0])
        else:
            pts.append([y.min(), 0.0, 0.0])
        if stats[2] != y.min():
            pts.append([stats[2], 0.0, 0.0])
        if xtrm_type in ("both", "high") and (extremes > stats[4]).any():
            pts.append([stats[4], 1.0, 0.0])
        elif stats[2] != y.max():
            pts.append([y.max(), 0.0, 0.0])
        return np.array(pts, dtype=float)
    if method != "manual":
        raise ValueError(f"rel_method must be 'auto' or 'manual', got {method!r}")
    pts = np.asarray(ctrl_pts, dtype=float)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3) or np.isnan(pts).any():
        raise ValueError("rel_ctrl_pts_rg must be a matrix of rows [x, phi, slope] or [x, phi]")
    if (pts[1:, 1] > 1).any() or (pts[1:, 1] < 0).any():
        raise ValueError("relevance values must lie in [0, 1]")
    pts = pts[np.argsort(pts[:, 0], kind="stable")]  # smogn sorts unordered points
    if pts.shape[1] == 2:
        secant = np.diff(pts[:, 1]) / np.diff(pts[:, 0])
        pts = np.column_stack([pts, np.r_[0.0, secant[:-1], 0.0] if len(pts) > 2 else [0.0, 0.0]])
    return pts


def _monotone_slopes(m: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """smogn's adjustment of the Hermite slopes (Fritsch-Carlson style), applied in order."""
    m = m.astype(float).copy()
    for k in range(len(delta)):
        sk = delta[k]
        if sk == 0:
            m[k] = m[k + 1] = 0.0
            continue
        alpha, beta = m[k] / sk, m[k + 1] / sk
        if m[k] != 0 and alpha < 0:
            m[k] = -m[k]
            alpha = m[k] / sk
        if m[k + 1] != 0 and beta < 0:
            m[k + 1] = -m[k + 1]
            beta = m[k + 1] / sk
        a2b3, ab23 = 2 * alpha + beta - 3, alpha + 2 * beta - 3
        if a2b3 > 0 and ab23 > 0 and alpha * (a2b3 + ab23) < a2b3 * a2b3:
            tau = 3 * sk / np.sqrt(alpha * alpha + beta * beta)
            m[k], m[k + 1] = tau * alpha, tau * beta
    return m


def relevance(y: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """phi(y) from control points (see :func:`control_points`)."""
    y = np.asarray(y, dtype=float)
    x, a = pts[:, 0], pts[:, 1]
    h = np.diff(x)
    delta = np.diff(a) / h
    b = _monotone_slopes(pts[:, 2], delta)
    c = (3 * delta - 2 * b[:-1] - b[1:]) / h
    d = (b[:-1] - 2 * delta + b[1:]) / (h * h)
    i = np.searchsorted(x, y, side="right") - 1
    out = np.ones_like(y)
    last = i == len(x) - 1
    out[last] = a[-1] + b[-1] * (y[last] - x[-1])
    mid = (i >= 0) & ~last
    s = y[mid] - x[i[mid]]
    j = i[mid]
    out[mid] = a[j] + s * (b[j] + s * (c[j] + s * d[j]))
    return out


# ---------------------------------------------------------------------------
# bins and factors
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """How SMOGN will treat a target: its relevance, bins and sampling factors."""

    order: np.ndarray  # row positions sorting the target
    phi: np.ndarray  # relevance of the sorted target
    edges: np.ndarray  # bin boundaries in the sorted order: bin i is order[edges[i]:edges[i+1]]
    factors: np.ndarray  # "balance"/"extreme" factor of each bin (smogn 0.1.2 applies it as it is)
    ctrl_pts: np.ndarray
    rare: np.ndarray  # True for a rare bin (relevance >= the threshold)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.edges)

    def published_factors(self, k: int) -> np.ndarray:
        """The factors the published algorithm applies with ``k`` neighbours.

        Rare bins are only grown and normal bins only shrunk; a rare bin of
        ``k`` rows or fewer cannot be interpolated and is kept (factor 1).
        """
        f = np.where(self.rare, np.maximum(self.factors, 1.0), np.minimum(self.factors, 1.0))
        f[self.rare & (self.sizes <= k)] = 1.0
        return f

    def table(self, y_sorted: np.ndarray, k: int) -> pd.DataFrame:
        """One row per bin: kind, target range, rows before and after the published algorithm."""
        f = self.published_factors(k)
        lo, hi = y_sorted[self.edges[:-1]], y_sorted[self.edges[1:] - 1]
        after = [_rows_after(fi, n) for fi, n in zip(f, self.sizes, strict=True)]
        return pd.DataFrame({"bin": np.arange(len(f)), "kind": np.where(self.rare, "rare", "normal"),
                             "from": lo, "to": hi, "rows": self.sizes, "balance factor": self.factors,
                             "applied factor": f, "rows after": after,
                             "note": ["too few rows to interpolate (kept)" if r and n <= k and b > 1 else ""
                                      for r, n, b in zip(self.rare, self.sizes, self.factors, strict=True)]})

    def changes(self, k: int) -> bool:
        """Whether the published algorithm changes anything (some factor differs from 1)."""
        return bool((self.published_factors(k) != 1).any())


def _rows_after(factor: float, n: int) -> int:
    """Rows a bin of ``n`` holds after over- (originals + synthetic) or under-sampling by ``factor``."""
    if factor > 1:
        return n + int(factor - 1) * n + int(n * (factor - 1 - int(factor - 1)))
    return int(factor * n) if factor < 1 else n


def plan(y: np.ndarray, *, rel_thres: float = 0.5, rel_method: str = "auto", rel_xtrm_type: str = "both",
         rel_coef: float = 1.5, rel_ctrl_pts_rg=None, samp_method: str = "balance") -> Plan:
    """Relevance, bins and per-bin sampling factors for a target, exactly as SMOGN computes them."""
    y = np.asarray(y, dtype=float)
    if not 0 < rel_thres <= 1:
        raise ValueError("rel_thres must be a real number in (0, 1]")
    order = np.argsort(y, kind="stable")
    pts = control_points(y[order], rel_method, rel_xtrm_type, rel_coef, rel_ctrl_pts_rg)
    phi = relevance(y[order], pts)
    if (phi == 0).all():
        raise ValueError("redefine the relevance function: all points have relevance 0")
    if (phi == 1).all():
        raise ValueError("redefine the relevance function: all points have relevance 1")
    rare = phi >= rel_thres
    cuts = np.flatnonzero(rare[1:] != rare[:-1]) + 1
    edges = np.r_[0, cuts, len(y)]
    sizes = np.diff(edges)
    n_bins = len(sizes)
    b = round(len(y) / n_bins)
    if samp_method == "balance":
        factors = b / sizes
    elif samp_method == "extreme":
        scale = n_bins * b / np.sum(b**2 / sizes)
        obj = np.round(b**2 / sizes * scale, 2)
        factors = np.round(obj / sizes, 1)
    else:
        raise ValueError(f"samp_method must be 'balance' or 'extreme', got {samp_method!r}")
    return Plan(order, phi, edges, factors, pts, rare[edges[:-1]])


# ---------------------------------------------------------------------------
# over-sampling one bin
# ---------------------------------------------------------------------------

def half_median_distances(points: np.ndarray, block: int = 256) -> np.ndarray:
    """Half the median Euclidean distance from each row to all rows (itself included), in blocks."""
    out = np.empty(len(points))
    sq = np.einsum("ij,ij->i", points, points)
    for lo in range(0, len(points), block):
        p = points[lo:lo + block]
        d2 = np.maximum(sq[lo:lo + block, None] + sq[None, :] - 2.0 * p @ points.T, 0.0)
        out[lo:lo + block] = 0.5 * np.sqrt(np.median(d2, axis=1))
    return out


@dataclass(frozen=True)
class Synthetic:
    """Synthetic rows of one bin, with where each came from (for white-box checks)."""

    X: np.ndarray
    y: np.ndarray
    smoter: np.ndarray  # True: SMOTER interpolation; False: Gaussian noise
    source: np.ndarray  # row (in the bin) each synthetic row was made from
    neighbour: np.ndarray  # the neighbour it was paired with


def oversample_bin(X: np.ndarray, y: np.ndarray, perc: float, k: int, pert: float,
                   rng: np.random.Generator, compat: str | None = None) -> Synthetic:
    """Synthetic rows for one rare bin.

    Every row makes ``int(perc - 1)`` synthetic rows and ``int(n (perc - 1 -
    int(perc - 1)))`` rows drawn without replacement make one more.  Each
    picks one of its ``k`` nearest neighbours at random (the bin needs more
    than ``k`` rows): SMOTER interpolation if the neighbour is closer than the
    safe distance, else Gaussian noise of ``min(pert, safe distance)`` times
    each column's standard deviation.

    Returns
    -------
    Synthetic
    """
    n = len(y)
    if k >= n:
        raise ValueError(f"k = {k} neighbours need more than {k} rows in every over-sampled bin (this one has {n})")
    Z = np.column_stack([X, y])
    space = Z if compat else X
    _, nn = cKDTree(space).query(space, k=k + 1)
    nn = nn[:, 1:].reshape(n, k)
    safe_d = half_median_distances(space)
    per_row = int(perc - 1)
    extra = int(n * (perc - 1 - per_row))
    source = np.r_[np.repeat(np.arange(n), per_row), rng.choice(n, size=extra, replace=False)]
    neighbour = nn[source, rng.integers(0, k, size=source.size)]
    dist = np.linalg.norm(space[source] - space[neighbour], axis=1)
    smoter_rows = dist < safe_d[source]
    u = rng.random(source.size)[:, None]
    zi, zj = Z[source], Z[neighbour]
    Z_smoter = zi + u * (zj - zi)  # the published rule: every column, target included, on the segment
    if compat:
        # smogn drops the bin's constant columns and treats the last remaining one as the target:
        # its synthetic value is a weighted mean whose weights read an unset (zero) cell
        varying = np.flatnonzero((Z != Z[0]).any(axis=0))
        if varying.size == 0:
            raise ValueError("every column is constant in a rare bin")
        t = varying[-1]
        ai, aj = np.abs(zi[:, t]), np.abs(zj[:, t])
        with np.errstate(invalid="ignore", divide="ignore"):
            Z_smoter[:, t] = np.where(ai == aj, zi[:, t] + zj[:, t] / 2.0, (aj * zi[:, t] + ai * zj[:, t]) / (ai + aj))
    ddof = 0 if compat else 1
    scale = np.minimum(pert, safe_d[source])[:, None]
    spread = Z.std(axis=0, ddof=ddof)
    Z_noise = zi + rng.standard_normal(zi.shape) * spread * scale
    Z_new = np.where(smoter_rows[:, None], Z_smoter, Z_noise)
    if compat:  # smogn clips every column that has a positive value in the bin
        positive = (Z > 0).any(axis=0)
        Z_new[:, positive] = np.maximum(Z_new[:, positive], 0.0)
    X_new, y_new = Z_new[:, :-1], Z_new[:, -1]
    return Synthetic(X_new, y_new, smoter_rows, source, neighbour)


# ---------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------

def smoter(data: pd.DataFrame, y: str, *, k: int = 5, pert: float = 0.02, samp_method: str = "balance",
           under_samp: bool = True, drop_na_col: bool = True, drop_na_row: bool = True, replace: bool = False,
           rel_thres: float = 0.5, rel_method: str = "auto", rel_xtrm_type: str = "both", rel_coef: float = 1.5,
           rel_ctrl_pts_rg=None, seed: int | None = None, compat: str | None = None) -> pd.DataFrame:
    """Augment a table for imbalanced regression of column ``y`` with SMOGN.

    Same arguments and defaults as ``smogn.smoter`` 0.1.2, plus ``seed``
    (every random draw) and ``compat`` (``None`` for the published algorithm,
    ``"smogn-0.1.2"`` for the package's behaviour; see the module docstring).
    Numeric columns only.

    Returns
    -------
    pandas.DataFrame
        The augmented table, columns and dtypes as the input, a new RangeIndex.
    """
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    if not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    if not isinstance(y, str) or y not in data.columns:
        raise ValueError(f"y must name a column of data, got {y!r}")
    if drop_na_col:
        nan_columns = [c for c in data.columns if data[c].isnull().any()]
        if y in nan_columns:
            raise ValueError(f"the target {y!r} has {int(data[y].isnull().sum())} NaN value(s)")
        if nan_columns:
            raise ValueError(f"feature column(s) {', '.join(map(str, nan_columns))} hold NaN values; smogn 0.1.2 "
                             "would silently drop them: clean the table first, or pass drop_na_col=False, "
                             "drop_na_row=True to drop the rows")
    if drop_na_row:
        data = data.dropna(axis=0)
    if data.isnull().values.any():
        raise ValueError("data cannot contain NaN values")
    if len(data) == 0:
        raise ValueError("data has no rows")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (neighbours), got {k!r}")
    if k > len(data):
        raise ValueError("k is greater than the number of rows")
    if not 0 < pert <= 1:
        raise ValueError("pert must be a real number in (0, 1]")
    non_numeric = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
    if non_numeric:
        raise ValueError(f"only numeric columns are supported; not numeric: {non_numeric}")
    infinite = [c for c in data.columns if not np.isfinite(data[c].to_numpy(dtype=float)).all()]
    if infinite:
        raise ValueError(f"column(s) {', '.join(map(str, infinite))} hold infinite values")
    rng = np.random.default_rng(seed)
    features = [c for c in data.columns if c != y]
    X_all = data[features].to_numpy(dtype=float)
    y_all = data[y].to_numpy(dtype=float)
    p = plan(y_all, rel_thres=rel_thres, rel_method=rel_method, rel_xtrm_type=rel_xtrm_type,
             rel_coef=rel_coef, rel_ctrl_pts_rg=rel_ctrl_pts_rg, samp_method=samp_method)
    labels = data.index.to_numpy()
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for i, factor in enumerate(p.factors if compat else p.published_factors(k)):
        members = p.order[p.edges[i]:p.edges[i + 1]]  # row positions of the bin
        if compat:
            members = _labels_as_positions(labels[members], len(data))
        if factor == 1:
            pieces.append((X_all[members], y_all[members]))
        elif factor > 1:
            synthetic = oversample_bin(X_all[members], y_all[members], factor, k, pert, rng, compat)
            pieces.append((synthetic.X, synthetic.y))
            if not compat:
                pieces.append((X_all[members], y_all[members]))
        elif under_samp:
            size = int(factor * len(members))
            if compat:  # the drawn rows are removed from the whole table, which is kept
                drawn = rng.choice(labels[p.order[p.edges[i]:p.edges[i + 1]]], size=size, replace=replace)
                keep = ~np.isin(labels, drawn)
                pieces.append((X_all[keep], y_all[keep]))
            else:
                chosen = rng.choice(members, size=size, replace=replace)
                pieces.append((X_all[chosen], y_all[chosen]))
        elif not compat:
            pieces.append((X_all[members], y_all[members]))
    X_out = np.concatenate([x for x, _ in pieces])
    y_out = np.concatenate([t for _, t in pieces])
    out = pd.DataFrame(X_out, columns=features)
    out[y] = y_out
    return out[list(data.columns)].astype(data.dtypes.to_dict())


def _labels_as_positions(labels: np.ndarray, n: int) -> np.ndarray:
    """smogn 0.1.2 passes index labels to ``iloc``: they act as positions (and fail past the end)."""
    positions = labels.astype(np.int64)
    if (positions != labels).any() or (positions < -n).any() or (positions >= n).any():
        raise IndexError("smogn-0.1.2 uses index labels as positions: labels must be integers in "
                         f"[{-n}, {n}) (reset the index)")
    return positions
