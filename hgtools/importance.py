"""Permutation feature importance (the study's Section 4.2), with scikit-learn.

The importance of a feature is the rise of the mean squared error on the test
split when that feature's column is shuffled (Breiman 2001), averaged over
``n_repeats`` seeded shuffles; the spread of the repeats is kept.  The study
used eli5's ``PermutationImportance``, which computes the same quantity; here it
is :func:`sklearn.inspection.permutation_importance` with
``scoring="neg_mean_squared_error"``.

Two uses: the halo features of every trained model (Fig. 7, normalised to halo
mass), and the four base-model predictions as the "features" of each linear
stack (Fig. 8, normalised to LightGBM).  On the embedded universe the same
measure applied to the oracle (the generator's own conditional mean) shows
which features truly matter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.inspection import permutation_importance as _sklearn_permutation_importance
from tqdm.auto import tqdm

from hgtools import models
from hgtools.catalogue import FEATURES, TARGETS, parse_prediction_column, prediction_column
from hgtools.io import report


class FunctionRegressor(RegressorMixin, BaseEstimator):
    """A fixed function of the features as a (pre-fitted) scikit-learn regressor.

    ``fit`` does nothing; ``predict(X)`` returns ``function(X)``.  Used to measure
    the importances of a known law (e.g. the embedded universe's oracle) the
    same way as those of a trained model.
    """

    def __init__(self, function=None):
        self.function = function

    def fit(self, X=None, y=None):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(self.function(np.asarray(X, dtype=float)), dtype=float)


def permutation_importance(model, X, y, *, feature_names=None, n_repeats: int = 5, seed: int = 0,
                           n_jobs: int | None = None) -> pd.DataFrame:
    """Rise of the MSE when each feature is shuffled.

    Parameters
    ----------
    model : fitted regressor
        Anything with ``predict(X)``.
    X : array_like, shape (n, n_features)
        Inputs of the evaluation set (the test split).
    y : array_like, shape (n,)
        True values, in the target's units.
    feature_names : sequence of str, optional
        Names of the columns of ``X`` (default ``x0, x1, ...``).
    n_repeats : int
        Shuffles per feature.
    seed : int
        Seed of the shuffles.
    n_jobs : int, optional
        Parallel jobs of scikit-learn (``None``: one).

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``importance`` (mean rise of the MSE, in the
        target's units squared), ``std`` (spread over the repeats),
        ``baseline MSE``, and the ``rows`` and ``repeats`` used.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if X.ndim != 2 or len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X must be a non-empty 2D array with one row per value of y; got {X.shape} and {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X or y holds NaN or infinite values")
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} feature names for {X.shape[1]} columns")
    if n_repeats < 2:
        raise ValueError("n_repeats must be >= 2 to measure a spread")
    result = _sklearn_permutation_importance(model, X, y, scoring="neg_mean_squared_error",
                                             n_repeats=n_repeats, random_state=seed, n_jobs=n_jobs)
    baseline = float(np.mean((model.predict(X) - y) ** 2))
    return pd.DataFrame({"importance": result.importances_mean, "std": result.importances_std,
                         "baseline MSE": baseline, "rows": len(y), "repeats": n_repeats},
                        index=pd.Index(names, name="feature"))


def relative(table: pd.DataFrame, reference: str, by=("target", "path", "model")) -> pd.DataFrame:
    """Importances in per cent of a reference feature's, within each group of ``by``.

    Adds ``relative %`` and ``relative std %`` columns to a long table with
    ``feature``, ``importance`` and ``std`` columns; they are NaN in a group
    where the reference's importance is not positive.
    """
    out = table.copy()
    ref = out[out["feature"] == reference].set_index(list(by))["importance"]
    if ref.empty:
        raise ValueError(f"reference feature {reference!r} not in the table")
    scale = np.array(out.set_index(list(by)).index.map(ref), dtype=float)
    scale[~(scale > 0)] = np.nan  # a reference that does not matter cannot set the scale
    out["relative %"] = 100.0 * out["importance"].to_numpy() / scale
    out["relative std %"] = 100.0 * out["std"].to_numpy() / scale
    return out


def model_importances(models_folder: str | Path, predictions: pd.DataFrame, *, targets=TARGETS,
                      paths=("raw", "smogn"), n_repeats: int = 5, max_rows: int | None = 20_000,
                      seed: int = 0, oracle=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 7 and Fig. 8: importances of the halo features and of the stacked models.

    Parameters
    ----------
    models_folder : path
        ``<training folder>/models`` holding ``<path>/<target>`` stacks
        (:func:`hgtools.training.train`).
    predictions : pandas.DataFrame
        The test split with the features, true targets and the base models'
        predictions (``target|path|model`` columns).
    targets, paths : sequences of str
        What to measure.
    n_repeats : int
        Shuffles per feature.
    max_rows : int, optional
        Measure the halo-feature importances on a seeded random subset of this
        many test galaxies (``None``: all); the stack importances always use
        the whole test split (they need no model evaluation beyond a linear map).
    seed : int
        Seed of the subset and of the shuffles.
    oracle : callable, optional
        ``oracle(features_table) -> table of targets``; if given, its
        importances are added with ``path == "truth"`` and ``model == "oracle"``.

    Returns
    -------
    features, stacks : pandas.DataFrame
        Long tables (target, path, model, feature, importance, std, baseline MSE, rows, repeats).
    """
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(predictions))[:max_rows] if max_rows else np.arange(len(predictions))
    subset = predictions.iloc[np.sort(rows)]
    X = subset[list(FEATURES)].to_numpy()
    t0 = time.perf_counter()
    tasks = [dict(folder=Path(models_folder) / path / target, target=target, path=path, X=X,
                  y=subset[target].to_numpy(), y_all=predictions[target].to_numpy(),
                  base=predictions[[c for c in predictions
                                    if (parse_prediction_column(c) or ())[:2] == (target, path)]],
                  n_repeats=n_repeats, seed=seed)
             for target in targets for path in paths]
    measured = [_stack_importances(**task) for task in tqdm(tasks, desc="permutation importance", unit="stack")]
    feature_frames = [frame for frames, _ in measured for frame in frames]
    stack_frames = [stack for _, stack in measured]
    if oracle is not None:
        for target in targets:
            law = FunctionRegressor(lambda a, t=target: oracle(pd.DataFrame(a, columns=list(FEATURES)))[t])
            table = permutation_importance(law, X, subset[target].to_numpy(), feature_names=FEATURES,
                                           n_repeats=n_repeats, seed=seed)
            feature_frames.append(table.reset_index().assign(target=target, path="truth", model="oracle"))
    columns = ["target", "path", "model", "feature", "importance", "std", "baseline MSE", "rows", "repeats"]
    features = pd.concat(feature_frames, ignore_index=True)[columns]
    stacks = pd.concat(stack_frames, ignore_index=True)[columns]
    report(f"permutation importance: {len(feature_frames)} models on {len(subset)} test galaxies, "
           f"{len(stack_frames)} stacks, in {time.perf_counter() - t0:.1f} s")
    return features, stacks


def _stack_importances(folder: Path, target: str, path: str, X: np.ndarray, y: np.ndarray, y_all: np.ndarray,
                       base: pd.DataFrame, n_repeats: int, seed: int) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """The halo-feature importances of one saved stack's base models, and its base models' importances."""
    stack, _ = models.load_model(folder)
    frames = [permutation_importance(model, X, y, feature_names=FEATURES, n_repeats=n_repeats, seed=seed)
              .reset_index().assign(target=target, path=path, model=name)
              for name, model in stack.base_models.items()]
    names = list(stack.base_models)
    table = permutation_importance(stack.linear_, base[[prediction_column(target, path, n) for n in names]].to_numpy(),
                                   y_all, feature_names=names, n_repeats=n_repeats, seed=seed)
    return frames, table.reset_index().assign(target=target, path=path, model="stack")
