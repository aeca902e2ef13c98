"""Galaxies sampled from density models on a run's test split, and what the chapter measures on them.

The "Beyond the conditional mean" chapter compares three kinds of galaxy
populations for the same test haloes: the true galaxies, galaxies *drawn* from
the conditional density models (:mod:`hgtools.density`), and the stacks'
conditional means.  This module makes the draws and the tables:

- :func:`score_tables`: every score of :mod:`hgtools.density_scores`, per model,
  the oracle-only ones when the source knows its law;
- :func:`sampled_spectra`: the study's two-bin power spectra of sampled
  populations, mean and spread over independent draws, with the χ² per bandpower;
- :func:`galaxy_assembly_bias`: at fixed halo mass, the relative large-scale
  bias of the galaxies in the top and bottom quartiles of each property, for
  the truth, the draws and the stacks.

Units: properties as in the catalogue; positions comoving [Mpc/h].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from hgtools import density_scores as ds
from hgtools.catalogue import FEATURES, GALAXY_POSITION, HALO_POSITION, TARGETS, prediction_column

#: The stacks whose conditional means stand beside the density models (label -> training path).
STACKS = {"raw stack": "raw", "SMOGN stack": "smogn"}
#: The column of the source's own law, scored as a model where the source knows it (each score's noise floor).
TRUE_LAW = "true law"


class LawModel:
    """A source's exact conditional law (``sample`` and ``log_prob`` of features) behind the density-model API.

    Scored like a model, with draws independent of the true galaxies, it is a
    perfect model: what it scores on a test split is the noise floor of each
    score for that split's size (its KL estimate is 0 by construction).
    """

    has_log_prob = True
    name = TRUE_LAW

    def __init__(self, law: dict[str, Callable]):
        self.law = law

    def _features(self, X) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(X, dtype=float), columns=list(FEATURES))

    def sample(self, X, n_draws: int = 1, seed: int | list[int] = 0) -> np.ndarray:
        """True draws (n_draws, n, 4) for the haloes X (n, 5)."""
        return self.law["sample"](self._features(X), n_draws, seed)

    def log_prob(self, X, Y) -> np.ndarray:
        """log p_true(Y | X) [nats], shape (n,)."""
        return self.law["log_prob"](self._features(X), np.asarray(Y, dtype=float))


def stack_values(predictions: pd.DataFrame, path: str) -> np.ndarray:
    """The stack of ``path``'s predictions of the four properties on the test split, (n, 4)."""
    return np.column_stack([predictions[prediction_column(t, path, "stack")].to_numpy() for t in TARGETS])


def draw_all(models: dict, predictions: pd.DataFrame, n_draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws (n_draws, n, 4) of every density model for the test haloes, one seed per model."""
    X = predictions[list(FEATURES)].to_numpy(dtype=float)
    return {name: model.sample(X, n_draws, seed=[seed, i]) for i, (name, model) in enumerate(models.items())}


def score_tables(models: dict, predictions: pd.DataFrame, *, n_draws: int, seed: int,
                 reference: np.ndarray, truth_law: dict[str, Callable] | None = None,
                 energy_haloes: int = 2000, energy_draws: int = 200) -> dict[str, pd.DataFrame]:
    """Every score of every density model (and the stacks) on the test split.

    Parameters
    ----------
    models : dict
        Name -> fitted :class:`hgtools.density.DensityModel`.
    predictions : pandas.DataFrame
        The run's test split with the true properties and the stacks' predictions.
    n_draws, seed : draws per halo for the scores, and their seed.
    reference : array (n, 4)
        The common conditional mean the residuals are measured about (the
        oracle where there is one, else the raw stack).
    truth_law : dict, optional
        Only for a source that knows its law: ``sample(features, n_draws, seed)``
        → (n_draws, n, 4) true draws and ``log_prob(features, values)`` → (n,).
        The law is then also scored as a model (column :data:`TRUE_LAW`,
        :class:`LawModel`): the noise floor of every score on this test split;
        and the per-bin scores are measured once more against ``n_draws``
        draws of the law per halo (:data:`hgtools.density_scores.VS_LAW`),
        which takes most of that noise out.
    energy_haloes, energy_draws : size of the energy-distance comparison.

    Returns
    -------
    dict of pandas.DataFrame
        ``summary`` (one column per model, the rows of
        :func:`hgtools.density_scores.summary`), ``spread``, ``coverage``,
        ``pit``, ``marginal``, ``joint``, ``decomposition``
        (:func:`hgtools.density_scores.spread_decomposition`, the models with
        more than one draw) and, with a law, ``spread vs law`` and ``coverage
        vs law`` — long tables with a ``model`` column.
    """
    truth = predictions[list(TARGETS)].to_numpy(dtype=float)
    log_mass = predictions["M_h"].to_numpy(dtype=float)
    features = predictions[list(FEATURES)]
    if truth_law is not None:
        models = {**models, TRUE_LAW: LawModel(truth_law)}
    draws = draw_all(models, predictions, n_draws, seed)
    points = {label: stack_values(predictions, path)[None] for label, path in STACKS.items()}
    parts = {k: [] for k in ("summary", "spread", "coverage", "pit", "marginal", "joint", "decomposition",
                             "spread vs law", "coverage vs law")}
    if truth_law is not None:
        rng = np.random.default_rng([seed, 0xED])
        pick = np.sort(rng.choice(len(truth), size=min(energy_haloes, len(truth)), replace=False))
        true_a = truth_law["sample"](features.iloc[pick], energy_draws, seed + 1)
        true_b = truth_law["sample"](features.iloc[pick], energy_draws, seed + 2)
        true_lp = truth_law["log_prob"](features, truth)
        scale = truth.std(axis=0)
        floor = ds.mean_energy_distance(true_b, true_a, scale)
        law_truth = truth_law["sample"](features, n_draws, seed + 3)  # independent of every model's draws
    law_draws = {TRUE_LAW: draws.pop(TRUE_LAW)} if TRUE_LAW in draws else {}
    for name, values in {**draws, **points, **law_draws}.items():  # the true law last, beside the goals
        marginal, joint = ds.marginal_ks(values, truth), ds.joint_ks(values, truth, log_mass)
        spread = ds.conditional_spread(values, truth, reference, log_mass)
        coverage = energy = kl = law_spread = law_coverage = None
        if truth_law is not None:
            law_spread = ds.conditional_spread(values, law_truth, reference, log_mass)
            parts["spread vs law"].append(law_spread.assign(model=name))
        if name in models:
            if len(values) > 1:
                parts["decomposition"].append(ds.spread_decomposition(values, reference, log_mass).assign(model=name))
            coverage, pit = ds.calibration(values, truth, log_mass)
            parts["coverage"].append(coverage.assign(model=name))
            parts["pit"].append(pit.assign(model=name))
            if truth_law is not None:
                model_draws = models[name].sample(features.iloc[pick].to_numpy(dtype=float), energy_draws,
                                                  seed=[seed, 0xE, len(parts["summary"])])
                energy = ds.energy_distances(model_draws, true_a, None, scale, floor=floor)
                if models[name].has_log_prob:
                    kl = ds.kl_estimate(models[name].log_prob(features.to_numpy(dtype=float), truth), true_lp)
                law_coverage = ds.calibration(values, law_truth, log_mass)[0]
                parts["coverage vs law"].append(law_coverage.assign(model=name))
        law = None if law_spread is None else (law_spread, law_coverage)
        parts["summary"].append(ds.summary(marginal, joint, spread, coverage, energy, kl, law).rename(name))
        parts["spread"].append(spread.assign(model=name))
        parts["marginal"].append(marginal.rename_axis("target").reset_index().assign(model=name))
        parts["joint"].append(joint.rename_axis("relation").reset_index().assign(model=name))
        if energy is not None:
            parts["summary"][-1]["energy distance"] = energy["energy distance"]
            parts["summary"][-1]["energy noise floor"] = energy["noise floor"]
    out = {k: pd.concat(v, ignore_index=True) for k, v in parts.items() if k != "summary" and v}
    summary = pd.concat(parts["summary"], axis=1)
    summary["goal"] = pd.Series(ds.GOALS)
    out["summary"] = summary
    return out


def sampled_spectra(model, predictions: pd.DataFrame, box_size: float, *, n_draws: int, seed: int,
                    n_mesh: int, min_galaxies: int = 1000, law=None) -> pd.DataFrame:
    """The study's two-bin power spectra of sampled populations: mean and spread over ``n_draws`` draws.

    Each draw is a whole population (new galaxies for every test halo, at the
    halo's position); the truth and the raw stack are the references.  With
    ``law`` (the source's own law, :class:`LawModel`), as many populations are
    drawn from it too (sample ``true law``): their χ² is what a perfect model
    scores, the noise floor of the χ² on this test split.

    Returns
    -------
    pandas.DataFrame
        Long format: property, bin, sample (``true``, ``raw stack``,
        ``sampled``, ``true law``), k, P (the mean over draws for the drawn samples), P_std (the
        spread of the draws), sigma (Eq. 6 of the truth), N, and ``chi2 per
        bandpower`` (Eq. 7 averaged over the bandpowers of a bin, then over
        draws, for bins with more than ``min_galaxies`` true galaxies).
    """
    from hgtools.clustering import split_spectra

    X = predictions[list(FEATURES)].to_numpy(dtype=float)
    halo = predictions[list(HALO_POSITION)].to_numpy()
    true = (predictions[list(TARGETS)].reset_index(drop=True), predictions[list(GALAXY_POSITION)].to_numpy())
    stack = (pd.DataFrame(stack_values(predictions, "raw"), columns=list(TARGETS)), halo)
    first = split_spectra({"true": true, "raw stack": stack}, box_size, n_mesh=n_mesh, skip_empty=True)
    truth = first[first["sample"] == "true"]
    frames = [first.assign(draw=0)]
    drawn_models = {"sampled": (model, [seed]), **({TRUE_LAW: (law, [seed, 0x1A])} if law is not None else {})}
    for label, (source, stream) in drawn_models.items():
        for d in range(n_draws):  # the truth is measured once, each drawn population against it
            drawn = pd.DataFrame(source.sample(X, 1, seed=[*stream, d])[0], columns=list(TARGETS))
            frames.append(split_spectra({label: (drawn, halo)}, box_size, n_mesh=n_mesh, skip_empty=True,
                                        reference_spectra=truth).assign(draw=d))
    spectra = pd.concat(frames, ignore_index=True)
    keys = ["property", "bin", "sample", "k"]
    out = spectra[spectra["draw"] == 0].drop(columns="draw").set_index(keys)
    sampled = spectra[spectra["sample"].isin(list(drawn_models))].groupby(keys)
    out.loc[sampled["P"].mean().index, "P"] = sampled["P"].mean()
    out["P_std"] = 0.0
    out.loc[sampled["P"].std().index, "P_std"] = sampled["P"].std().fillna(0.0)
    per_draw = (spectra[spectra["sample"] != "true"].groupby(["property", "bin", "sample", "draw"])["residual"]
                .mean().groupby(["property", "bin", "sample"]).mean())
    out = out.reset_index().merge(per_draw.rename("chi2 per bandpower").reset_index(), how="left",
                                  on=["property", "bin", "sample"])
    counts = out[out["sample"] == "true"].groupby(["property", "bin"])["N"].first()
    out["true N"] = [counts.get((p, b), 0) for p, b in zip(out["property"], out["bin"])]
    out.loc[out["true N"] <= min_galaxies, "chi2 per bandpower"] = np.nan
    return out


def galaxy_assembly_bias(predictions: pd.DataFrame, model, box_size: float, *, n_draws: int, seed: int,
                         mass_bins=((11.0, 11.5), (12.0, 12.5)), cell: float = 12.0) -> pd.DataFrame:
    """Relative large-scale bias of the top over the bottom quartile of each property at fixed halo mass.

    For every mass bin and property, the test galaxies in the bin are split by
    the property's quartiles and b(top) / b(bottom) is measured with counts in
    cells against every test galaxy outside the bin (:func:`hgtools.counts_in_cells.relative_bias`),
    at the haloes' positions.  Samples: the truth, the raw stack, ``n_draws``
    draws of ``model`` (mean and spread), and the halo splits by z_1/2 and C_h
    (the halo assembly bias behind it all).

    Returns
    -------
    pandas.DataFrame
        Columns ``M_h_bin, split, sample, ratio, error`` (error: jackknife for
        one population, the spread of the draws for ``sampled``).
    """
    from hgtools.counts_in_cells import relative_bias

    n_cells = max(4, 2 * int(round(box_size / cell / 2)))
    m = predictions["M_h"].to_numpy()
    pos = predictions[list(HALO_POSITION)].to_numpy()
    X = predictions[list(FEATURES)].to_numpy(dtype=float)
    values = {"true": predictions[list(TARGETS)].to_numpy(), "raw stack": stack_values(predictions, "raw")}
    draws = model.sample(X, n_draws, seed=[seed, 0xAB])
    rows = []

    def ratio(split_values, inside):
        q1, q3 = np.quantile(split_values[inside], [0.25, 0.75])
        top, bottom = inside & (split_values >= q3), inside & (split_values <= q1)
        return relative_bias(pos[top], pos[bottom], pos[~inside], box_size, n_cells)

    for lo, hi in mass_bins:
        inside = (m >= lo) & (m < hi)
        if inside.sum() < 40:
            continue
        label = f"{lo:g}-{hi:g}"
        for feature in ("z_h", "C_h"):
            rows.append((label, feature, "haloes", *ratio(predictions[feature].to_numpy(), inside)))
        for j, target in enumerate(TARGETS):
            for sample, v in values.items():
                rows.append((label, target, sample, *ratio(v[:, j], inside)))
            drawn = [ratio(draws[d, :, j], inside)[0] for d in range(n_draws)]
            rows.append((label, target, "sampled", float(np.mean(drawn)), float(np.std(drawn))))
    return pd.DataFrame(rows, columns=["M_h_bin", "split", "sample", "ratio", "error"])


__all__ = ["STACKS", "TRUE_LAW", "LawModel", "draw_all", "galaxy_assembly_bias", "sampled_spectra", "score_tables",
           "stack_values"]
