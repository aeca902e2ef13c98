"""Scores of the trained models on the test split, beside the study's numbers and the oracle.

Predictions come from :func:`hgtools.training.train` (columns ``target|path|model``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgtools import metrics, reference
from hgtools.catalogue import TARGETS

MODELS_AND_STACK = ("ERT", "kNN", "LGBM", "NN", "stack")


def score_table(predictions: pd.DataFrame, targets=TARGETS, paths=("raw", "smogn")) -> pd.DataFrame:
    """MSE, Pearson r and 1D KS of every model and stack, per target and path."""
    rows = []
    for target in targets:
        truth = predictions[target].to_numpy()
        for path in paths:
            for model in MODELS_AND_STACK:
                pred = predictions[f"{target}|{path}|{model}"].to_numpy()
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
            pred = predictions[f"{target}|{path}|stack"].to_numpy()
            for name, score in (("MSE", metrics.mse), ("PCC", metrics.pearson), ("KS", metrics.ks_1d)):
                value, lo, hi = metrics.bootstrap_interval(score, truth, pred, n_boot=n_boot, seed=seed)
                row[f"{name} {path}"] = value
                row[f"{name} {path} 68%"] = f"[{lo:.4f}, {hi:.4f}]"
            row[f"MSE {path} (study)"], row[f"PCC {path} (study)"] = reference.STUDY_TABLE_B1[path][target]
        if oracle is not None:
            row["MSE oracle"] = metrics.mse(truth, oracle[target].to_numpy())
            row["PCC oracle"] = metrics.pearson(truth, oracle[target].to_numpy())
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
            cols = [c if c == "M_h" else f"{c}|{path}|stack" for c in (x, y)]
            row[f"D {path}"] = metrics.ks_2d(true, predictions[cols].to_numpy())
        row["D raw (study)"], row["D smogn (study)"] = reference.STUDY_TABLE_1[(x, y)]
        if oracle is not None:
            orc = np.column_stack([predictions[c] if c == "M_h" else oracle[c] for c in (x, y)])
            row["D oracle"] = metrics.ks_2d(true, orc)
        rows.append(row)
    return pd.DataFrame(rows).set_index("relation")
