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
  source without one) and the correlations of residual pairs, model against truth;
- :func:`spread_decomposition`: per M_h bin, a model's spread about that
  reference split into its width at fixed halo and the error of its halo means.

Scores only a universe that knows its law allows (draws of the truth, its density):

- :func:`calibration`: PIT histograms and the coverage of central 68 % / 95 %
  intervals, per property and per M_h bin;
- the per-bin scores above and :func:`calibration` measured against many
  draws of the true law per halo instead of the one true galaxy (``truth`` of
  shape (k, n, 4)): the same quantities with the noise of the finite test
  split mostly taken out, so that what remains is the model's own error;
- :func:`sample_noise`: how far from the law's own the per-bin spread
  scores of one galaxy per halo drawn from the law fall — for the haloes of a
  training split, how precisely its galaxies fix each bin's scatter and correlations;
- :func:`energy_distances` (:func:`mean_energy_distance`): the conditional
  energy distance between model and true draws per halo, with its noise floor
  (true draws against independent true draws);
- :func:`kl_estimate`: the mean of log p_true - log p_model over true galaxies,
  a Monte Carlo estimate of the expected Kullback-Leibler divergence.

:func:`summary` gathers the worst case of every score into one row per model,
beside the goals of :data:`GOALS`; :func:`worst_cases` says in which M_h bin
and for which property each per-bin score is worst.
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
#: The per-bin scores measured against draws of the true law (:func:`summary`'s ``law``), and their goals.
VS_LAW = {"conditional std, largest relative error": "conditional std vs law, largest relative error",
          "residual correlation, largest error": "residual correlation vs law, largest error",
          "coverage error, largest [points]": "coverage vs law, largest error [points]"}
GOALS |= {VS_LAW[score]: GOALS[score] for score in VS_LAW}


def _check(draws, truth, log_mass=None, *, name: str = "truth",
           truth_draws: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``draws`` as (n_draws, n, 4) and ``truth`` as (n, 4), both finite (``name``: truth's name in errors).

    With ``truth_draws``, ``truth`` may also be draws of the true law (k, n, 4),
    and comes back as (k, n, 4) either way.  ``log_mass``, when given, must
    hold one finite M_h per halo.
    """
    d, t = np.asarray(draws, dtype=float), np.asarray(truth, dtype=float)
    if d.ndim == 2:
        d = d[None]
    if truth_draws and t.ndim == 2:
        t = t[None]
    if d.ndim != 3 or t.ndim != 2 + truth_draws or d.shape[1:] != t.shape[-2:] or d.shape[2] != len(TARGETS):
        wanted = f"(n, {len(TARGETS)})" + (f" or true draws (k, n, {len(TARGETS)})" if truth_draws else "")
        raise ValueError(f"draws must have shape (n_draws, n, {len(TARGETS)}) and {name} {wanted}; "
                         f"got {d.shape} and {t.shape}")
    if not (np.isfinite(d).all() and np.isfinite(t).all()):
        raise ValueError(f"draws and {name} must be finite (found NaN or inf)")
    if log_mass is not None:
        m = np.asarray(log_mass, dtype=float)
        if m.shape != (d.shape[1],) or not np.isfinite(m).all():
            raise ValueError(f"log_mass must hold one finite M_h per halo, shape ({d.shape[1]},); "
                             f"got shape {m.shape}{'' if np.isfinite(m).all() else ' with NaN or inf'}")
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
    d, t = _check(draws, truth, log_mass)
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
    draws : array (n_draws, n, 4)
    truth : array (n, 4), or (k, n, 4) draws of the true law (pooled)
    reference : array (n, 4)
        A common conditional mean (the oracle where the source has one); the
        model's residuals are its draws minus it, the truth's the true values minus it.
    log_mass : array (n,)

    Returns
    -------
    pandas.DataFrame
        Rows ``(M_h_bin, quantity)`` where quantity is a property (its std) or a
        pair ``a~b`` (the residual correlation); columns ``value`` (the model's),
        ``truth`` and ``n`` (haloes in the bin).
    """
    d, t = _check(draws, truth, log_mass, truth_draws=True)
    _, ref = _check(d, reference, name="reference")
    pairs = [(a, b) for i, a in enumerate(TARGETS) for b in TARGETS[i + 1:]]
    rows = []
    for label, inside in mass_bins(log_mass, edges, min_count):
        model_res = (d[:, inside] - ref[inside]).reshape(-1, len(TARGETS))
        true_res = (t[:, inside] - ref[inside]).reshape(-1, len(TARGETS))
        for j, target in enumerate(TARGETS):
            rows.append((label, target, model_res[:, j].std(), true_res[:, j].std(), int(inside.sum())))
        with np.errstate(invalid="ignore", divide="ignore"):  # a point model's residuals may have no spread
            cm, ct = np.corrcoef(model_res, rowvar=False), np.corrcoef(true_res, rowvar=False)
        for a, b in pairs:
            i, j = TARGETS.index(a), TARGETS.index(b)
            rows.append((label, f"{a}~{b}", cm[i, j], ct[i, j], int(inside.sum())))
    return pd.DataFrame(rows, columns=["M_h_bin", "quantity", "value", "truth", "n"])


def spread_decomposition(draws, reference, log_mass, edges=MASS_EDGES,
                         min_count: int = MIN_PER_BIN) -> pd.DataFrame:
    """Per M_h bin and property: a model's spread about ``reference``, as its width at fixed halo and its means' error.

    For halo i with draws d_ij (j = 1..n_draws): the width at fixed halo is
    the root mean, over the bin's haloes, of the draws' variance (ddof 1); the
    error of the halo means is the rms over haloes of mean_j d_ij - reference_i,
    with the draws' own noise (width^2 / n_draws) taken out in quadrature (0
    where that noise accounts for all of it).  A model with the truth's width
    and the true conditional means as ``reference`` gives the truth's width
    and 0; a model too wide in :func:`conditional_spread` is too wide at fixed
    halo, off in its means, or both.

    Parameters
    ----------
    draws : array (n_draws, n, 4), n_draws >= 2
    reference : array (n, 4)
        The true conditional means where the source has them (the oracle).
    log_mass : array (n,)

    Returns
    -------
    pandas.DataFrame
        Rows ``(M_h_bin, property)``; columns ``width at fixed halo``,
        ``halo-mean error (rms)`` (both in the property's units) and ``n``.
    """
    d, ref = _check(draws, reference, log_mass, name="reference")
    if d.shape[0] < 2:
        raise ValueError(f"the spread at fixed halo needs at least 2 draws per halo, got {d.shape[0]}")
    variance = d.var(axis=0, ddof=1)  # (n, 4)
    offset = d.mean(axis=0) - ref
    rows = []
    for label, inside in mass_bins(log_mass, edges, min_count):
        width2 = variance[inside].mean(axis=0)
        error2 = (offset[inside] ** 2).mean(axis=0) - width2 / d.shape[0]
        for j, target in enumerate(TARGETS):
            rows.append((label, target, np.sqrt(width2[j]), np.sqrt(max(error2[j], 0.0)), int(inside.sum())))
    return pd.DataFrame(rows, columns=["M_h_bin", "property", "width at fixed halo", "halo-mean error (rms)", "n"])


def rank_pit(draws, truth) -> np.ndarray:
    """PIT from ranks, (n, 4): (number of draws below the truth + 1/2) / (n_draws + 1).

    For a model whose draws and the truth are exchangeable, the rank is uniform
    on 0..n_draws, so these values are uniform on a grid of [0, 1] whatever
    the number of draws — unlike interval limits read from the draws' own
    quantiles, which cover too little when there are few draws.
    """
    return _rank_pit(*_check(draws, truth))


def _rank_pit(d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """:func:`rank_pit` of draws and truth already checked (:func:`_check`)."""
    below = metrics.pit(d, t) * d.shape[0]
    return (below + 0.5) / (d.shape[0] + 1)


def _cell_share(pit_values: np.ndarray, n_draws: int, lo: float, hi: float) -> np.ndarray:
    """Share of each truth's rank cell [r, r + 1] / (n_draws + 1) inside [lo, hi].

    Spreading each truth uniformly over its cell (the expectation of the
    randomised PIT) makes the coverage and the PIT histogram of a calibrated
    model exact for any number of draws and any bins, instead of off by the
    grid's rounding (two points for a 68 % interval from 39 draws).
    """
    width = 1.0 / (n_draws + 1)
    start = pit_values - width / 2
    return np.clip(np.minimum(start + width, hi) - np.maximum(start, lo), 0, None) / width


def calibration(draws, truth, log_mass, levels=LEVELS, edges=MASS_EDGES, min_count: int = MIN_PER_BIN,
                n_pit_bins: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of central intervals per M_h bin and property, and PIT histograms per property.

    A truth lies in the central ``level`` interval of the model when its
    :func:`rank_pit` is within ``level / 2`` of one half (counted as the share
    of its rank cell that is, :func:`_cell_share`).  ``truth`` is the true
    galaxies (n, 4) or k draws of the true law per halo (k, n, 4), whose
    shares are averaged: the expected coverage of each halo's intervals under
    the true law, without most of the noise of one galaxy per halo.

    Returns
    -------
    coverage : pandas.DataFrame
        Columns ``M_h_bin, target, level, coverage, n``.
    pit : pandas.DataFrame
        Columns ``target, lo, hi, density`` (density 1 everywhere for a calibrated model).
    """
    d, t = _check(draws, truth, log_mass, truth_draws=True)
    values, n_draws = np.stack([_rank_pit(d, one) for one in t]), d.shape[0]  # (k, n, 4)

    def share(lo, hi):  # (n, 4): the share of each halo's truths inside [lo, hi]
        return _cell_share(values, n_draws, lo, hi).mean(axis=0)

    inside_level = {level: share(0.5 - level / 2, 0.5 + level / 2) for level in levels}
    rows = []
    for label, inside in mass_bins(log_mass, edges, min_count):
        for level in levels:
            cover = inside_level[level][inside].mean(axis=0)
            rows += [(label, target, level, float(cover[j]), int(inside.sum())) for j, target in enumerate(TARGETS)]
    coverage = pd.DataFrame(rows, columns=["M_h_bin", "target", "level", "coverage", "n"])
    edges_pit = np.linspace(0, 1, n_pit_bins + 1)
    hist = []
    for lo, hi in zip(edges_pit[:-1], edges_pit[1:]):
        density = share(lo, hi).mean(axis=0) / (hi - lo)
        hist += [(target, lo, hi, float(density[j])) for j, target in enumerate(TARGETS)]
    pit = pd.DataFrame(hist, columns=["target", "lo", "hi", "density"]).sort_values(["target", "lo"], kind="stable")
    return coverage, pit.reset_index(drop=True)


def mean_energy_distance(draws1, draws2, scale) -> float:
    """Mean over objects of the conditional energy distance between two sets of draws (n_draws, n, 4).

    The draws are divided by ``scale`` (4,) first (e.g. the properties'
    standard deviations) so that every property counts alike.
    """
    s = np.asarray(scale, dtype=float)
    return float(metrics.conditional_energy_distance(np.asarray(draws1, float) / s, np.asarray(draws2, float) / s).mean())


def energy_distances(model_draws, true_draws, independent_true_draws, scale,
                     floor: float | None = None) -> dict[str, float]:
    """Mean conditional energy distance, model vs truth and its noise floor (truth vs independent truth).

    ``floor``, when given (measured once for several models), is used instead
    of measuring it from ``independent_true_draws`` (which may then be None).
    """
    model = mean_energy_distance(model_draws, true_draws, scale)
    if floor is None:
        floor = mean_energy_distance(independent_true_draws, true_draws, scale)
    return {"energy distance": model, "noise floor": floor, "ratio": model / floor}


def kl_estimate(model_log_prob, true_log_prob) -> float:
    """Mean of log p_true - log p_model over the true galaxies [nats]: E[KL(p_true || p_model)] per halo."""
    m, t = np.asarray(model_log_prob, dtype=float), np.asarray(true_log_prob, dtype=float)
    if m.shape != t.shape or m.ndim != 1 or not len(m):
        raise ValueError(f"need two log-density arrays of one shape, got {m.shape} and {t.shape}")
    keep = np.isfinite(t)
    return float(np.mean(t[keep] - m[keep]))


#: The per-bin scores of :func:`conditional_spread`'s table: the standard deviations' and the correlations'.
SPREAD_SCORES = ("conditional std, largest relative error", "residual correlation, largest error")


def _spread_errors(spread: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """Each row's score (of :data:`SPREAD_SCORES`) and error: |value / truth - 1| for a std, |value - truth| else."""
    std = spread["quantity"].isin(TARGETS).to_numpy()
    error = ((spread["value"] / spread["truth"] - 1).where(std, spread["value"] - spread["truth"])).abs()
    return np.where(std, SPREAD_SCORES[0], SPREAD_SCORES[1]), error


def bin_errors(spread: pd.DataFrame) -> pd.DataFrame:
    """Per M_h bin of :func:`conditional_spread`'s table: the largest error of each of :data:`SPREAD_SCORES`.

    Returns
    -------
    pandas.DataFrame
        Columns ``M_h_bin``, ``score``, ``error``, ``quantity`` (the property
        or pair behind it) and ``n`` (haloes), in the table's order of bins.
    """
    score, error = _spread_errors(spread)
    rows = spread.assign(score=score, error=error.to_numpy()).dropna(subset=["error"])  # NaN: a pair without spread
    rows = rows.loc[rows.groupby(["M_h_bin", "score"], sort=False)["error"].idxmax()]
    return rows[["M_h_bin", "score", "error", "quantity", "n"]].reset_index(drop=True)


def sample_noise(samples, truth, reference, log_mass, edges=MASS_EDGES, min_count: int = MIN_PER_BIN,
                 quantiles: tuple[float, ...] = (0.5, 0.9)) -> pd.DataFrame:
    """How far the per-bin spread scores of one galaxy per halo drawn from the true law fall from the law's.

    Each of the K sets of ``samples`` is scored as a model with one draw per
    halo (:func:`conditional_spread` against ``truth``, :func:`bin_errors`): a
    perfect model's galaxies, whose errors come from their finite number
    alone.  Given the haloes of a training split, it says how precisely the
    training galaxies themselves fix each bin's scatter and correlations:
    a model that learned a bin from its training galaxies alone would be
    about this far off (one borrowing from neighbouring masses can do better).

    Parameters
    ----------
    samples : array (K, n, 4)
        K independent sets of one galaxy per halo drawn from the true law.
    truth : array (k, n, 4)
        Other draws of the true law (or (n, 4) galaxies) to score against.
    reference : array (n, 4)
        The true conditional means.
    log_mass : array (n,)

    Returns
    -------
    pandas.DataFrame
        Rows ``(M_h_bin, score)``; columns ``n`` (haloes) and the quantiles
        over the K sets of the bin's largest error (``"p50"``, ``"p90"``, ...).
    """
    s, t = _check(samples, truth, log_mass, truth_draws=True)
    law = conditional_spread(t, t[0], reference, log_mass, edges, min_count)["value"].to_numpy()  # once, not per set
    errors = pd.concat([bin_errors(conditional_spread(s[k], s[k], reference, log_mass, edges, min_count)
                                   .assign(truth=law)).assign(set=k) for k in range(len(s))], ignore_index=True)
    grouped = errors.groupby(["M_h_bin", "score"], sort=False)
    out = grouped.agg(n=("n", "first"))
    for q in quantiles:
        out[f"p{100 * q:g}"] = grouped["error"].quantile(q)
    return out


def worst_cases(spread: pd.DataFrame, coverage: pd.DataFrame | None = None, model: str | None = None) -> pd.DataFrame:
    """Where each per-bin score of one model is worst: the M_h bin and the property (or pair) behind it.

    The spread scores are taken over M_h bins (over all haloes when no bin is
    full enough), the coverage over every row of ``coverage``.  With
    ``model``, the tables are long tables of several models (a ``model``
    column, as :func:`hgtools.sampling.score_tables` gives) and its rows are used.

    Returns
    -------
    pandas.DataFrame
        Index: the scores (keys of :data:`GOALS`); columns ``error`` (the
        score), ``M_h_bin``, ``quantity``, ``value`` (the model's), ``truth``
        (the true value, or the interval's level) and ``n`` (haloes).
    """
    if model is not None:
        spread = spread[spread["model"] == model]
        coverage = None if coverage is None else coverage[coverage["model"] == model]
    by_bin = spread[spread["M_h_bin"] != "all"]
    if by_bin.empty:
        by_bin = spread
    score, error = _spread_errors(by_bin)
    cases = {name: (by_bin[score == name], error[score == name]) for name in SPREAD_SCORES}
    if coverage is not None:
        named = coverage.rename(columns={"target": "quantity", "coverage": "value", "level": "truth"})
        cases["coverage error, largest [points]"] = (named, 100 * (named["value"] - named["truth"]).abs())
    rows = {}
    for score, (table, error) in cases.items():
        if not error.notna().any():  # e.g. correlations of residuals without spread
            rows[score] = {"error": np.nan}
            continue
        row = table.loc[error.idxmax()]
        rows[score] = {"error": float(error.max()), "M_h_bin": row["M_h_bin"],
                       "quantity": row["quantity"], "value": float(row["value"]), "truth": float(row["truth"]),
                       "n": int(row["n"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def summary(marginal: pd.Series, joint: pd.Series, spread: pd.DataFrame,
            coverage: pd.DataFrame | None = None, energy: dict | None = None, kl: float | None = None,
            law: tuple[pd.DataFrame, pd.DataFrame | None] | None = None) -> pd.Series:
    """The worst case of each score for one model (the keys of :data:`GOALS`, plus the KL estimate).

    The per-bin scores are those of :func:`worst_cases`; ``law`` holds the
    spread and coverage tables measured against draws of the true law
    (:data:`VS_LAW` names their scores; NaN without them).
    """
    worst = worst_cases(spread, coverage)["error"]
    out = {"1D KS, largest": float(marginal.max()), "2D KS, largest": float(joint.max()),
           "conditional std, largest relative error": worst["conditional std, largest relative error"],
           "residual correlation, largest error": worst["residual correlation, largest error"]}
    out["coverage error, largest [points]"] = worst.get("coverage error, largest [points]", np.nan)
    out["energy distance / noise floor"] = energy["ratio"] if energy is not None else np.nan
    out["KL estimate [nats]"] = kl if kl is not None else np.nan
    vs_law = worst_cases(*law)["error"] if law is not None else pd.Series(dtype=float)
    for score, name in VS_LAW.items():
        out[name] = vs_law.get(score, np.nan)
    return pd.Series(out)


__all__ = ["GOALS", "LEVELS", "MASS_EDGES", "MIN_PER_BIN", "SPREAD_SCORES", "VS_LAW", "bin_errors", "calibration",
           "conditional_spread", "energy_distances", "joint_ks", "kl_estimate", "marginal_ks", "mass_bins",
           "mean_energy_distance", "rank_pit", "sample_noise", "spread_decomposition", "summary", "worst_cases"]
