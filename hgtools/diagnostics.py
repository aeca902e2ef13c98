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
from hgtools.config import TNG300_BOX_SIZE
from hgtools import reference as ref
from hgtools.reference import TNG300_SAMPLE, beyond_zero_sfr_recipe, tng300_law
from hgtools.universe import catalogue_oracle
from hgtools.universe.haloes import per_mass

#: The secondary halo features (everything but mass).
SECONDARY = tuple(f for f in FEATURES if f != "M_h")
#: log sSFR [h/yr] below which a galaxy counts as quenched.
QUENCHED_SSFR = -11.0
#: The goals of the embedded universe's calibration, per comparison of :func:`law_summary`
#: (in that table's units).
LAW_GOALS = {"conditional means": 0.05, "secondary dependence": 0.08, "intrinsic scatter": 0.10,
             "residual correlations": 0.10, "quenched fraction": 0.03, "halo-feature correlations": 0.10}


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
                             "slope TNG300": tng, "quartile gap": d_feature,
                             "difference / std": (ours - tng) * d_feature / _scale(target)})
    return pd.DataFrame(rows, columns=["M_h_bin", "feature", "target", "slope here", "slope TNG300",
                                      "quartile gap", "difference / std"])


def scatter(table: pd.DataFrame, oracle: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Intrinsic scatter (std of truth − oracle) per M_h bin and property, here and in TNG300-1.

    ``comparable`` is False where the reference measures its flow's treatment of SFR = 0
    rather than TNG300-1 (:func:`hgtools.reference.beyond_zero_sfr_recipe`).
    """
    ref = tng300_law("scatter")
    ref = ref.assign(comparable=~beyond_zero_sfr_recipe(ref))
    residual = table[list(TARGETS)].to_numpy() - oracle[list(TARGETS)].to_numpy()
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        for j, target in enumerate(TARGETS):
            cell = ref[(ref["M_h_bin"] == label) & (ref["target"] == target)].iloc[0]
            ours = float(residual[inside, j].std())
            rows.append({"M_h_bin": label, "target": target, "here": ours, "TNG300": float(cell["std_intrinsic"]),
                         "relative difference": ours / float(cell["std_intrinsic"]) - 1,
                         "comparable": bool(cell["comparable"])})
    return pd.DataFrame(rows, columns=["M_h_bin", "target", "here", "TNG300", "relative difference", "comparable"])


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


def spearman_error(rho: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Standard error of a Spearman correlation ``rho`` measured on ``n`` objects.

    Fieller, Hartley & Pearson (1957): Fisher's z of a Spearman correlation has variance
    1.06 / (n - 3); mapped back to the correlation, (1 - rho^2) sqrt(1.06 / (n - 3)).
    """
    rho, n = np.asarray(rho, float), np.asarray(n, float)
    return (1.0 - rho**2) * np.sqrt(1.06 / np.maximum(n - 3.0, 1.0))


def halo_feature_correlations(table: pd.DataFrame, min_count: int = 100) -> pd.DataFrame:
    """Spearman correlations among the secondary halo features per M_h bin, here and in TNG300-1.

    ``noise`` is the standard error of the difference: both correlations are measured on finite
    samples (this catalogue's galaxies in the bin, and the reference's haloes, whose number the
    ``halo_features`` table gives).
    """
    ref = tng300_law("halo_feature_correlations")
    ref = ref[~ref["pair"].str.startswith("M_h~")]
    sizes = tng300_law("halo_features").drop_duplicates("M_h_bin").set_index("M_h_bin")["n"]
    rows = []
    for label, inside in _cells(table, ref["M_h_bin"], min_count):
        cell = table[inside]
        for pair in ref[ref["M_h_bin"] == label]["pair"]:
            a, b = pair.split("~")
            ours = float(stats.spearmanr(cell[a], cell[b]).statistic)
            tng = float(ref[(ref["M_h_bin"] == label) & (ref["pair"] == pair)]["spearman"].iloc[0])
            noise = float(np.hypot(spearman_error(ours, len(cell)), spearman_error(tng, sizes[label])))
            rows.append({"M_h_bin": label, "pair": pair, "here": ours, "TNG300": tng, "difference": ours - tng,
                         "noise": noise})
    return pd.DataFrame(rows, columns=["M_h_bin", "pair", "here", "TNG300", "difference", "noise"])


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


def law_summary(parts: dict[str, pd.DataFrame], every_bin: bool = False) -> pd.DataFrame:
    """One number per comparison and property: RMS (means, slopes) or the largest difference (the rest).

    The intrinsic scatter is summarised over the bins where the reference is comparable (see
    :func:`scatter`); the halo-feature correlations over the bins where the difference's
    sampling noise (:func:`halo_feature_correlations`) is below a third of its goal, so that
    the goal can be tested there (the lightest bin holds a few hundred galaxies: noise ~ 0.05),
    unless ``every_bin``.

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
            table, statistic = parts[name], "largest |difference| over M_h bins"
            if "comparable" in table:
                table, statistic = table[table["comparable"]], statistic + " (comparable bins)"
            if "noise" in table and not every_bin:
                table = table[table["noise"] <= LAW_GOALS[name] / 3]
                statistic += " (bins whose sampling noise is below a third of the goal)"
            for of, group in table.groupby(key, sort=False):
                rows.append({"comparison": name, "of": of, "statistic": statistic,
                             "value": float(group[column].abs().max())})
    if "quenched fraction" in parts:
        rows.append({"comparison": "quenched fraction", "of": "sSFR < -11",
                     "statistic": "largest |difference| over M_h bins",
                     "value": float(parts["quenched fraction"]["difference"].abs().max())})
    return pd.DataFrame(rows)



# ---------------------------------------------------------------------------
# the embedded universe: its law, calibration and clustering
# ---------------------------------------------------------------------------

def law_dependencies(catalogue: pd.DataFrame, metadata: dict, step: float = 0.01) -> pd.DataFrame:
    """Which halo features the generator's law uses, and how strongly, measured on the law itself.

    Each feature in turn is moved by ``step`` times its standard deviation and
    the oracle (the law's conditional mean) is recomputed; the table gives the
    mean absolute change of each target per standard deviation of the feature
    (a finite-difference sensitivity, in the target's units).  Zero means the
    law ignores that feature.
    """
    base = catalogue_oracle(catalogue, metadata)
    rows = {}
    for f in FEATURES:
        moved = catalogue[list(FEATURES)].copy()
        moved[f] = moved[f] + step * moved[f].std()
        change = (catalogue_oracle(moved, metadata) - base).abs().mean() / step
        rows[f] = change.where(change > 1e-9, 0.0)
    table = pd.DataFrame(rows).T
    table.index.name = "feature"
    table.columns = [f"{t}: change per 1 std" for t in table.columns]
    return table


def law_importance(catalogue: pd.DataFrame, metadata: dict, rows: int = 20_000, repeats: int = 3,
                   seed: int = 0) -> pd.DataFrame:
    """Permutation importance of each halo feature for the law's conditional mean, beside TNG300-1's.

    The oracle is scored like a trained model (:func:`hgtools.importance.permutation_importance`
    on ``rows`` random galaxies, ``repeats`` shuffles, seeded) and expressed in per cent of
    halo mass's importance, as the reference table ``law_importance`` is (there, of the study's
    LightGBM models trained on TNG300-1).  Columns: ``target``, ``feature``, ``here``, ``TNG300``.
    """
    from hgtools.importance import FunctionRegressor, permutation_importance

    sample = catalogue.sample(min(rows, len(catalogue)), random_state=seed)
    features = list(FEATURES)
    reference = tng300_law("law_importance").set_index("target")
    out = []
    for target in TARGETS:
        def predict(X, target=target):
            return catalogue_oracle(pd.DataFrame(X, columns=features), metadata)[target].to_numpy()

        table = permutation_importance(FunctionRegressor(predict), sample[features].to_numpy(),
                                       sample[target].to_numpy(), feature_names=features, n_repeats=repeats,
                                       seed=seed)
        scale = table.loc["M_h", "importance"]
        for feature in features:
            out.append({"target": target, "feature": feature,
                        "here": 100.0 * table.loc[feature, "importance"] / scale,
                        "TNG300": float(reference.loc[target, feature])})
    return pd.DataFrame(out)


def model_bias_ratio(log_mass_a: np.ndarray, log_mass_b: np.ndarray) -> dict[str, float]:
    """b(A) / b(B) predicted by standard halo-bias models for two sets of halo masses.

    The mean bias of each set under Tinker et al. (2010), Sheth, Mo & Tormen
    (2001) and Mo & White / Cole & Kaiser (1989) from colossus.
    """
    from colossus.lss import bias

    out = {}
    for model in ("tinker10", "sheth01", "cole89"):
        def b(log_mass, model=model):
            return per_mass(lambda m: bias.haloBias(m, 0.0, "200c", model=model), log_mass)
        out[model] = float(b(log_mass_a).mean() / b(log_mass_b).mean())
    return out


def table_implied_moments() -> tuple[pd.Series, pd.DataFrame]:
    """Mean and covariance of the four properties over the whole sample, as the law tables imply them.

    Each M_h bin of the tables contributes its galaxy fraction, its mean properties, their
    spread and their correlations at fixed mass (``total_corr``); the sample's covariance is
    the fraction-weighted within-bin covariance plus that of the bin means (bins without a
    scatter table, 0.3 % of the galaxies, are left out).

    Returns
    -------
    mean : pandas.Series
        Indexed by :data:`hgtools.catalogue.TARGETS`, in their units.
    covariance : pandas.DataFrame
        4 x 4, rows and columns the targets.
    """
    means, spread = tng300_law("law_means"), tng300_law("scatter")
    pairs, haloes = tng300_law("residual_correlations"), tng300_law("halo_features")
    fraction = haloes[haloes["feature"] == "C_h"].set_index("M_h_bin")["fraction"]
    bins = [b for b in fraction.index if b in set(spread["M_h_bin"])]
    weights = fraction[bins].to_numpy() / fraction[bins].sum()
    cell_means, covariances = [], []
    for label in bins:
        rows = means[(means["M_h_bin"] == label) & (means["feature"] == "all")].set_index("target")
        cell_means.append(rows.loc[list(TARGETS), "mean_lgbm"].to_numpy())
        std = spread[spread["M_h_bin"] == label].set_index("target").loc[list(TARGETS), "std_total"].to_numpy()
        corr = np.eye(len(TARGETS))
        for _, row in pairs[pairs["M_h_bin"] == label].iterrows():
            a, b = (TARGETS.index(t) for t in row["pair"].split("~"))
            corr[a, b] = corr[b, a] = row["total_corr"]
        covariances.append(corr * np.outer(std, std))
    mean, total = pooled_moments(weights, np.array(cell_means), np.array(covariances))
    return pd.Series(mean, index=list(TARGETS)), pd.DataFrame(total, index=list(TARGETS), columns=list(TARGETS))


def pooled_moments(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (P,) and covariance (P, P) of a sample made of groups (bins) of ``weights`` (B,) galaxies.

    Each group has its mean (B, P) and covariance (B, P, P); the sample's covariance is the
    weighted within-group covariance plus that of the group means.
    """
    w = np.asarray(weights, float) / np.sum(weights)
    mean = w @ means
    centred = means - mean
    return mean, np.einsum("b,bij->ij", w, covariances) + np.einsum("b,bi,bj->ij", w, centred, centred)


def table_implied_correlations() -> dict[tuple[str, str], float]:
    """Correlations between the four properties over the whole sample, as the law tables imply them.

    From :func:`table_implied_moments`; beside :data:`hgtools.reference.TNG300_CORRELATIONS`
    (the study's catalogue) it shows how far the tables themselves are from those numbers.
    """
    return _study_pair_correlations(table_implied_moments()[1])


def _study_pair_correlations(cov: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The correlations of :data:`hgtools.reference.TNG300_CORRELATIONS`'s pairs from a covariance."""
    return {(a, b): float(cov.loc[a, b] / np.sqrt(cov.loc[a, a] * cov.loc[b, b])) for a, b in ref.TNG300_CORRELATIONS}


def calibration_table(catalogue: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """The embedded universe against the TNG300-1 numbers it is calibrated to.

    One row per calibrated quantity: the TNG300 value, the value achieved by
    ``catalogue``, and their relative difference; for the correlations between
    properties also the value the law tables imply (:func:`table_implied_correlations`),
    which the law is fitted to, and so for the means and spreads of the properties
    (:func:`table_implied_moments`).  For a box smaller than 205 Mpc/h the galaxy count is
    rescaled to the TNG300 volume.
    """
    rows = []
    scale = (TNG300_BOX_SIZE / float(metadata["box_size"])) ** 3
    rows.append(("N galaxies (per TNG300 volume)", ref.TNG300_N_GALAXIES, len(catalogue) * scale))
    for col, (mean, std) in ref.TNG300_SAMPLE.items():
        rows.append((f"mean {col}", mean, catalogue[col].mean()))
        rows.append((f"std {col}", std, catalogue[col].std()))
    for (a, b), r in ref.TNG300_CORRELATIONS.items():
        rows.append((f"corr({a}, {b})", r, catalogue[a].corr(catalogue[b])))
    rows.append(("fraction with SFR = 0", ref.TNG300_ZERO_SFR_FRACTION, catalogue["sfr_zero"].mean()))
    orc = catalogue_oracle(catalogue, metadata)
    for t in TARGETS:
        rows.append((f"oracle Pearson r, {t} (vs study's stacked r)", ref.STUDY_STACKED_PCC[t],
                     np.corrcoef(orc[t], catalogue[t])[0, 1]))
    table = pd.DataFrame(rows, columns=["quantity", "TNG300 / study", "embedded universe"])
    table["relative difference"] = table["embedded universe"] / table["TNG300 / study"] - 1.0
    mean, cov = table_implied_moments()
    implied = {**{f"corr({a}, {b})": r for (a, b), r in _study_pair_correlations(cov).items()},
               **{f"mean {t}": mean[t] for t in TARGETS}, **{f"std {t}": np.sqrt(cov.loc[t, t]) for t in TARGETS}}
    table["law tables imply"] = table["quantity"].map(implied)
    return table


def _cells_for(box_size: float, cell: float = 12.0) -> int:
    """An even number of counting cells per side, each about ``cell`` Mpc/h."""
    return max(4, 2 * int(round(box_size / cell / 2)))


def bias_table(catalogue: pd.DataFrame, box_size: float, edges: np.ndarray | None = None) -> pd.DataFrame:
    """Measured large-scale bias per halo-mass bin (relative to the lowest bin) beside the models.

    Columns: ``M_h`` (mean log mass of the bin), ``measured``, ``error``
    (jackknife) and one column per bias model of :func:`model_bias_ratio`.
    """
    from hgtools.counts_in_cells import bias_by_mass

    m = catalogue["M_h"].to_numpy()
    if edges is None:
        edges = np.quantile(m, [0, 0.3, 0.6, 0.85, 0.97, 1.0])
        edges[-1] += 1e-9
    pos = catalogue[["X_h", "Y_h", "Z_h"]].to_numpy()
    centres, ratio, err = bias_by_mass(pos, m, box_size, edges, _cells_for(box_size))
    which = np.digitize(m, edges) - 1
    models = [model_bias_ratio(m[which == i], m[which == 0]) for i in range(len(edges) - 1)]
    table = pd.DataFrame({"M_h": centres, "measured": ratio, "error": err})
    for name in models[0]:
        table[name] = [mod[name] for mod in models]
    return table


def assembly_bias_table(catalogue: pd.DataFrame, box_size: float,
                        edges: tuple[float, ...] = (10.5, 11.0, 11.5, 12.0, 12.5)) -> pd.DataFrame:
    """Bias of the oldest quartile in z_1/2 over the youngest, per halo-mass bin.

    Each pair is measured against all haloes outside the bin.  Columns:
    ``M_h`` (bin centre), ``n`` (haloes in the bin), ``old/young``, ``error``.
    """
    from hgtools.counts_in_cells import relative_bias

    m, z = catalogue["M_h"].to_numpy(), catalogue["z_h"].to_numpy()
    pos = catalogue[["X_h", "Y_h", "Z_h"]].to_numpy()
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (m >= lo) & (m < hi)
        if inside.sum() < 40:
            continue
        q1, q3 = np.quantile(z[inside], [0.25, 0.75])
        old, young = inside & (z >= q3), inside & (z <= q1)
        r, e = relative_bias(pos[old], pos[young], pos[~inside], box_size, _cells_for(box_size))
        rows.append((0.5 * (lo + hi), int(inside.sum()), r, e))
    return pd.DataFrame(rows, columns=["M_h", "n", "old/young", "error"])


__all__ = ["LAW_GOALS", "QUENCHED_SSFR", "SECONDARY", "assembly_bias_table", "bias_table", "calibration_table",
           "conditional_means", "halo_feature_correlations", "law_comparison", "law_dependencies", "law_importance",
           "law_summary", "model_bias_ratio", "pooled_moments", "quenched_fractions", "residual_correlations", "scatter",
           "secondary_slopes"]
