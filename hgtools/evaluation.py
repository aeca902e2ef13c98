"""Scores of the trained models on the test split, beside the study's numbers and the oracle.

Predictions come from :func:`hgtools.training.train` (columns ``target|path|model``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgtools import metrics, reference
from hgtools.catalogue import GALAXY_POSITION, HALO_POSITION, TARGETS, prediction_column

MODELS_AND_STACK = ("ERT", "kNN", "LGBM", "NN", "stack")


def score_table(predictions: pd.DataFrame, targets=TARGETS, paths=("raw", "smogn"),
                models=MODELS_AND_STACK) -> pd.DataFrame:
    """MSE, Pearson r and 1D KS of every model (columns ``target|path|model``), per target and path."""
    rows = []
    for target in targets:
        truth = predictions[target].to_numpy()
        for path in paths:
            for model in models:
                pred = predictions[prediction_column(target, path, model)].to_numpy()
                rows.append({"target": target, "path": path, "model": model, "MSE": metrics.mse(truth, pred),
                             "PCC": metrics.pearson(truth, pred), "KS": metrics.ks_1d(truth, pred)})
    return pd.DataFrame(rows)


def stack_table(predictions: pd.DataFrame, oracle: pd.DataFrame | None = None, n_boot: int = 100,
                seed: int = 0, targets=TARGETS) -> pd.DataFrame:
    """Table B1: MSE and Pearson r (and the 1D KS distance) of both stacks with 68 % bootstrap
    intervals, the study's values and (for the embedded universe) the oracle's."""
    rows = []
    for target in targets:
        truth = predictions[target].to_numpy()
        row = {"target": target}
        for path in ("raw", "smogn"):
            pred = predictions[prediction_column(target, path, "stack")].to_numpy()
            for name, score in (("MSE", metrics.mse), ("PCC", metrics.pearson), ("KS", metrics.ks_1d)):
                value, lo, hi = metrics.bootstrap_interval(score, truth, pred, n_boot=n_boot, seed=seed)
                row[f"{name} {path}"] = value
                row[f"{name} {path} 68%"] = f"[{lo:.4f}, {hi:.4f}]"
            row[f"MSE {path} (study)"], row[f"PCC {path} (study)"] = reference.STUDY_TABLE_B1[path][target]
        if oracle is not None:
            best = oracle_scores(predictions, oracle, targets=(target,)).loc[target]
            row["MSE oracle"], row["PCC oracle"] = best["MSE"], best["PCC"]
            row["KS oracle"] = metrics.ks_1d(truth, oracle[target].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows).set_index("target")


def joint_table(predictions: pd.DataFrame, oracle: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1: 2D KS between the true and the predicted joint distributions (stacks), on the
    whole test split.  Halo mass is not predicted: it pairs with the predicted property."""
    rows = []
    for x, y in reference.JOINT_RELATIONS:
        true = predictions[[x, y]].to_numpy()
        row = {"relation": f"{y} vs {x}"}
        for path in ("raw", "smogn"):
            cols = [c if c == "M_h" else prediction_column(c, path, "stack") for c in (x, y)]
            row[f"D {path}"] = metrics.ks_2d(true, predictions[cols].to_numpy())
        row["D raw (study)"], row["D smogn (study)"] = reference.STUDY_TABLE_1[(x, y)]
        if oracle is not None:
            orc = np.column_stack([predictions[c] if c == "M_h" else oracle[c] for c in (x, y)])
            row["D oracle"] = metrics.ks_2d(true, orc)
        rows.append(row)
    return pd.DataFrame(rows).set_index("relation")


def clustering_samples(predictions: pd.DataFrame, oracle: pd.DataFrame | None = None,
                       targets=TARGETS) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The populations whose clustering Fig. 9 compares, as (properties, positions [Mpc/h]).

    ``true``: the true properties at the galaxies' positions; ``raw stack`` and
    ``SMOGN stack`` (and ``oracle`` if given): predicted properties at the
    host haloes' positions.
    """
    halo = predictions[list(HALO_POSITION)].to_numpy()
    samples = {"true": (predictions[list(targets)], predictions[list(GALAXY_POSITION)].to_numpy())}
    for label, path in (("raw stack", "raw"), ("SMOGN stack", "smogn")):
        table = pd.DataFrame({t: predictions[prediction_column(t, path, "stack")].to_numpy() for t in targets})
        samples[label] = (table, halo)
    if oracle is not None:
        samples["oracle"] = (oracle[list(targets)].reset_index(drop=True), halo)
    return samples


def _span(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.min():.3g} – {values.max():.3g}"


def comparison_table(scores: pd.DataFrame, joint: pd.DataFrame, chi2: pd.DataFrame,
                     oracle_scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The closing page's table: this run's headline numbers beside the study's and the oracle's.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`score_table` of this run.
    joint : pandas.DataFrame
        :func:`joint_table` of this run.
    chi2 : pandas.DataFrame
        :func:`hgtools.clustering.chi2_table` of this run (samples "raw stack",
        "SMOGN stack" and possibly "oracle").
    oracle_scores : pandas.DataFrame, optional
        Index: targets; columns ``MSE`` and ``PCC`` of the oracle.

    Returns
    -------
    pandas.DataFrame
        Rows: quantity; columns: this run (raw stack, SMOGN stack), the
        study's published TNG300 values, and the oracle (the best possible).
    """
    rows = []
    stacks = scores[scores["model"] == "stack"].set_index(["target", "path"])
    for metric, column in (("PCC", 1), ("MSE", 0)):
        for t in TARGETS:
            rows.append({"quantity": f"{metric} {t}", "raw stack": f"{stacks.loc[(t, 'raw'), metric]:.3f}",
                         "SMOGN stack": f"{stacks.loc[(t, 'smogn'), metric]:.3f}",
                         "study raw": f"{reference.STUDY_TABLE_B1['raw'][t][column]:.3f}",
                         "study SMOGN": f"{reference.STUDY_TABLE_B1['smogn'][t][column]:.3f}",
                         "oracle": "" if oracle_scores is None else f"{oracle_scores.loc[t, metric]:.3f}"})
    for relation, row in joint.iterrows():
        rows.append({"quantity": f"2D KS D {relation}", "raw stack": f"{row['D raw']:.3f}",
                     "SMOGN stack": f"{row['D smogn']:.3f}", "study raw": f"{row['D raw (study)']:.3f}",
                     "study SMOGN": f"{row['D smogn (study)']:.3f}",
                     "oracle": f"{row['D oracle']:.3f}" if "D oracle" in row else ""})
    for prop in chi2.index.get_level_values("property").unique():
        sub = chi2.xs(prop, level="property")

        def pick(sample, column, scale=1.0, sub=sub):
            part = sub[sub.index.get_level_values("sample") == sample]
            return _span(scale * part[column]) if len(part) else ""

        lo, hi = reference.STUDY_CHI2_RANGE[prop]
        rows.append({"quantity": f"χ² of P(k), {prop} (both bins)", "raw stack": pick("raw stack", "chi2"),
                     "SMOGN stack": pick("SMOGN stack", "chi2"), "study raw": f"{lo:g} – {hi:g} (both stacks)",
                     "study SMOGN": "", "oracle": pick("oracle", "chi2")})
        lo, hi = reference.STUDY_PK_ACCURACY_PERCENT[prop]
        rows.append({"quantity": f"mean |P_pred/P_true − 1| [%], {prop} (detected bandpowers)",
                     "raw stack": pick("raw stack", "mean |ratio - 1|", 100),
                     "SMOGN stack": pick("SMOGN stack", "mean |ratio - 1|", 100),
                     "study raw": f"{lo:g} – {hi:g} (both stacks)", "study SMOGN": "",
                     "oracle": pick("oracle", "mean |ratio - 1|", 100)})
    return pd.DataFrame(rows).set_index("quantity")


def oracle_scores(predictions: pd.DataFrame, oracle: pd.DataFrame, targets=TARGETS) -> pd.DataFrame:
    """MSE and Pearson r of the oracle on the test split, per target."""
    return pd.DataFrame({t: {"MSE": metrics.mse(predictions[t].to_numpy(), oracle[t].to_numpy()),
                             "PCC": metrics.pearson(predictions[t].to_numpy(), oracle[t].to_numpy())}
                         for t in targets}).T


def seed_spread(runs: pd.DataFrame) -> pd.DataFrame:
    """Which differences from the study exceed how much a score moves with the seeds.

    Parameters
    ----------
    runs : pandas.DataFrame
        ``bench/seeds.py``'s table: a ``quantity`` column, one column per run named
        ``"universe U, training T"``, ``range over universe seeds``, ``range over training seeds``
        and ``study (TNG300)`` (empty where the study gives no value).

    Returns
    -------
    pandas.DataFrame
        Per quantity with a study value: the mean over the runs, the study's value, their
        difference, the spread (the larger of the two ranges) and whether the difference exceeds it.
    """
    values = runs[[c for c in runs.columns if c.startswith("universe ")]].apply(pd.to_numeric, errors="coerce")
    study = pd.to_numeric(runs["study (TNG300)"], errors="coerce")
    spread = runs[["range over universe seeds", "range over training seeds"]].apply(pd.to_numeric).max(axis=1)
    mean = values.mean(axis=1)
    out = pd.DataFrame({"quantity": runs["quantity"], "mean over seeds": mean, "study": study,
                        "difference": mean - study, "seed spread": spread})
    out = out[study.notna()].reset_index(drop=True)
    out["exceeds the spread"] = out["difference"].abs() > out["seed spread"]
    return out
