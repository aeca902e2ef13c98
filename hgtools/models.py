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
        deterministic TensorFlow ops, and shuffles the batches, so a seed gives
        the same network.

    Notes
    -----
    Training runs one compiled TensorFlow function per epoch (shuffled
    batches, one Adam update each; the last batch may be shorter), instead of
    Keras' ``fit``: these networks are so small that ``fit``'s work around
    each batch, not the arithmetic, sets the time of an epoch.  On the
    full-size catalogue of seed 0 (84,612 training rows, batches of 1,024)
    the book's networks for M*, sSFR, R and colour fitted in 17.3, 4.5, 10.0
    and 6.8 s instead of 39.9, 17.4, 34.8 and 29.5 s with ``fit``, to
    test MSEs within 0.9 % of those (one process, one fit after the other,
    2026-11-27).  The network, optimiser, loss (MSE) and early stopping
    (``patience`` epochs on the validation loss, best weights kept) are
    Keras' own.  ``history_`` holds each epoch's training and validation loss.
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
        model.optimizer.build(model.trainable_variables)  # its slots exist before the training step is traced
        return model

    def fit(self, X, y, X_val=None, y_val=None):
        from tqdm.auto import tqdm

        X, y = _check_xy(X, y)
        self.scaler_ = StandardScaler().fit(X)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std() or 1.0)
        self.network_ = self._build(X.shape[1])
        epoch = _epoch_function(self.network_, *self._inputs(X, y), int(self.batch_size))
        validation = None
        if X_val is not None:
            validation = _loss_function(self.network_, *self._inputs(*_check_xy(X_val, y_val)))
        weights = self.network_.weights
        rng = np.random.default_rng([int(self.random_state), 0x4E4E])
        best, best_weights, waited, self.history_ = np.inf, None, 0, []
        for _ in tqdm(range(int(self.epochs)), desc="network", unit="epoch", disable=not self.verbose):
            train = float(epoch(rng.permutation(len(X)).astype(np.int32)))
            score = float(validation()) if validation is not None else None
            self.history_.append({"train": train, "validation": score})
            if not np.isfinite(train):
                raise RuntimeError(f"training the network diverged (loss {train})")
            if validation is None:
                continue
            if score < best:
                best, best_weights, waited = score, [w.numpy() for w in weights], 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_weights is not None:
            for w, value in zip(weights, best_weights):
                w.assign(value)
        self.epochs_run_ = len(self.history_)
        self.n_features_in_ = X.shape[1]
        return self

    def _inputs(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised inputs and target in float32, the network's own precision.

        Keras would cast float64 arrays batch by batch (to the same values),
        which costs more than the arithmetic of these small networks.
        """
        return (self.scaler_.transform(X).astype(np.float32),
                ((y - self.y_mean_) / self.y_scale_).astype(np.float32))

    def predict(self, X):
        check_is_fitted(self, "network_")
        X, _ = _check_xy(X)
        if getattr(self, "_forward_network", None) is not self.network_:  # one traced function per network
            self._forward_network, self._forward = self.network_, _forward_function(self.network_)
        rows = self.scaler_.transform(X).astype(np.float32)
        z = np.concatenate([self._forward(rows[i:i + FORWARD_ROWS]).numpy().ravel()
                            for i in range(0, len(rows), FORWARD_ROWS)])
        return self.y_mean_ + self.y_scale_ * z.astype(float)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_forward", None)  # a traced function: made again at the next prediction
        state.pop("_forward_network", None)
        return state


#: Rows per call of a network's forward pass (bounds its memory on large tables).
FORWARD_ROWS = 1 << 16


def _forward_function(network):
    """The network's forward pass as one compiled function of float32 rows, for any number of rows.

    Keras' ``predict`` retraces for new batch shapes and adds its own work
    around each batch, which dominates for these small networks.
    """
    import tensorflow as tf

    return tf.function(lambda rows: network(rows, training=False), autograph=False,
                       input_signature=[tf.TensorSpec([None, network.input_shape[-1]], tf.float32)])


def _epoch_function(network, x: np.ndarray, y: np.ndarray, batch_size: int):
    """One compiled training epoch of ``network`` on rows ``x`` and targets ``y`` (float32).

    The returned function takes the epoch's order of the rows (int32) and
    makes one update of the network's compiled optimiser per batch of
    ``batch_size`` rows in that order (the last may be shorter), minimising
    the mean squared error; it returns the mean of the batches' losses.
    """
    import tensorflow as tf

    x, y = tf.constant(x), tf.constant(y[:, None])
    n_batches = -(-len(x) // batch_size)
    weights, optimizer = network.trainable_variables, network.optimizer

    def update(i, total, order):
        rows = order[i * batch_size:(i + 1) * batch_size]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(network(tf.gather(x, rows), training=True) - tf.gather(y, rows)))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return i + 1, total + loss, order

    @tf.function(input_signature=[tf.TensorSpec([len(x)], tf.int32)], autograph=False)
    def epoch(order):
        _, total, _ = tf.while_loop(lambda i, total, order: i < n_batches, update,
                                    (tf.constant(0), tf.constant(0.0), order))
        return total / n_batches

    return epoch


def _loss_function(network, x: np.ndarray, y: np.ndarray):
    """The network's mean squared error on rows ``x`` and targets ``y`` (float32), as a compiled function."""
    import tensorflow as tf

    x, y = tf.constant(x), tf.constant(y[:, None])
    return tf.function(lambda: tf.reduce_mean(tf.square(network(x, training=False) - y)), autograph=False)


def _threads(n_jobs: int | None) -> int:
    """Threads a model's prediction uses: ``n_jobs`` (None or -1: every core), one in a daemon process.

    A Dask worker is a daemon process of one thread; it paints one partition
    while its neighbours paint theirs, so more threads would only compete.
    """
    import multiprocessing

    if multiprocessing.current_process().daemon:
        return 1
    return (os.cpu_count() or 1) if n_jobs in (None, -1) else max(1, n_jobs)


class ExtraTreesModel(ExtraTreesRegressor):
    """scikit-learn's ExtraTrees, rejecting non-finite inputs and averaging its trees in a fixed order.

    (scikit-learn's threaded prediction sums the trees in whatever order the
    threads finish, which changes the last bits of the result from run to run.)
    """

    def predict(self, X):
        check_is_fitted(self, "estimators_")
        X = _check_xy(X)[0].astype(np.float32)
        with ThreadPoolExecutor(_threads(self.n_jobs)) as pool:  # the trees release the GIL; map keeps their order
            per_tree = list(pool.map(lambda tree: tree.predict(X, check_input=False), self.estimators_))
        return np.mean(per_tree, axis=0)


class KNeighborsModel(KNeighborsRegressor):
    """scikit-learn's kNN regressor, whose neighbours are found by SciPy's k-d tree.

    The same neighbours and the same mean of their targets as
    :class:`sklearn.neighbors.KNeighborsRegressor` (uniform weights, Euclidean
    distance; other settings fall back to it), found about three times faster:
    5,000 queries of 100 neighbours among 84,612 training haloes took 0.24 s
    against 0.72 s (two threads each, 2026-11-27) — the permutation importances
    query the kNN models 26 times per stack.  The tree is built at the first
    prediction and is not saved with the model.
    """

    def predict(self, X):
        from scipy.spatial import cKDTree

        check_is_fitted(self, "_fit_X")
        if self.weights != "uniform" or self.metric != "minkowski" or self.p != 2 or self.metric_params:
            return super().predict(X)
        X = _check_xy(X)[0]
        if X.shape[1] != self._fit_X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self._fit_X.shape[1]}")
        fitted, tree = self.__dict__.get("_scipy_tree", (None, None))
        if fitted is not self._fit_X:  # not built yet, or refitted since
            tree = cKDTree(self._fit_X)
            self.__dict__["_scipy_tree"] = (self._fit_X, tree)
        _, neighbours = tree.query(X, k=self.n_neighbors, workers=_threads(self.n_jobs))
        return np.mean(self._y[neighbours.reshape(len(X), -1)], axis=1)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_scipy_tree", None)
        return state


def make_model(name: str, random_state: int = 0, **params) -> BaseEstimator:
    """One of the study's regressors, by name, with the given hyper-parameters.

    ``"ERT"``: :class:`ExtraTreesModel` (scikit-learn's ExtraTrees); ``"kNN"``:
    :class:`KNeighborsModel` (scikit-learn's kNN) on standardised features;
    ``"LGBM"``: :class:`LightGBMRegressor`; ``"NN"``: :class:`KerasRegressor`.
    """
    if name == "ERT":
        return ExtraTreesModel(**{"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 2,
                                      "random_state": random_state, **params})
    if name == "kNN":
        return make_pipeline(StandardScaler(), KNeighborsModel(**{"n_neighbors": 30, "n_jobs": 2, **params}))
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

class ModelFileError(ValueError):
    """A saved model is missing, damaged or not one hgtools wrote; the message names the file."""


def _dump_sklearn(obj, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


#: Types beyond skops' defaults that hgtools' own model files contain; anything else is refused.
TRUSTED_TYPES = ["hgtools.models.ExtraTreesModel", "hgtools.models.KNeighborsModel", "sklearn.tree._tree.Tree",
                 "sklearn.neighbors._kd_tree.KDTree", "sklearn.metrics._dist_metrics.EuclideanDistance64"]
#: Libraries whose versions a model card records; a card from other versions gets a warning.
CARD_LIBRARIES = ("scikit-learn", "lightgbm", "keras", "skops")
#: What every model card holds, and what each kind adds.
CARD_KEYS = {"stack": ("kind", "base_models", "coefficients", "intercept"),
             "lightgbm": ("kind", "params"), "keras": ("kind", "params", "target_scaling"),
             "sklearn": ("kind",), "density": ("kind", "model", "params", "features", "targets")}


def _load_sklearn(path: Path):
    import skops.io as sio

    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    try:
        unknown = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as err:  # skops raises zipfile/json/pickle errors on a damaged file
        raise ModelFileError(f"{path} is not a skops file (damaged, or a pickle?): {err}") from None
    if unknown:
        raise ModelFileError(f"{path} holds types hgtools does not trust: {', '.join(unknown)}")
    try:
        return sio.load(path, trusted=TRUSTED_TYPES)
    except Exception as err:
        raise ModelFileError(f"{path} cannot be loaded: {err}") from None


def save_model(model: BaseEstimator, folder: str | os.PathLike, card: dict, *, overwrite: bool = True) -> Path:
    """Write a fitted model and its JSON card into ``folder`` (atomically, :func:`hgtools.io.atomic_write`).

    The card (plain data: target, training path, features, hyper-parameters,
    scores, data source, ...) gets the model's kind and the library versions.
    """
    from hgtools.io import atomic_write

    folder = Path(folder)
    with atomic_write(folder, folder=True, overwrite=overwrite) as tmp:
        _save_into(model, tmp, card)
    return folder


def _save_into(model: BaseEstimator, tmp: Path, card: dict) -> None:
    from importlib.metadata import version

    from hgtools.io import json_default

    card = {**card, "versions": {p: version(p) for p in CARD_LIBRARIES}}
    if isinstance(model, StackedModel):
        card["kind"] = "stack"
        card["base_models"] = list(model.base_models)
        for name, base in model.base_models.items():
            (tmp / name).mkdir()
            _save_into(base, tmp / name, {"name": name})
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
    (tmp / "card.json").write_text(json.dumps(card, indent=1, default=json_default))


def read_card(folder: str | os.PathLike) -> dict:
    """A model folder's card, checked: JSON mapping, known kind, required keys, names confined to the folder.

    Warns (:class:`UserWarning`) when the card was written with other versions
    of the libraries that shape the model.

    Raises
    ------
    ModelFileError
        Naming the card and the problem.
    """
    import warnings
    from importlib.metadata import PackageNotFoundError, version

    path = Path(folder) / "card.json"
    if not path.is_file():
        raise ModelFileError(f"no model card at {path}")
    try:
        card = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"{path} must hold a JSON object, got {type(card).__name__}")
    kind = card.get("kind")
    if kind not in CARD_KEYS:
        raise ModelFileError(f"{path}: unknown model kind {kind!r} (known: {', '.join(CARD_KEYS)})")
    missing = [k for k in CARD_KEYS[kind] if k not in card]
    if missing:
        raise ModelFileError(f"{path}: the card lacks {', '.join(missing)}")
    if not isinstance(card.get("params", {}), dict):
        raise ModelFileError(f"{path}: 'params' must be a JSON object")
    if kind == "stack":
        names = card["base_models"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ModelFileError(f"{path}: 'base_models' must be a non-empty list of names")
        for name in names:
            if Path(name).name != name or name in (".", ".."):
                raise ModelFileError(f"{path}: base model {name!r} is not a folder name inside {Path(folder)}")
    written = card.get("versions", {})
    if isinstance(written, dict):
        differ = []
        for package in CARD_LIBRARIES:
            try:
                here = version(package)
            except PackageNotFoundError:
                continue
            if package in written and written[package] != here:
                differ.append(f"{package} {written[package]} (here {here})")
        if differ:
            warnings.warn(f"{path} was written with other library versions: {', '.join(differ)}; "
                          "its predictions may differ slightly", UserWarning, stacklevel=2)
    return card


def load_model(folder: str | os.PathLike) -> tuple[BaseEstimator, dict]:
    """Read a model written by :func:`save_model`; return it with its card.

    Raises
    ------
    ModelFileError
        If the card or a model file is missing, damaged or not what hgtools
        writes (never a raw traceback from a library).
    """
    folder = Path(folder)
    card = read_card(folder)
    kind = card["kind"]
    if kind == "density":
        from hgtools.density import load_density

        return load_density(folder)
    try:
        if kind == "stack":
            bases = {name: load_model(folder / name)[0] for name in card["base_models"]}
            model = StackedModel(bases)
            model.linear_ = _load_sklearn(folder / "linear.skops")
            model.coefficients_, model.intercept_ = card["coefficients"], card["intercept"]
        elif kind == "lightgbm":
            model = _load_booster(folder / "booster.txt", card["params"])
        elif kind == "keras":
            model = _load_keras(folder, card)
        else:
            model = _load_sklearn(folder / "model.skops")
    except TypeError as err:  # parameters of the wrong type in the card
        raise ModelFileError(f"{folder / 'card.json'}: unusable parameters ({err})") from None
    return model, card


def _load_booster(path: Path, params: dict) -> LightGBMRegressor:
    import lightgbm as lgb

    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as err:
        raise ModelFileError(f"{path} is not a LightGBM text model (damaged?): {err}") from None
    model = LightGBMRegressor(**params)
    model.booster_ = booster
    model.best_iteration_ = booster.current_iteration()
    model.n_features_in_ = booster.num_feature()
    return model


def _load_keras(folder: Path, card: dict) -> KerasRegressor:
    import keras

    path = folder / "network.keras"
    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    params = {k: v for k, v in card["params"].items() if k != "steps_per_execution"}  # a setting of older hgtools
    model = KerasRegressor(**{**params, "hidden": tuple(params.get("hidden", ()))})
    try:
        model.network_ = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, OSError, zipfile errors on damaged files
        raise ModelFileError(f"{path} is not a Keras model file (damaged?): {err}") from None
    model.scaler_ = _load_sklearn(folder / "scaler.skops")
    scaling = card["target_scaling"]
    model.y_mean_, model.y_scale_ = float(scaling["mean"]), float(scaling["scale"])
    model.n_features_in_ = int(model.scaler_.n_features_in_)
    return model


def read_halo_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table of haloes from parquet or CSV, with a clear error for a missing, unknown or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"halo table not found: {path}")
    readers = {".parquet": pd.read_parquet, ".csv": pd.read_csv}
    if path.suffix not in readers:
        raise ValueError(f"{path}: unknown format {path.suffix!r}; use .parquet or .csv")
    try:
        return readers[path.suffix](path)
    except Exception as err:  # pyarrow / pandas parser errors
        raise ValueError(f"{path} cannot be read as {path.suffix[1:]}: {err}") from None


def load_set(folder: str | os.PathLike) -> list[tuple[str, str, StackedModel]]:
    """The saved stacks of a model set: ``(target, training path, stack)`` per target, sorted by folder.

    ``folder`` holds one saved :class:`StackedModel` per target (sub-folders
    written by :func:`save_model` with a card naming its ``target``).
    """
    folder = Path(folder)
    out = []
    for path, _ in _stack_cards(folder):
        stack, card = load_model(path)
        out.append((card.get("target", path.name), card.get("path", folder.name), stack))
    return out


def load_base_models(folder: str | os.PathLike, name: str) -> list[tuple[str, str, BaseEstimator]]:
    """One base model of every saved stack of a model set: ``(target, training path, model)`` per target.

    Reads only that model's files (no other base model is loaded: a set's
    LightGBM models load without importing TensorFlow).

    Raises
    ------
    ModelFileError
        If a stack has no base model ``name``.
    """
    folder = Path(folder)
    cards = _stack_cards(folder)
    missing = [card.get("target", path.name) for path, card in cards if name not in card["base_models"]]
    if missing:
        raise ModelFileError(f"{folder}: the stack of {', '.join(missing)} has no base model {name!r}")
    return [(card.get("target", path.name), card.get("path", folder.name), load_model(path / name)[0])
            for path, card in cards]


def _stack_cards(folder: Path) -> list[tuple[Path, dict]]:
    """The folders and cards of the saved stacks in a model-set folder, sorted by folder."""
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    cards = [(p.parent, read_card(p.parent)) for p in sorted(folder.glob("*/card.json"))]
    stacks = [(path, card) for path, card in cards if card["kind"] == "stack"]
    if not stacks:
        raise FileNotFoundError(f"no saved stack (*/card.json of kind 'stack') in {folder}")
    return stacks


def predict_with_set(folder: str | os.PathLike | list, halos: pd.DataFrame, *, base: bool = True) -> pd.DataFrame:
    """Apply a saved set of models to a table of haloes.

    ``folder`` is a model-set folder (see :func:`load_set`) or what
    :func:`load_set` returned.  The table needs the five halo features; the
    result has, per target, the stack's prediction (``<target>``, the galaxy
    property) and, with ``base``, one column per base model
    (:func:`hgtools.catalogue.prediction_column`, e.g. ``radius|raw|LGBM``, the
    names training and evaluation use), plus ``ID`` when the input has it.
    """
    from hgtools.catalogue import FEATURES, prediction_column, validate

    validate(halos, columns=FEATURES)
    stacks = folder if isinstance(folder, list) else load_set(folder)
    X = halos[list(FEATURES)].to_numpy(dtype=float)
    out = pd.DataFrame({"ID": halos["ID"].to_numpy()}) if "ID" in halos else pd.DataFrame(index=range(len(X)))
    for target, training_path, stack in stacks:
        predictions = stack.base_predictions(X)
        if base:
            for j, name in enumerate(stack.base_models):
                out[prediction_column(target, training_path, name)] = predictions[:, j]
        out[target] = stack.linear_.predict(predictions)
    return out


def _plain(value):
    """``value`` as plain data — a number, string, bool, None or a tuple of numbers — or :data:`NotImplemented`.

    NumPy scalars become Python numbers, and lists and 1D arrays of numbers
    tuples (``hidden=[48, 48]`` is the same model as ``hidden=(48, 48)``).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, (tuple, list, np.ndarray)) and np.ndim(value) == 1:
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        if all(isinstance(v, (int, float)) for v in items):
            return tuple(items)
    return NotImplemented


def plain_params(model: BaseEstimator) -> dict:
    """The hyper-parameters of a model that are plain data (numbers, strings, tuples of numbers; :func:`_plain`)."""
    if isinstance(model, StackedModel):
        return {}
    out = {}
    for key, value in model.get_params(deep=True).items():
        plain = _plain(value)
        if plain is not NotImplemented:
            out[key] = plain
    return out


__all__ = ["MODEL_NAMES", "ExtraTreesModel", "KerasRegressor", "LightGBMRegressor", "ModelFileError", "StackedModel",
           "fit_model", "load_base_models", "load_model", "load_set", "make_model", "plain_params", "predict_with_set", "read_card", "read_halo_table",
           "save_model"]
