"""The study's four regressors and their linear stack, with scikit-learn's estimator API.

Every model maps the five halo features (``hgtools.catalogue.FEATURES``, in
that order) to one galaxy property.  ``fit(X, y, X_val=None, y_val=None)``:
LightGBM and the Keras network stop early on the validation set (the study's
set-up); ExtraTrees and kNN ignore it.  All are seeded and deterministic.

Trained models are saved in safe, portable formats — scikit-learn objects with
``skops`` (never plain pickle), LightGBM boosters as text, Keras networks as
``.keras`` — beside a JSON card (:func:`save_model`, :func:`load_model`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

#: The four methods, in the study's order.
MODEL_NAMES = ("ERT", "kNN", "LGBM", "NN")


def _check_xy(X, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty 2D array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    if y is None:
        return X, None
    y = np.asarray(y, dtype=float).ravel()
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite values")
    return X, y


class LightGBMRegressor(RegressorMixin, BaseEstimator):
    """LightGBM with MSE loss and early stopping on a validation set.

    Parameters follow the study's model (31 leaves, depth 6, learning rate 0.1);
    at most ``n_estimators`` trees, stopping after ``early_stopping_rounds``
    without improvement of the validation MSE.
    """

    def __init__(self, num_leaves: int = 31, max_depth: int = 6, learning_rate: float = 0.1,
                 n_estimators: int = 2000, early_stopping_rounds: int = 20, min_child_samples: int = 20,
                 random_state: int = 0, n_jobs: int = 2):
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, X_val=None, y_val=None):
        import lightgbm as lgb

        X, y = _check_xy(X, y)
        params = {"objective": "regression", "metric": "l2", "num_leaves": self.num_leaves,
                  "max_depth": self.max_depth, "learning_rate": self.learning_rate,
                  "min_child_samples": self.min_child_samples, "seed": self.random_state,
                  "deterministic": True, "force_row_wise": True, "num_threads": self.n_jobs,
                  "verbosity": -1}
        train = lgb.Dataset(X, y)
        callbacks, valid = [], []
        if X_val is not None:
            X_val, y_val = _check_xy(X_val, y_val)
            valid = [lgb.Dataset(X_val, y_val, reference=train)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster_ = lgb.train(params, train, num_boost_round=self.n_estimators,
                                  valid_sets=valid, callbacks=callbacks)
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "booster_")
        X, _ = _check_xy(X)
        return self.booster_.predict(X, num_iteration=self.best_iteration_)


class KerasRegressor(RegressorMixin, BaseEstimator):
    """A fully connected network: standardised inputs, ReLU hidden layers, linear output, MSE loss.

    The target is standardised too (its training mean and standard deviation
    are stored and undone at prediction), so training starts from a sensible
    scale whatever the property's units.

    Parameters
    ----------
    hidden : tuple of int
        Units of each hidden layer (the study: (32, 32) for M* and colour,
        (64, 32) for sSFR, (128, 64) for radius).
    optimizer : {"adam", "adamax"}
    learning_rate, epochs, batch_size, patience : training set-up; training
        stops when the validation loss has not improved for ``patience``
        epochs and the best weights are kept.
    random_state : int
        Seeds Keras, TensorFlow and NumPy before the network is built, with
        deterministic TensorFlow ops, so a seed gives the same network.
    """

    def __init__(self, hidden: tuple[int, ...] = (32, 32), optimizer: str = "adam",
                 learning_rate: float = 1e-3, epochs: int = 200, batch_size: int = 256,
                 patience: int = 10, random_state: int = 0, verbose: int = 0):
        self.hidden = hidden
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    def _build(self, n_features: int):
        import keras

        keras.utils.set_random_seed(self.random_state)
        try:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        except (ImportError, AttributeError):  # another Keras backend
            pass
        layers = [keras.Input(shape=(n_features,))]
        layers += [keras.layers.Dense(units, activation="relu") for units in self.hidden]
        layers.append(keras.layers.Dense(1))
        model = keras.Sequential(layers)
        optimizers = {"adam": keras.optimizers.Adam, "adamax": keras.optimizers.Adamax}
        if self.optimizer not in optimizers:
            raise ValueError(f"optimizer must be 'adam' or 'adamax', got {self.optimizer!r}")
        model.compile(optimizer=optimizers[self.optimizer](learning_rate=self.learning_rate), loss="mse")
        return model

    def fit(self, X, y, X_val=None, y_val=None):
        import keras

        X, y = _check_xy(X, y)
        self.scaler_ = StandardScaler().fit(X)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std() or 1.0)
        self.network_ = self._build(X.shape[1])
        validation, callbacks = None, []
        if X_val is not None:
            X_val, y_val = _check_xy(X_val, y_val)
            validation = (self.scaler_.transform(X_val), (y_val - self.y_mean_) / self.y_scale_)
            callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                       restore_best_weights=True)]
        history = self.network_.fit(self.scaler_.transform(X), (y - self.y_mean_) / self.y_scale_,
                                    validation_data=validation,
                                    epochs=self.epochs, batch_size=self.batch_size, shuffle=True,
                                    callbacks=callbacks, verbose=self.verbose)
        self.epochs_run_ = len(history.history["loss"])
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "network_")
        X, _ = _check_xy(X)
        z = self.network_.predict(self.scaler_.transform(X), batch_size=4096, verbose=0).ravel()
        return self.y_mean_ + self.y_scale_ * z.astype(float)


class ExtraTreesModel(ExtraTreesRegressor):
    """scikit-learn's ExtraTrees, rejecting non-finite inputs and averaging its trees in a fixed order.

    (scikit-learn's threaded prediction sums the trees in whatever order the
    threads finish, which changes the last bits of the result from run to run.)
    """

    def predict(self, X):
        check_is_fitted(self, "estimators_")
        X = _check_xy(X)[0].astype(np.float32)
        workers = os.cpu_count() if self.n_jobs in (None, -1) else max(1, self.n_jobs)
        with ThreadPoolExecutor(workers) as pool:  # the trees release the GIL; map keeps their order
            per_tree = list(pool.map(lambda tree: tree.predict(X, check_input=False), self.estimators_))
        return np.mean(per_tree, axis=0)


def make_model(name: str, random_state: int = 0, **params) -> BaseEstimator:
    """One of the study's regressors, by name, with the given hyper-parameters.

    ``"ERT"``: :class:`ExtraTreesModel` (scikit-learn's ExtraTrees); ``"kNN"``:
    :class:`sklearn.neighbors.KNeighborsRegressor` on standardised features;
    ``"LGBM"``: :class:`LightGBMRegressor`; ``"NN"``: :class:`KerasRegressor`.
    """
    if name == "ERT":
        return ExtraTreesModel(**{"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 2,
                                      "random_state": random_state, **params})
    if name == "kNN":
        return make_pipeline(StandardScaler(), KNeighborsRegressor(**{"n_neighbors": 30, "n_jobs": 2, **params}))
    if name == "LGBM":
        return LightGBMRegressor(random_state=random_state, **params)
    if name == "NN":
        return KerasRegressor(random_state=random_state, **params)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


def fit_model(model: BaseEstimator, X, y, X_val=None, y_val=None) -> BaseEstimator:
    """Fit any of the models, passing the validation set to those that stop early."""
    if isinstance(model, (LightGBMRegressor, KerasRegressor)):
        return model.fit(X, y, X_val, y_val)
    return model.fit(*_check_xy(X, y))


class StackedModel(RegressorMixin, BaseEstimator):
    """The study's stack: a linear regression on the base models' predictions.

    The base models are already fitted (on the training set); :meth:`fit`
    fits only the :class:`~sklearn.linear_model.LinearRegression`, on the
    validation set.
    """

    def __init__(self, base_models: dict[str, BaseEstimator]):
        self.base_models = base_models

    def base_predictions(self, X) -> np.ndarray:
        """(n, n_models) predictions of the base models, in the order of ``base_models``."""
        return np.column_stack([m.predict(X) for m in self.base_models.values()])

    def fit(self, X_val, y_val):
        X_val, y_val = _check_xy(X_val, y_val)
        base = self.base_predictions(X_val)
        self.linear_ = LinearRegression().fit(base, y_val)
        self.validation_mse_ = float(np.mean((self.linear_.predict(base) - y_val) ** 2))
        self.coefficients_ = dict(zip(self.base_models, self.linear_.coef_.tolist(), strict=True))
        self.intercept_ = float(self.linear_.intercept_)
        return self

    def predict(self, X):
        check_is_fitted(self, "linear_")
        return self.linear_.predict(self.base_predictions(_check_xy(X)[0]))


# ---------------------------------------------------------------------------
# saving and loading
# ---------------------------------------------------------------------------

def _dump_sklearn(obj, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


#: Types beyond skops' defaults that hgtools' own model files contain; anything else is refused.
TRUSTED_TYPES = ["hgtools.models.ExtraTreesModel", "sklearn.tree._tree.Tree",
                 "sklearn.neighbors._kd_tree.KDTree", "sklearn.metrics._dist_metrics.EuclideanDistance64"]


def _load_sklearn(path: Path):
    import skops.io as sio

    unknown = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if unknown:
        raise ValueError(f"{path} holds types hgtools does not trust: {', '.join(unknown)}")
    return sio.load(path, trusted=TRUSTED_TYPES)


def save_model(model: BaseEstimator, folder: str | os.PathLike, card: dict) -> Path:
    """Write a fitted model and its JSON card into ``folder`` (replaced atomically).

    The card (plain data: target, training path, features, hyper-parameters,
    scores, data source, ...) gets the model's kind and the library versions.
    """
    from importlib.metadata import version

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        card = {**card, "versions": {p: version(p) for p in ("scikit-learn", "lightgbm", "keras", "skops")}}
        if isinstance(model, StackedModel):
            card["kind"] = "stack"
            card["base_models"] = list(model.base_models)
            for name, base in model.base_models.items():
                save_model(base, tmp / name, {"name": name})
            _dump_sklearn(model.linear_, tmp / "linear.skops")
            card["coefficients"], card["intercept"] = model.coefficients_, model.intercept_
        elif isinstance(model, LightGBMRegressor):
            card["kind"] = "lightgbm"
            model.booster_.save_model(str(tmp / "booster.txt"), num_iteration=model.best_iteration_)
        elif isinstance(model, KerasRegressor):
            card["kind"] = "keras"
            card["target_scaling"] = {"mean": model.y_mean_, "scale": model.y_scale_}
            model.network_.save(tmp / "network.keras")
            _dump_sklearn(model.scaler_, tmp / "scaler.skops")
        else:
            card["kind"] = "sklearn"
            _dump_sklearn(model, tmp / "model.skops")
        card["params"] = plain_params(model)
        (tmp / "card.json").write_text(json.dumps(card, indent=1, default=_plain))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_model(folder: str | os.PathLike) -> tuple[BaseEstimator, dict]:
    """Read a model written by :func:`save_model`; return it with its card."""
    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.exists():
        raise FileNotFoundError(f"no model card at {card_path}")
    card = json.loads(card_path.read_text())
    kind = card.get("kind")
    if kind == "stack":
        bases = {name: load_model(folder / name)[0] for name in card["base_models"]}
        model = StackedModel(bases)
        model.linear_ = _load_sklearn(folder / "linear.skops")
        model.coefficients_, model.intercept_ = card["coefficients"], card["intercept"]
    elif kind == "lightgbm":
        import lightgbm as lgb

        model = LightGBMRegressor(**card["params"])
        model.booster_ = lgb.Booster(model_file=str(folder / "booster.txt"))
        model.best_iteration_ = model.booster_.current_iteration()
        model.n_features_in_ = model.booster_.num_feature()
    elif kind == "keras":
        import keras

        params = {**card["params"], "hidden": tuple(card["params"]["hidden"])}
        model = KerasRegressor(**params)
        model.network_ = keras.saving.load_model(folder / "network.keras")
        model.scaler_ = _load_sklearn(folder / "scaler.skops")
        model.y_mean_, model.y_scale_ = card["target_scaling"]["mean"], card["target_scaling"]["scale"]
        model.n_features_in_ = int(model.scaler_.n_features_in_)
    elif kind == "sklearn":
        model = _load_sklearn(folder / "model.skops")
    else:
        raise ValueError(f"{card_path}: unknown model kind {kind!r}")
    return model, card


def predict_with_set(folder: str | os.PathLike, halos: pd.DataFrame) -> pd.DataFrame:
    """Apply a saved set of models to a table of haloes.

    ``folder`` holds one saved :class:`StackedModel` per target (sub-folders
    written by :func:`save_model` with a card naming its ``target``).  The
    table needs the five halo features; the result has, per target, one column
    per base model (``<target>_<model>``) and the stack's prediction (``<target>``),
    plus ``ID`` when the input has it.
    """
    from hgtools.catalogue import FEATURES, validate

    validate(halos, columns=FEATURES)
    folder = Path(folder)
    stacks = sorted(p.parent for p in folder.glob("*/card.json")
                    if json.loads(p.read_text()).get("kind") == "stack")
    if not stacks:
        raise FileNotFoundError(f"no saved stack (*/card.json of kind 'stack') in {folder}")
    X = halos[list(FEATURES)].to_numpy(dtype=float)
    out = pd.DataFrame({"ID": halos["ID"].to_numpy()}) if "ID" in halos else pd.DataFrame(index=range(len(X)))
    for path in stacks:
        stack, card = load_model(path)
        target = card.get("target", path.name)
        base = stack.base_predictions(X)
        for j, name in enumerate(stack.base_models):
            out[f"{target}_{name}"] = base[:, j]
        out[target] = stack.linear_.predict(base)
    return out


def plain_params(model: BaseEstimator) -> dict:
    """The hyper-parameters of a model that are plain data (numbers, strings, tuples of numbers)."""
    if isinstance(model, StackedModel):
        return {}
    out = {}
    for key, value in model.get_params(deep=True).items():
        if isinstance(value, (int, float, str, bool, type(None))) or (
                isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)):
            out[key] = value
    return out


def _plain(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


__all__ = ["MODEL_NAMES", "ExtraTreesModel", "KerasRegressor", "LightGBMRegressor", "StackedModel", "fit_model",
           "load_model", "make_model", "plain_params", "predict_with_set", "save_model"]
