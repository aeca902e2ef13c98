"""Scores of conditional distributions: how close a model's galaxies are to the true ones, halo by halo.

Inputs are draws ``(n_draws, n, 4)`` of the four galaxy properties
(:data:`hgtools.catalogue.TARGETS`) for n test haloes, the true galaxies
``(n, 4)`` and the haloes' log M_h [log10 Msun/h].  A point model is the case
``n_draws = 1`` (its prediction is its only galaxy).

Sample-based scores, for any source:

- :func:`marginal_ks`: 1D KS of every property (all draws pooled);
- :func:`joint_ks`: 2D KS of the study's five Table-1 relations (first draw);
- :func:`conditional_spread`: per M_h bin, the standard deviation of the
  residuals about a common reference mean (the oracle, or a point model on a
  source without one) and the correlations of residual pairs, model against truth.

Scores only a universe that knows its law allows (draws of the truth, its density):

- :func:`calibration`: PIT histograms and the coverage of central 68 % / 95 %
  intervals, per property and per M_h bin;
- :func:`energy_distances`: the conditional energy distance between model and
  true draws per halo, with its noise floor (true draws against independent
  true draws);
- :func:`kl_estimate`: the mean of log p_true - log p_model over true galaxies,
  a Monte Carlo estimate of the expected Kullback-Leibler divergence.

:func:`summary` gathers the worst case of every score into one row per model,
beside the goals of :data:`GOALS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgtools import metrics
from hgtools.catalogue import TARGETS
from hgtools.reference import JOINT_RELATIONS

#: Halo-mass bins of the per-bin scores [log10 Msun/h].
MASS_EDGES = (10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 15.5)
#: Bins with fewer test haloes are left out of the per-bin scores.
MIN_PER_BIN = 1000
#: Interval levels whose coverage is measured.
LEVELS = (0.68, 0.95)
#: What a good conditional density reaches here (the joint-distribution issue's goals), per score of :func:`summary`.
GOALS = {"1D KS, largest": 0.015, "2D KS, largest": 0.02, "coverage error, largest [points]": 2.0,
         "conditional std, largest relative error": 0.10, "residual correlation, largest error": 0.05,
         "energy distance / noise floor": 1.5}


def _check(draws, truth) -> tuple[np.ndarray, np.ndarray]:
    d, t = np.asarray(draws, dtype=float), np.asarray(truth, dtype=float)
    if d.ndim == 2:
        d = d[None]
    if d.ndim != 3 or t.ndim != 2 or d.shape[1:] != t.shape or t.shape[1] != len(TARGETS):
        raise ValueError(f"draws must have shape (n_draws, n, {len(TARGETS)}) and truth (n, {len(TARGETS)}); "
                         f"got {d.shape} and {t.shape}")
    if not (np.isfinite(d).all() and np.isfinite(t).all()):
        raise ValueError("draws and truth must be finite (found NaN or inf)")
    return d, t


def mass_bins(log_mass, edges=MASS_EDGES, min_count: int = MIN_PER_BIN):
    """(label, mask) for each M_h bin with at least ``min_count`` haloes, then ``("all", everything)``."""
    m = np.asarray(log_mass, dtype=float)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (m >= lo) & (m < hi)
        if inside.sum() >= min_count:
            yield f"{lo:g}-{hi:g}", inside
    yield "all", np.ones(len(m), dtype=bool)


def marginal_ks(draws, truth) -> pd.Series:
    """1D KS distance of every property, all draws pooled against the truth."""
    d, t = _check(draws, truth)
    return pd.Series({target: metrics.ks_1d(d[..., j].ravel(), t[:, j]) for j, target in enumerate(TARGETS)},
                     name="1D KS")


def joint_ks(draws, truth, log_mass) -> pd.Series:
    """2D KS distance of the study's Table-1 relations; the first draw against the truth (M_h is the halo's)."""
    d, t = _check(draws, truth)
    m = np.asarray(log_mass, dtype=float)
    columns = {"M_h": (m, m)} | {target: (d[0, :, j], t[:, j]) for j, target in enumerate(TARGETS)}
    return pd.Series({f"{y} vs {x}": metrics.ks_2d(np.column_stack([columns[x][1], columns[y][1]]),
                                                   np.column_stack([columns[x][0], columns[y][0]]))
                      for x, y in JOINT_RELATIONS}, name="2D KS")


def conditional_spread(draws, truth, reference, log_mass, edges=MASS_EDGES,
                       min_count: int = MIN_PER_BIN) -> pd.DataFrame:
    """Per M_h bin: std of residuals about ``reference`` and correlations of residual pairs, model vs truth.

    Parameters
    ----------
    draws, truth : arrays (n_draws, n, 4) and (n, 4)
    reference : array (n, 4)
        A common conditional mean (the oracle where the source has one); the
        model's residuals are its draws minus it, the truth's the true values minus it.
    log_mass : array (n,)

    Returns
    -------
    pandas.DataFrame
        Rows ``(M_h_bin, quantity)`` where quantity is a property (its std) or a
        pair ``a~b`` (the residual correlation); columns ``model``, ``truth``, ``n``.
    """
    d, t = _check(draws, truth)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != t.shape:
        raise ValueError(f"reference must have shape {t.shape}, got {ref.shape}")
    pairs = [(a, b) for i, a in enumerate(TARGETS) for b in TARGETS[i + 1:]]
    rows = []
    for label, inside in mass_bins(log_mass, edges, min_count):
        model_res = (d[:, inside] - ref[inside]).reshape(-1, len(TARGETS))
        true_res = t[inside] - ref[inside]
        for j, target in enumerate(TARGETS):
            rows.append((label, target, model_res[:, j].std(), true_res[:, j].std(), int(inside.sum())))
        cm, ct = np.corrcoef(model_res, rowvar=False), np.corrcoef(true_res, rowvar=False)
        for a, b in pairs:
            i, j = TARGETS.index(a), TARGETS.index(b)
            rows.append((label, f"{a}~{b}", cm[i, j], ct[i, j], int(inside.sum())))
    return pd.DataFrame(rows, columns=["M_h_bin", "quantity", "model", "truth", "n"])


def rank_pit(draws, truth) -> np.ndarray:
    """PIT from ranks, (n, 4): (number of draws below the truth + 1/2) / (n_draws + 1).

    For a model whose draws and the truth are exchangeable, the rank is uniform
    on 0..n_draws, so these values are uniform on a grid of [0, 1] whatever
    the number of draws — unlike interval limits read from the draws' own
    quantiles, which cover too little when there are few draws.
    """
    d, t = _check(draws, truth)
    below = metrics.pit(d, t) * d.shape[0]
    return (below + 0.5) / (d.shape[0] + 1)


def calibration(draws, truth, log_mass, levels=LEVELS, edges=MASS_EDGES, min_count: int = MIN_PER_BIN,
                n_pit_bins: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of central intervals per M_h bin and property, and PIT histograms per property.

    A truth lies in the central ``level`` interval of the model when its
    :func:`rank_pit` is within ``level / 2`` of one half.

    Returns
    -------
    coverage : pandas.DataFrame
        Columns ``M_h_bin, target, level, coverage, n``.
    pit : pandas.DataFrame
        Columns ``target, lo, hi, density`` (density 1 everywhere for a calibrated model).
    """
    values = rank_pit(draws, truth)
    rows = []
    for label, inside in mass_bins(log_mass, edges, min_count):
        for level in levels:
            cover = (np.abs(values[inside] - 0.5) <= level / 2).mean(axis=0)
            rows += [(label, target, level, float(cover[j]), int(inside.sum())) for j, target in enumerate(TARGETS)]
    coverage = pd.DataFrame(rows, columns=["M_h_bin", "target", "level", "coverage", "n"])
    edges_pit = np.linspace(0, 1, n_pit_bins + 1)
    hist = []
    for j, target in enumerate(TARGETS):
        density, _ = np.histogram(values[:, j], bins=edges_pit, density=True)
        hist += [(target, lo, hi, float(v)) for lo, hi, v in zip(edges_pit[:-1], edges_pit[1:], density)]
    return coverage, pd.DataFrame(hist, columns=["target", "lo", "hi", "density"])


def energy_distances(model_draws, true_draws, independent_true_draws, scale) -> dict[str, float]:
    """Mean conditional energy distance, model vs truth and its noise floor (truth vs independent truth).

    All draws (n_draws, n, 4) are divided by ``scale`` (4,) first (e.g. the
    properties' standard deviations) so that every property counts alike.
    """
    s = np.asarray(scale, dtype=float)
    a, b, c = (np.asarray(x, dtype=float) / s for x in (model_draws, true_draws, independent_true_draws))
    model = float(metrics.conditional_energy_distance(a, b).mean())
    floor = float(metrics.conditional_energy_distance(c, b).mean())
    return {"energy distance": model, "noise floor": floor, "ratio": model / floor}


def kl_estimate(model_log_prob, true_log_prob) -> float:
    """Mean of log p_true - log p_model over the true galaxies [nats]: E[KL(p_true || p_model)] per halo."""
    m, t = np.asarray(model_log_prob, dtype=float), np.asarray(true_log_prob, dtype=float)
    if m.shape != t.shape or m.ndim != 1 or not len(m):
        raise ValueError(f"need two log-density arrays of one shape, got {m.shape} and {t.shape}")
    keep = np.isfinite(t)
    return float(np.mean(t[keep] - m[keep]))


def summary(marginal: pd.Series, joint: pd.Series, spread: pd.DataFrame,
            coverage: pd.DataFrame | None = None, energy: dict | None = None, kl: float | None = None) -> pd.Series:
    """The worst case of each score for one model (the keys of :data:`GOALS`, plus the KL estimate)."""
    by_bin = spread[spread["M_h_bin"] != "all"]
    stds = by_bin[by_bin["quantity"].isin(TARGETS)]
    corr = by_bin[~by_bin["quantity"].isin(TARGETS)]
    out = {"1D KS, largest": float(marginal.max()), "2D KS, largest": float(joint.max()),
           "conditional std, largest relative error": float((stds["model"] / stds["truth"] - 1).abs().max()),
           "residual correlation, largest error": float((corr["model"] - corr["truth"]).abs().max())}
    out["coverage error, largest [points]"] = (
        float(100 * (coverage["coverage"] - coverage["level"]).abs().max()) if coverage is not None else np.nan)
    out["energy distance / noise floor"] = energy["ratio"] if energy is not None else np.nan
    out["KL estimate [nats]"] = kl if kl is not None else np.nan
    return pd.Series(out)


__all__ = ["GOALS", "LEVELS", "MASS_EDGES", "MIN_PER_BIN", "calibration", "conditional_spread", "energy_distances",
           "joint_ks", "kl_estimate", "marginal_ks", "mass_bins", "rank_pit", "summary"]
