"""How a catalogue's galaxies depend on their haloes, measured against TNG300-1's law tables.

>>> from hgtools.diagnostics import law_comparison, law_summary
>>> parts = law_comparison(catalogue, oracle)       # doctest: +SKIP
>>> law_summary(parts)                              # doctest: +SKIP

The reference is :func:`hgtools.reference.tng300_law` (derived from models trained on the real
TNG300-1 centrals); every comparison is made in the reference's halo-mass bins.  Differences of
galaxy properties are in units of the property's total standard deviation in the TNG300-1 sample
(:data:`hgtools.reference.TNG300_SAMPLE`), so that the four properties read on one scale:

- **conditional means**: the mean of each property per M_h bin (summarised as an RMS weighted by
  the galaxies in each bin);
- **secondary dependence**: within each bin, the slope between the top and bottom quartile of a
  secondary feature (Δ mean property / Δ mean feature), compared per unit of the feature and
  scaled by this catalogue's quartile difference of the feature;
- **intrinsic scatter**: the standard deviation of truth − oracle per bin (relative difference);
- **residual correlations**: the correlation of truth − oracle of each pair of properties per bin;
- **quenched fraction**: the fraction with log sSFR < −11 per bin;
- **halo features**: the Spearman correlations of C_h, S_h, z_h and δ3 per bin.

The last five need nothing but the catalogue and, for the scatter terms, its oracle (the exact
conditional mean, which only the embedded universe has).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hgtools.catalogue import FEATURES, TARGETS
from hgtools.reference import TNG300_SAMPLE, tng300_law

#: The secondary halo features (everything but mass).
SECONDARY = tuple(f for f in FEATURES if f != "M_h")
#: log sSFR [h/yr] below which a galaxy counts as quenched.
QUENCHED_SSFR = -11.0


def _cells(table: pd.DataFrame, labels, min_count: int):
    """(label, rows inside) for each reference M_h bin ``lo-hi`` holding at least ``min_count`` rows of ``table``."""
    log_mass = table["M_h"].to_numpy()
    bins = sorted({str(label) for label in labels}, key=lambda label: float(label.split("-")[0]))
    for label in bins:
        lo, hi = (float(v) for v in label.split("-"))
        inside = (log_mass >= lo) & (log_mass < hi)
        if inside.sum() >= min_count:
            yield label, inside


def _scale(target: str) -> float:
    return TNG300_SAMPLE[target][1]


def conditional_means(table: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Mean of each property per M_h bin, here and in TNG300-1, and the difference in total-std units."""
    ref = tng300_law("law_means")
    ref = ref[ref["feature"] == "all"]
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        cell = table[inside]
        for target in TARGETS:
            tng = float(ref[(ref["M_h_bin"] == label) & (ref["target"] == target)]["mean_lgbm"].iloc[0])
            ours = float(cell[target].mean())
            rows.append({"M_h_bin": label, "target": target, "n": len(cell), "here": ours, "TNG300": tng,
                         "difference / std": (ours - tng) / _scale(target)})
    return pd.DataFrame(rows, columns=["M_h_bin", "target", "n", "here", "TNG300", "difference / std"])


def secondary_slopes(table: pd.DataFrame, values: pd.DataFrame | None = None, min_count: int = 400) -> pd.DataFrame:
    """Top-against-bottom-quartile slopes of each property on each secondary feature, per M_h bin.

    ``values`` (default: ``table``) holds the property values averaged in each
    quartile — pass the oracle to measure the law without its scatter.
    """
    values = table if values is None else values
    ref = tng300_law("law_means")
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        cell, cell_values = table[inside], values[inside]
        for feature in SECONDARY:
            f = cell[feature].to_numpy()
            q1, q3 = np.quantile(f, [0.25, 0.75])
            low, high = f <= q1, f >= q3
            d_feature = f[high].mean() - f[low].mean()
            for target in TARGETS:
                r = ref[(ref["M_h_bin"] == label) & (ref["feature"] == feature) & (ref["target"] == target)]
                r1, r4 = r[r["quartile"] == 1].iloc[0], r[r["quartile"] == 4].iloc[0]
                tng = (r4["mean_lgbm"] - r1["mean_lgbm"]) / (r4["feature_mean"] - r1["feature_mean"])
                y = cell_values[target].to_numpy()
                ours = (y[high].mean() - y[low].mean()) / d_feature if d_feature > 0 else np.nan
                rows.append({"M_h_bin": label, "feature": feature, "target": target, "slope here": ours,
                             "slope TNG300": tng,
                             "difference / std": (ours - tng) * d_feature / _scale(target)})
    return pd.DataFrame(rows, columns=["M_h_bin", "feature", "target", "slope here", "slope TNG300",
                                      "difference / std"])


def scatter(table: pd.DataFrame, oracle: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Intrinsic scatter (std of truth − oracle) per M_h bin and property, here and in TNG300-1."""
    ref = tng300_law("scatter")
    residual = table[list(TARGETS)].to_numpy() - oracle[list(TARGETS)].to_numpy()
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        for j, target in enumerate(TARGETS):
            tng = float(ref[(ref["M_h_bin"] == label) & (ref["target"] == target)]["std_intrinsic"].iloc[0])
            ours = float(residual[inside, j].std())
            rows.append({"M_h_bin": label, "target": target, "here": ours, "TNG300": tng,
                         "relative difference": ours / tng - 1})
    return pd.DataFrame(rows, columns=["M_h_bin", "target", "here", "TNG300", "relative difference"])


def residual_correlations(table: pd.DataFrame, oracle: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Correlation of the residuals (truth − oracle) of each pair of properties per M_h bin."""
    ref = tng300_law("residual_correlations")
    residual = pd.DataFrame(table[list(TARGETS)].to_numpy() - oracle[list(TARGETS)].to_numpy(), columns=TARGETS)
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        corr = residual[inside].corr()
        for pair in ref[ref["M_h_bin"] == label]["pair"]:
            a, b = pair.split("~")
            tng = float(ref[(ref["M_h_bin"] == label) & (ref["pair"] == pair)]["resid_corr"].iloc[0])
            rows.append({"M_h_bin": label, "pair": pair, "here": float(corr.loc[a, b]), "TNG300": tng,
                         "difference": float(corr.loc[a, b]) - tng})
    return pd.DataFrame(rows, columns=["M_h_bin", "pair", "here", "TNG300", "difference"])


def quenched_fractions(table: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Fraction of galaxies with log sSFR < −11 per M_h bin, here and in TNG300-1."""
    ref = tng300_law("scatter")
    ref = ref[ref["target"] == "sSFR"]
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        cell = table[inside]
        tng = float(ref[ref["M_h_bin"] == label]["quenched_fraction"].iloc[0])
        ours = float((cell["sSFR"] < QUENCHED_SSFR).mean())
        rows.append({"M_h_bin": label, "here": ours, "TNG300": tng, "difference": ours - tng})
    return pd.DataFrame(rows, columns=["M_h_bin", "here", "TNG300", "difference"])


def halo_feature_correlations(table: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Spearman correlations among the secondary halo features per M_h bin, here and in TNG300-1."""
    ref = tng300_law("halo_feature_correlations")
    ref = ref[~ref["pair"].str.startswith("M_h~")]
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        cell = table[inside]
        for pair in ref[ref["M_h_bin"] == label]["pair"]:
            a, b = pair.split("~")
            ours = float(stats.spearmanr(cell[a], cell[b]).statistic)
            tng = float(ref[(ref["M_h_bin"] == label) & (ref["pair"] == pair)]["spearman"].iloc[0])
            rows.append({"M_h_bin": label, "pair": pair, "here": ours, "TNG300": tng, "difference": ours - tng})
    return pd.DataFrame(rows, columns=["M_h_bin", "pair", "here", "TNG300", "difference"])


def law_comparison(table: pd.DataFrame, oracle: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every comparison of this module (the scatter terms only with an oracle)."""
    parts = {"conditional means": conditional_means(table),
             "secondary dependence": secondary_slopes(table, oracle),
             "quenched fraction": quenched_fractions(table),
             "halo-feature correlations": halo_feature_correlations(table)}
    if oracle is not None:
        parts["intrinsic scatter"] = scatter(table, oracle)
        parts["residual correlations"] = residual_correlations(table, oracle)
    return parts


def law_summary(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One number per comparison and property: RMS (means, slopes) or the largest difference (the rest).

    A comparison with no M_h bin populated enough (a small box) is left out.
    """
    parts = {name: table for name, table in parts.items() if len(table)}
    rows = []
    if "conditional means" in parts:
        for target, group in parts["conditional means"].groupby("target", sort=False):
            rows.append({"comparison": "conditional means", "of": target,
                         "statistic": "RMS over M_h bins, weighted by galaxies",
                         "value": float(np.sqrt(np.average(group["difference / std"] ** 2, weights=group["n"])))})
    if "secondary dependence" in parts:
        for target, group in parts["secondary dependence"].groupby("target", sort=False):
            rows.append({"comparison": "secondary dependence", "of": target,
                         "statistic": "RMS over M_h bins and features",
                         "value": float(np.sqrt(np.nanmean(group["difference / std"] ** 2)))})
    for name, column, key in (("intrinsic scatter", "relative difference", "target"),
                              ("residual correlations", "difference", "pair"),
                              ("halo-feature correlations", "difference", "pair")):
        if name in parts:
            for of, group in parts[name].groupby(key, sort=False):
                rows.append({"comparison": name, "of": of, "statistic": "largest |difference| over M_h bins",
                             "value": float(group[column].abs().max())})
    if "quenched fraction" in parts:
        rows.append({"comparison": "quenched fraction", "of": "sSFR < -11",
                     "statistic": "largest |difference| over M_h bins",
                     "value": float(parts["quenched fraction"]["difference"].abs().max())})
    return pd.DataFrame(rows)


__all__ = ["QUENCHED_SSFR", "SECONDARY", "conditional_means", "halo_feature_correlations", "law_comparison",
           "law_summary", "quenched_fractions", "residual_correlations", "scatter", "secondary_slopes"]
