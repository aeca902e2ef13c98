"""Train the study's models on both paths, once, and cache them.

For each target: the four models are fitted on the training split ("raw"
path) or on its SMOGN augmentation ("smogn" path), their hyper-parameters
chosen on the validation split from small grids (the run's ``sizes.grids``), and a linear
stack is fitted on their validation predictions.  Validation and test splits
are never augmented.  Everything is written under a cache folder keyed by the
catalogue and the settings, so a later chapter reuses it instead of training
again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hgtools import models
from hgtools.catalogue import FEATURES, GALAXY_INPUTS, SCHEMA, TARGETS, prediction_column, split
from hgtools.config import DEFAULT_SEED, FULL
from hgtools.io import atomic_write
from hgtools.parallel import call, run_concurrently
from hgtools.smogn import STUDY_SETTINGS, plan, smoter

PATHS = ("raw", "smogn")
#: Hidden layers of the study's networks, per target.
NN_ARCHITECTURES = {"stellar_mass": (32, 32), "sSFR": (64, 32), "radius": (128, 64), "color": (32, 32)}


@dataclass(frozen=True)
class TrainingConfig:
    """Settings of a training run (plain data; part of its cache key).

    ``grids`` holds the hyper-parameter grids per model (:data:`hgtools.config.FULL`'s by default);
    ``models`` the base models searched and stacked (all four of the study by default).
    """

    seed: int = DEFAULT_SEED
    grids: dict = field(default_factory=lambda: dict(FULL.grids))
    smogn_compat: str | None = None
    targets: tuple[str, ...] = TARGETS
    paths: tuple[str, ...] = PATHS
    models: tuple[str, ...] = models.MODEL_NAMES

    def __post_init__(self):
        unknown = [m for m in self.models if m not in models.MODEL_NAMES]
        if unknown or not self.models:
            raise ValueError(f"models must be some of {', '.join(models.MODEL_NAMES)}, got {self.models!r}")

    @classmethod
    def from_run(cls, config, **settings) -> TrainingConfig:
        """The training settings of a :class:`hgtools.config.RunConfig` (training seed and grids), with overrides."""
        return cls(**{"seed": config.training_seed, "grids": config.sizes.grids, **settings})

    def grid(self, name: str) -> list[dict]:
        return self.grids[name]

    def identity(self) -> dict:
        """Plain data that decides the trained models (with the architectures of the networks)."""
        return {**asdict(self), "nn": NN_ARCHITECTURES}


def smogn_settings(target: str, y_train: np.ndarray, compat: str | None = None) -> tuple[dict | None, str]:
    """The study's SMOGN settings for a target, and a note saying what was used.

    The study's manual control points were chosen on TNG300's distributions; if
    on these data they fail (every galaxy equally relevant) or, for the
    published algorithm, leave nothing to resample (e.g. the bulk of the
    galaxies is "rare" and the only normal bin holds a handful of rows),
    automatic (box-plot) relevance is tried; if that fails too, the training
    set is left as it is (``None``).  ``compat`` is the SMOGN mode
    (:func:`hgtools.smogn.smoter`); the package's mode gets the study's settings
    whatever they do, as the study ran them.
    """
    study = dict(STUDY_SETTINGS[target])
    auto = {"k": study["k"], "pert": study["pert"], "samp_method": study["samp_method"], "rel_method": "auto"}
    failures = []
    for settings, label in ((study, "the study's settings"), (auto, "automatic (box-plot) relevance")):
        try:
            p = plan(y_train, **{k: v for k, v in settings.items() if k not in ("k", "pert", "samp_method")})
        except ValueError as err:
            failures.append(f"{label}: {err}")
            continue
        if compat is None and not p.changes(settings["k"]):
            sizes = ", ".join(f"{kind} {n:,}" for kind, n in zip(np.where(p.rare, "rare", "normal"), p.sizes,
                                                                strict=True))
            failures.append(f"{label}: leave nothing to resample (bins of {sizes} rows)")
            continue
        return settings, label + (f" ({'; '.join(failures)})" if failures else "")
    return None, "no augmentation: " + "; ".join(failures)


def smogn_bins(train: pd.DataFrame, targets: tuple[str, ...] = TARGETS) -> pd.DataFrame:
    """Every SMOGN bin of every target's training values, under the settings :func:`smogn_settings` picks.

    One row per (target, bin): kind, target range (the target's unit), rows
    before and after the published algorithm, the "balance" factor and the one
    applied (:meth:`hgtools.smogn.Plan.table`).
    """
    tables = {}
    for target in targets:
        y = train[target].to_numpy()
        settings, _ = smogn_settings(target, y)
        if settings is None:
            continue
        p = plan(y, **{k: v for k, v in settings.items() if k not in ("k", "pert", "samp_method")})
        tables[target] = p.table(y[p.order], settings["k"])
    return pd.concat(tables, names=["target", None]).reset_index(level=1, drop=True)


def search(name: str, grid: list[dict], X, y, X_val, y_val, seed: int, target: str) -> tuple:
    """Fit every grid point, keep the one with the lowest validation MSE.

    Returns the best fitted model, its validation MSE and one row per grid point
    (params, MSE, where early stopping stopped, seconds).
    """
    best, best_mse, rows = None, np.inf, []
    for params in grid:
        if name == "NN":
            params = {"hidden": NN_ARCHITECTURES[target], **params}
        t0 = time.perf_counter()
        model = models.fit_model(models.make_model(name, seed, **params), X, y, X_val, y_val)
        mse = float(np.mean((model.predict(X_val) - y_val) ** 2))
        stopped = getattr(model, "best_iteration_", getattr(model, "epochs_run_", None))
        rows.append({"model": name, "params": json.dumps(params), "validation MSE": mse,
                     "stopped at (trees or epochs)": stopped, "seconds": round(time.perf_counter() - t0, 2)})
        if mse < best_mse:
            best, best_mse = model, mse
    return best, best_mse, rows


@dataclass
class TrainingResult:
    """What a training run produced (all of it read back from the cache folder)."""

    folder: Path
    predictions: pd.DataFrame  # the test split: ID, features, true targets, positions, predictions
    search: pd.DataFrame  # every grid point tried
    coefficients: pd.DataFrame  # stack coefficients per target and path
    augmented: pd.DataFrame  # SMOGN-augmented training targets (long format: target, value)
    notes: dict  # SMOGN settings used per target
    seconds: float


def train(catalogue: pd.DataFrame, metadata: dict, config: TrainingConfig | None = None, *,
          folder: str | Path, workers: int | None = None, card: dict | None = None,
          alongside: Sequence[tuple[Callable, dict]] = ()) -> TrainingResult:
    """Train every model of both paths for every target, into ``folder`` (or load it if it is complete).

    ``folder`` is named by the caller after everything the models depend on
    (:meth:`hgtools.pipeline.Run.train` uses :func:`hgtools.artefacts.cache_key`);
    it is written atomically, so it either holds a finished run or does not exist.
    The (path, target) steps run on ``workers`` processes (default: one per
    core; :func:`run_concurrently`), with the same results as one process.
    ``card`` (plain data, e.g. the run configuration and the cache key) is
    recorded in the folder's ``done.json``.

    ``alongside``: other independent fits, as (function, keyword arguments),
    that join the same pool before the steps — e.g. the density models
    (:meth:`hgtools.pipeline.Run.fit_models`), whose longest fit then runs on
    one core while the steps fill the other.  Their results are dropped (they
    save what they fit); nothing of them runs if the training run is cached.
    The recorded ``seconds`` are then the whole pool's (``done.json`` names the
    functions that ran alongside).
    """
    config = TrainingConfig() if config is None else config
    folder = Path(folder)
    if (folder / "done.json").exists():
        return load(folder)
    with atomic_write(folder, folder=True) as tmp:
        _train_into(tmp, catalogue, metadata, config, workers, card or {}, alongside)
    return load(folder)


def _train_into(tmp: Path, catalogue: pd.DataFrame, metadata: dict, config: TrainingConfig,
                workers: int | None, card: dict, alongside: Sequence[tuple[Callable, dict]]) -> None:
    t_start = time.perf_counter()
    parts = split(catalogue, config.seed)
    train_rows, val_rows, test_rows = (catalogue.iloc[p] for p in (parts.train, parts.validation, parts.test))
    X_val, X_test = val_rows[list(FEATURES)].to_numpy(), test_rows[list(FEATURES)].to_numpy()
    predictions = test_rows[["ID", *FEATURES, *config.targets, "sfr_zero", "X_h", "Y_h", "Z_h",
                             "x_g", "y_g", "z_g"]].reset_index(drop=True)
    steps = [dict(path=path, target=target, data=train_rows[[*FEATURES, target]].reset_index(drop=True),
                  X_val=X_val, y_val=val_rows[target].to_numpy(), X_test=X_test, config=config,
                  folder=tmp / "models" / path / target, source=metadata.get("source"))
             for path in config.paths for target in config.targets]
    searched, coefficients, augmented, notes = [], [], [], {}
    jobs = [{"function": f, "kwargs": kwargs} for f, kwargs in alongside]
    jobs += [{"function": _fit_step, "kwargs": step} for step in steps]
    outputs = run_concurrently(call, jobs, workers, "training" + (" and alongside" if alongside else ""))
    for step, out in zip(steps, outputs[len(alongside):], strict=True):
        path, target = step["path"], step["target"]
        searched += out["searched"]
        coefficients.append(out["coefficients"])
        if path == "smogn":
            notes[target] = out["note"]
            augmented.append(pd.DataFrame({"target": target, "value": out["augmented"]}))
        for name, values in out["predictions"].items():
            predictions[prediction_column(target, path, name)] = values
    predictions.to_parquet(tmp / "predictions.parquet")
    pd.DataFrame(searched).to_parquet(tmp / "search.parquet")
    pd.DataFrame(coefficients).to_parquet(tmp / "coefficients.parquet")
    pd.concat(augmented or [pd.DataFrame({"target": [], "value": []})]).to_parquet(tmp / "augmented.parquet")
    seconds = time.perf_counter() - t_start
    (tmp / "done.json").write_text(json.dumps({**card, "notes": notes, "seconds": round(seconds, 1),
                                               "alongside": [f"{f.__module__}.{f.__qualname__}" for f, _ in alongside],
                                               "config": asdict(config), "source": metadata.get("source")},
                                              default=str, indent=1))


def _fit_step(path: str, target: str, data: pd.DataFrame, X_val: np.ndarray, y_val: np.ndarray,
              X_test: np.ndarray, config: TrainingConfig, folder: Path, source: str | None) -> dict:
    """One (path, target) of a training run: SMOGN if asked, the four searches, the stack, saved to ``folder``.

    Independent of every other step (its own seeds), so steps may run in any
    order or process and give the same models.
    """
    note = None
    if path == "smogn":
        settings, note = smogn_settings(target, data[target].to_numpy(), config.smogn_compat)
        if settings is not None:
            try:
                data = smoter(data, target, seed=config.seed, compat=config.smogn_compat, **settings)
            except ValueError as err:  # e.g. smogn 0.1.2 cannot handle a rare bin smaller than k
                note = f"no augmentation: SMOGN ({config.smogn_compat or 'published'}) failed: {err}"
    X, y = data[list(FEATURES)].to_numpy(), data[target].to_numpy()
    fitted, val_scores, searched = {}, {}, []
    for name in config.models:
        fitted[name], val_scores[name], rows = search(name, config.grid(name), X, y, X_val, y_val,
                                                      config.seed, target)
        searched += [{"path": path, "target": target, "training rows": len(y), **r} for r in rows]
    stack = models.StackedModel(fitted).fit(X_val, y_val)
    base = stack.base_predictions(X_test)
    val_scores["stack"] = stack.validation_mse_
    models.save_model(stack, folder,
                      {"target": target, "path": path, "features": list(FEATURES),
                       "feature_units": {f: SCHEMA[f].unit for f in FEATURES},
                       "source": source, "training_rows": len(y),
                       "scores": {"validation MSE": val_scores},
                       "hyper_parameters": {n: models.plain_params(m) for n, m in fitted.items()},
                       "smogn": note})
    return {"searched": searched, "note": note, "augmented": data[target].to_numpy(),
            "coefficients": {"path": path, "target": target, **stack.coefficients_, "intercept": stack.intercept_},
            "predictions": {**{name: base[:, j] for j, name in enumerate(config.models)},
                            "stack": stack.linear_.predict(base)}}


def load(folder: str | Path) -> TrainingResult:
    """Read a finished training run from its cache folder."""
    folder = Path(folder)
    done = json.loads((folder / "done.json").read_text())
    return TrainingResult(folder=folder, predictions=pd.read_parquet(folder / "predictions.parquet"),
                          search=pd.read_parquet(folder / "search.parquet"),
                          coefficients=pd.read_parquet(folder / "coefficients.parquet"),
                          augmented=pd.read_parquet(folder / "augmented.parquet"),
                          notes=done["notes"], seconds=done["seconds"])


def train_with_galaxy_inputs(catalogue: pd.DataFrame, config: TrainingConfig | None = None,
                             workers: int | None = None) -> pd.DataFrame:
    """The study's Fig. 10 experiment: a network given the halo *and* the other galaxy properties.

    For each target, a :class:`hgtools.models.KerasRegressor` (the target's
    architecture, :data:`NN_ARCHITECTURES`) is trained on the training split
    with the five halo features plus the three other galaxy properties as
    inputs, stopped early on the validation split, and applied to the test split.
    The four networks train side by side on ``workers`` processes (:func:`run_concurrently`).

    Returns
    -------
    pandas.DataFrame
        The test split's ``ID``, true targets and one ``prediction_column(target, GALAXY_INPUTS, "NN")``
        column per target.
    """
    config = TrainingConfig() if config is None else config
    parts = split(catalogue, config.seed)
    train_rows, val_rows, test_rows = (catalogue.iloc[p] for p in (parts.train, parts.validation, parts.test))
    out = test_rows[["ID", *config.targets]].reset_index(drop=True)
    tasks = []
    for target in config.targets:
        inputs = [*FEATURES, *(t for t in TARGETS if t != target)]
        tasks.append(dict(params={"hidden": NN_ARCHITECTURES[target], **config.grid("NN")[0]}, seed=config.seed,
                          X=train_rows[inputs].to_numpy(), y=train_rows[target].to_numpy(),
                          X_val=val_rows[inputs].to_numpy(), y_val=val_rows[target].to_numpy(),
                          X_test=test_rows[inputs].to_numpy()))
    predicted = run_concurrently(_fit_network, tasks, workers, "networks with galaxy inputs")
    for target, values in zip(config.targets, predicted, strict=True):
        out[prediction_column(target, GALAXY_INPUTS, "NN")] = values
    return out


def _fit_network(params: dict, seed: int, X, y, X_val, y_val, X_test) -> np.ndarray:
    model = models.fit_model(models.make_model("NN", seed, **params), X, y, X_val, y_val)
    return model.predict(X_test)
