"""Conditional density models: the joint law of the four galaxy properties given the five halo features.

A point model predicts E[property | halo]; these models learn the whole
p(M*, sSFR, R, colour | halo), so that a halo gets new galaxies drawn with the
right scatter and the right correlations between the properties.  One API,
in the spirit of scikit-learn's estimators:

- ``fit(X, Y, X_val=None, Y_val=None)``: X (n, 5) halo features in the order of
  :data:`hgtools.catalogue.FEATURES`, Y (n, 4) galaxy properties in the order
  of :data:`hgtools.catalogue.TARGETS`, in catalogue units; training stops
  early on the validation set when one is given;
- ``sample(X, n_draws=1, seed=0)`` → array (n_draws, n, 4): new galaxies;
- ``log_prob(X, Y)`` → array (n,): log p(Y | X) in catalogue units (nats), where
  the model has a density (:attr:`DensityModel.has_log_prob`).

Three models (:data:`DENSITY_MODELS`):

- :class:`FlowDensity` (``"flow"``): a conditional normalizing flow, masked
  autoregressive with rational-quadratic spline transforms (Durkan et al.
  2019), built from TensorFlow Probability's ``AutoregressiveNetwork`` and
  ``RationalQuadraticSpline``;
- :class:`GaussianDensity` (``"gaussian"``): a network giving a mean and a full
  4 × 4 covariance (its Cholesky factor) for every halo;
- :class:`ResidualDensity` (``"residual"``): a cheap non-parametric baseline,
  a LightGBM mean per property plus the joint residual of one of the k
  nearest training haloes (residuals out of fold, so they are honest).

Every model works in standardised units (training means and standard
deviations of X and Y, stored with it), is seeded and deterministic, and is
saved in safe formats (:func:`save_density`: NumPy arrays without pickles,
LightGBM text, a JSON card of ``kind`` ``"density"``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from hgtools.catalogue import FEATURES, LOG_STELLAR_MASS_MIN, SCHEMA, TARGETS

#: Card kind of a saved density model, and the names of the models.
KIND = "density"
DENSITY_MODELS = ("flow", "gaussian", "residual")
#: Libraries whose versions a density card records.
CARD_LIBRARIES = ("numpy", "tensorflow", "tensorflow-probability", "tf-keras", "lightgbm", "scikit-learn")


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------

def _check_x(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(FEATURES) or len(X) == 0:
        raise ValueError(f"{name} must have shape (n, {len(FEATURES)}) with n >= 1 (the halo features "
                         f"{', '.join(FEATURES)}), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return X


def _check_y(Y, n: int, name: str = "Y") -> np.ndarray:
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[1] != len(TARGETS):
        raise ValueError(f"{name} must have shape (n, {len(TARGETS)}) (the galaxy properties "
                         f"{', '.join(TARGETS)}), got {Y.shape}")
    if len(Y) != n:
        raise ValueError(f"{name} has {len(Y)} rows but the halo features have {n}")
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return Y


class ExtrapolationWarning(UserWarning):
    """Haloes outside the range of halo features a density model was trained on."""


def check_n_draws(n_draws) -> int:
    """``n_draws`` as an int, or a ValueError naming it."""
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    return int(n_draws)


class DensityModel(BaseEstimator):
    """What the three models share: standardisation, checks, sampling in chunks, the mean of draws."""

    #: Whether :meth:`log_prob` is defined.
    has_log_prob = True
    #: The model's name in :data:`DENSITY_MODELS`.
    name = ""

    def _standardise(self, X, Y=None):
        X = _check_x(X)
        x = (X - self.x_mean_) / self.x_scale_
        if Y is None:
            return x
        return x, (self._warp(_check_y(Y, len(X))) - self.y_mean_) / self.y_scale_

    def _warp(self, Y: np.ndarray) -> np.ndarray:
        """The galaxy properties (n, 4) in the space the model works in, before standardising (here: as they are)."""
        return Y

    def _unwarp(self, T: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`_warp`."""
        return T

    def _warp_log_det(self, Y: np.ndarray) -> np.ndarray:
        """log |d warp(Y) / dY| per galaxy (n,)."""
        return np.zeros(len(Y))

    def _fit_scaling(self, X, Y) -> None:
        self.x_mean_, self.x_scale_ = X.mean(axis=0), X.std(axis=0)
        self.x_min_, self.x_max_ = X.min(axis=0), X.max(axis=0)
        T = self._warp(Y)
        self.y_mean_, self.y_scale_ = T.mean(axis=0), T.std(axis=0)
        for what, scale in (("X", self.x_scale_), ("Y", self.y_scale_)):
            if not (scale > 0).all():
                raise ValueError(f"{what} has a column without spread; cannot standardise")

    def _check_fitted(self) -> None:
        if not hasattr(self, "y_scale_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit first")

    def fit(self, X, Y, X_val=None, Y_val=None):
        """Fit on haloes X (n, 5) and their galaxies Y (n, 4), stopping early on (X_val, Y_val) if given.

        Sets ``fit_seconds_``, the training range of the halo features
        (``x_min_``, ``x_max_``, catalogue units) and, with a validation set and
        a density, ``validation_log_prob_`` (mean log p(Y_val | X_val) [nats],
        catalogue units).
        """
        X = _check_x(X)
        Y = _check_y(Y, len(X))
        val = None
        if X_val is not None:
            X_val = _check_x(X_val, "X_val")
            val = (X_val, _check_y(Y_val, len(X_val), "Y_val"))
        for name, y in [("Y", Y)] + ([("Y_val", val[1])] if val is not None else []):
            outside = int((~self._in_support(y)).sum())
            if outside:
                raise ValueError(f"{name}: {outside:,} galaxies lie outside the {self.name} model's support "
                                 f"({self._support()})")
        self._fit_scaling(X, Y)
        t0 = time.perf_counter()
        self._fit(X, Y, val)
        self.fit_seconds_ = time.perf_counter() - t0
        if val is not None and self.has_log_prob:
            self.validation_log_prob_ = float(self.log_prob(*val).mean())
        return self

    def sample(self, X, n_draws: int = 1, seed: int | list[int] = 0) -> np.ndarray:
        """New galaxies for the haloes X: an array (n_draws, n, 4) in catalogue units.

        ``seed`` is anything :func:`numpy.random.default_rng` takes (an int,
        or a list such as ``[seed, partition]``); the same seed and haloes give
        the same draws.  Warns (:class:`ExtrapolationWarning`) when haloes lie outside the
        training range of a feature (:meth:`outside_training_range`).
        """
        self._check_fitted()
        n_draws = check_n_draws(n_draws)
        x = self._standardise(X)
        self._warn_outside(X)
        z = self._sample_std(x, n_draws, np.random.default_rng(seed))
        return self._unwarp(self.y_mean_ + self.y_scale_ * z)

    def log_prob(self, X, Y) -> np.ndarray:
        """log p(Y | X) [nats] in catalogue units, shape (n,); warns as :meth:`sample` outside the training range."""
        self._check_fitted()
        if not self.has_log_prob:
            raise NotImplementedError(f"the {self.name} model has no density")
        Y = _check_y(Y, len(_check_x(X)))
        inside = self._in_support(Y)
        Y = np.where(inside[:, None], Y, self._unwarp(self.y_mean_[None]))  # any point of the support
        x, y = self._standardise(X, Y)
        self._warn_outside(X)
        log_p = self._log_prob_std(x, y) - np.log(self.y_scale_).sum() + self._warp_log_det(Y)
        return np.where(inside, log_p, -np.inf)

    def _in_support(self, Y: np.ndarray) -> np.ndarray:
        """Whether each galaxy of Y (n, 4) lies where the model's density can be positive: (n,) bool."""
        return np.ones(len(Y), dtype=bool)

    def _support(self) -> str:
        """Where the model's density can be positive, in words."""
        return "everywhere"

    def outside_training_range(self, X) -> np.ndarray:
        """Whether each halo of X (n, 5) has a feature outside the range the model was trained on: (n,) bool.

        There the model extrapolates: a flow's draws can pile up at the edges of
        its splines (beyond them it is the identity in standardised units), and
        their log-density can be non-finite.  All False for a model saved
        without its training range (before hgtools recorded it).
        """
        return self._outside(X)[0]

    def _outside(self, X) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Which haloes of X lie outside the training range, (n,) bool, and per feature which lie outside in it."""
        self._check_fitted()
        X = _check_x(X)
        if getattr(self, "x_min_", None) is None:
            return np.zeros(len(X), dtype=bool), {}
        # column by column: for 250,000 haloes 1-3 ms, where (n, 5) booleans' .any(axis=1) took 13
        by_feature = {f: (X[:, j] < low) | (X[:, j] > high)
                      for j, (f, low, high) in enumerate(zip(FEATURES, self.x_min_, self.x_max_))}
        return np.logical_or.reduce(list(by_feature.values())), by_feature

    def _warn_outside(self, X) -> None:
        import warnings

        rows, by_feature = self._outside(X)
        if rows.any():
            units = {f: "" if SCHEMA[f].unit == "dimensionless" else f" {SCHEMA[f].unit}" for f in FEATURES}
            features = [f"{f} in [{lo:.3g}, {hi:.3g}]{units[f]}"
                        for f, lo, hi in zip(FEATURES, self.x_min_, self.x_max_) if by_feature[f].any()]
            warnings.warn(f"{rows.sum():,} of {len(rows):,} haloes lie outside the {self.name} "
                          f"model's training range ({'; '.join(features)}): it extrapolates there",
                          ExtrapolationWarning, stacklevel=3)

    def mean(self, X, n_draws: int = 100, seed: int = 0) -> np.ndarray:
        """The mean of ``n_draws`` draws per halo (n, 4): the model's E[Y | X] up to sampling noise."""
        return self.sample(X, n_draws, seed).mean(axis=0)

    # subclasses implement these in standardised units
    def _fit(self, X, Y, val) -> None:
        raise NotImplementedError

    def _sample_std(self, x, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _log_prob_std(self, x, y) -> np.ndarray:
        raise NotImplementedError

    # saving: plain arrays (no pickles) and a JSON card
    def _arrays(self) -> dict[str, np.ndarray]:
        return {"x_mean": self.x_mean_, "x_scale": self.x_scale_, "y_mean": self.y_mean_, "y_scale": self.y_scale_,
                "x_min": self.x_min_, "x_max": self.x_max_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.x_mean_, self.x_scale_ = arrays["x_mean"], arrays["x_scale"]
        self.y_mean_, self.y_scale_ = arrays["y_mean"], arrays["y_scale"]
        self.x_min_, self.x_max_ = arrays.get("x_min"), arrays.get("x_max")  # absent from folders saved before


# ---------------------------------------------------------------------------
# networks trained by maximum likelihood (flow and Gaussian)
# ---------------------------------------------------------------------------

def _tensorflow():
    """TensorFlow, TensorFlow Probability and tf-keras, quietly, with deterministic ops.

    Call it outside traced functions (it touches the environment); inside
    them, import the modules directly.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tensorflow_probability as tfp
    import tf_keras

    tf.config.experimental.enable_op_determinism()
    return tf, tfp, tf_keras


#: Rows per call into TensorFlow when evaluating densities and the Gaussian network's moments (bounds the
#: memory; a power of two).  Measured on the flow's sampler, before it had :data:`SAMPLE_CHUNK_ROWS`
#: (networks of (64, 64)), 2^19 draws, three runs each alternated in one process (2026-11-28): on two
#: threads 32,768 rows took 1.4-1.6 us per draw, 16,384 1.5-1.6, 8,192 1.8-2.1 and 4,096 1.9-2.2; on one
#: thread (as populate's workers) 2.7 against 2.4-2.8 with 4,096 rows, too little to make the draws
#: depend on the thread count (other chunks give other float32 rounding).
CHUNK_ROWS = 32_768
#: Rows per call into the flow's sampler (a power of two, at least :data:`MIN_PADDED_ROWS`); the draws
#: of all haloes and all draws are cut into such chunks, which run side by side on as many threads as
#: the process may use (:func:`sampler_threads`).  Inside a call XLA works through the chunk in blocks
#: of :data:`SAMPLE_BLOCK_ROWS` rows, so the chunk only sets how many calls are made.
SAMPLE_CHUNK_ROWS = 32_768
#: Rows the flow's sampler works on at a time inside one call, one block after the other in an XLA loop
#: (:meth:`FlowDensity._blocks`): the ~50 passes of its splines over a block's parameters then stay in
#: a core's first caches, and a galaxy's draw is computed with the same arithmetic whatever the chunk
#: or the thread it falls in.  2^18 draws of a flow of (64, 64) (the book's then), five runs each
#: alternated in a process of one thread (AMD EPYC with AVX2, 2026-11-29, medians): chunks of 8,192
#: rows computed whole (the sampler before blocks) 2.78 us per draw; chunks of 32,768 in blocks of
#: 4,096, 2,048, 1,024, 512, 256 and 128 rows 2.68, 2.59, 2.54, 2.29, 2.10 and 2.22 us; chunks of
#: 16,384 and 65,536 in blocks of 256 2.13 and 2.03 us.  Two such processes at once (as populate's
#: workers): 2.80 and 2.93 us whole against 2.11 and 2.22 us with chunks of 32,768 in blocks of 256.
#: One process of two threads: 1.80 us with chunks of 8,192 computed whole by XLA's two threads, 1.55
#: with two such chunks at a time, 1.09 with two chunks of 32,768 in blocks of 256 at a time
#: (the draws differ from the whole chunks' by float32 rounding, 7e-5 in standardised units).  Whole
#: runs, the sampler before and after blocks alternated, two runs each (the bench's 3-epoch flow of the
#: book's architecture): ``populate`` of 10^7 haloes on 2 warm workers took 20.2-22.3 s before and
#: 16.8-17.6 s after (0.45-0.50 and 0.57-0.59 million haloes/s); 10^6 draws in one process of two
#: threads 1.99-2.06 and 1.35-1.39 s (medians of three).
SAMPLE_BLOCK_ROWS = 256
#: Fewest rows per call into an XLA-compiled function: chunks are padded to a power of two from here
#: to the chunk size, so that XLA compiles a function for a handful of shapes only (a multiple of
#: :data:`SAMPLE_BLOCK_ROWS`).
MIN_PADDED_ROWS = 1024
#: Smallest bin width, bin height and knot slope of the flow's splines (standardised units).
MIN_BIN = 1e-3
#: How much the networks' learning rate is divided by at each drop on a validation plateau.
LR_DROP_FACTOR = 4.0
#: Halo masses M_h [log10 Msun/h] of the hinges max(0, M_h - knot) the flow's networks get beside the
#: five halo features (:attr:`FlowDensity.mass_knots`).
MASS_KNOTS = (11.0, 11.5, 12.0, 12.5, 13.0, 13.5, 14.0)
#: Halo mass M_h [log10 Msun/h] above which the flow's training haloes weigh more
#: (:attr:`FlowDensity.upweight_mass`), and the width [dex] over which their weight rises to its full value.
UPWEIGHT_MASS = 12.5
UPWEIGHT_RAMP = 0.5
#: Hyper-parameters added after models were saved, with the value those models were fitted with
#: (:func:`load_density` gives it to a card that lacks it).
_ADDED_PARAMS = {"flow": {"mass_knots": (), "stellar_mass_floor": None, "upweight_mass": None}}


def sampler_threads() -> int:
    """How many chunks the flow's sampler runs at a time: one per core, one in a Dask worker
    (:func:`hgtools.models._threads`), at most ``TF_NUM_INTRAOP_THREADS`` where that is set (hgtools'
    worker processes set 1)."""
    from hgtools.models import _threads

    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "").strip()
    return min(_threads(None), int(env)) if env.isdigit() and int(env) > 0 else _threads(None)


def mass_weights(log_mass, start: float, factor: float, ramp: float = UPWEIGHT_RAMP) -> np.ndarray:
    """Training weights of haloes of mass ``log_mass`` [log10 Msun/h]: 1 up to ``start``, rising linearly to
    ``factor`` over ``ramp`` [dex] above it, ``factor`` beyond."""
    if not factor >= 1 or not ramp > 0:
        raise ValueError(f"upweighting needs a factor >= 1 and a ramp > 0 dex, got {factor} and {ramp}")
    return 1.0 + (factor - 1.0) * np.clip((np.asarray(log_mass, dtype=float) - start) / ramp, 0.0, 1.0)


def repeats(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How many times each row appears per training epoch: ``weights`` rounded up or down at random, so that
    its mean is the weight (a weighted likelihood realised by repeating rows)."""
    base = np.floor(weights)
    return (base + (rng.random(len(weights)) < weights - base)).astype(int)


def _running_sum(rows):
    """The cumulative sum of a tensor along its first axis, added row after row (TensorFlow).

    The same numbers as ``tf.cumsum(rows, axis=0)``, bit for bit, but XLA
    compiles ``tf.cumsum`` for the CPU into a slow loop: on one thread, over
    (47, 32,768) float32 values, 545 ns per column against 23 ns for this
    sum; :meth:`FlowDensity.spline_forward` alone (two sums of 16 rows) 428
    against 153 ns per value, though the whole sampler only 5.07 against
    4.83 s per 10^6 draws (one run each, 2026-11-28).
    """
    import tensorflow as tf

    out = [rows[0]]
    for k in range(1, rows.shape[0]):
        out.append(out[-1] + rows[k])
    return tf.stack(out, axis=0)


class _NetworkDensity(DensityModel):
    """Shared by the flow and the Gaussian network: a tf-keras network fitted by minimising -log p."""

    #: Compile the training step and the evaluations with XLA (fuses the many small ops of a spline flow).
    jit_compile = False
    #: Decay of the moving average of the weights kept during training (0: none); see FlowDensity.
    ema = 0.0

    def _weights(self) -> list:
        raise NotImplementedError

    def _build(self) -> None:
        raise NotImplementedError

    def _loss(self, y, x):
        """-log p(y | x) per row (TensorFlow), standardised units."""
        raise NotImplementedError

    def _halo_weights(self, X: np.ndarray) -> np.ndarray | None:
        """Training weights of the haloes X (catalogue units), or None: every halo weighs 1."""
        return None

    def _fit(self, X, Y, val) -> None:
        from tqdm.auto import tqdm

        tf, _, tf_keras = _tensorflow()
        tf_keras.utils.set_random_seed(int(self.random_state))
        self._build()
        x, y = self._standardise(X, Y)
        x, y = x.astype(np.float32), y.astype(np.float32)
        if val is not None:
            xv, yv = (a.astype(np.float32) for a in self._standardise(*val))
        weights = self._weights()
        optimizer = tf_keras.optimizers.Adam(learning_rate=self.learning_rate)
        spec = (tf.TensorSpec([None, len(TARGETS)], tf.float32), tf.TensorSpec([None, len(FEATURES)], tf.float32))

        ema = float(self.ema)
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        average = [tf.Variable(w) for w in weights] if ema else weights  # the weights scored and kept
        steps = tf.Variable(0.0) if ema else None

        @tf.function(input_signature=spec, autograph=False, jit_compile=self.jit_compile)
        def step(yb, xb):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(self._loss(yb, xb))
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            if ema:  # a shorter memory over the first steps (as tf.train.ExponentialMovingAverage)
                steps.assign_add(1.0)
                decay = tf.minimum(ema, (1.0 + steps) / (10.0 + steps))
                for a, w in zip(average, weights):
                    a.assign(decay * a + (1.0 - decay) * w)
            return loss

        def restore(values):
            for variables in (weights, average) if ema else (weights,):
                for v, value in zip(variables, values):
                    v.assign(value)

        def scored(f):  # f() with the averaged weights in the network
            if not ema:
                return f()
            current = [w.numpy().copy() for w in weights]
            for w, a in zip(weights, average):
                w.assign(a)
            try:
                return f()
            finally:
                for w, value in zip(weights, current):
                    w.assign(value)

        rng = np.random.default_rng([int(self.random_state), 0xF10])
        halo_weights = self._halo_weights(X)
        rows = np.arange(len(x)) if halo_weights is None else \
            np.repeat(np.arange(len(x)), repeats(halo_weights, np.random.default_rng([int(self.random_state), 0xF11])))
        best, best_weights, waited, history = np.inf, None, 0, []
        rate, drops = float(self.learning_rate), int(self.lr_drops) if val is not None else 0
        bar = tqdm(range(int(self.epochs)), desc=f"{self.name} density", unit="epoch", disable=not self.verbose)
        for _ in bar:
            order = rows[rng.permutation(len(rows))]
            losses = [float(step(y[b], x[b])) for b in np.array_split(order, max(1, len(order) // self.batch_size))]
            train = float(np.mean(losses))
            score = scored(lambda: -float(self._log_prob_std(xv, yv).mean())) if val is not None else train
            history.append({"train": train, "validation": score if val is not None else None, "learning_rate": rate})
            bar.set_postfix(loss=f"{score:.4f}", lr=f"{rate:.2g}")
            if score < best - 1e-4:
                best, best_weights, waited = score, [a.numpy().copy() for a in average], 0
            else:
                waited += 1
                if best_weights is None:  # no finite loss yet: only the stop applies
                    drops = 0
                if drops and waited >= max(1, self.patience // 2):  # a plateau: smaller steps from the best
                    restore(best_weights)
                    rate, drops, waited = rate / LR_DROP_FACTOR, drops - 1, 0
                    optimizer.learning_rate.assign(rate)
                elif val is not None and not drops and waited >= self.patience:
                    break
        bar.close()
        if best_weights is None:
            raise RuntimeError(f"training the {self.name} density model diverged (loss {score})")
        restore(best_weights)
        self.history_ = history
        self.epochs_run_ = len(history)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), **{f"weight_{i:03d}": w.numpy() for i, w in enumerate(self._weights())}}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_arrays(arrays)
        self._build()
        weights = self._weights()
        stored = sorted(k for k in arrays if k.startswith("weight_"))
        if len(stored) != len(weights):
            raise ValueError(f"{len(stored)} weight arrays stored, the network has {len(weights)}")
        for w, key in zip(weights, stored):
            if tuple(w.shape) != arrays[key].shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, the network expects {tuple(w.shape)}")
            w.assign(arrays[key].astype(np.float32))

    def _log_prob_std(self, x, y) -> np.ndarray:
        f = self._compiled("log_prob", lambda yy, xx: -self._loss(yy, xx), (len(TARGETS), len(FEATURES)))
        return self._in_chunks(f, y, x).astype(float)

    def _call(self, f, *chunk: np.ndarray) -> np.ndarray:
        """``f`` of one chunk of rows of ``chunk``'s arrays, as float32.

        For an XLA-compiled ``f`` the chunk is padded (its last row repeated)
        to a power of two of at least :data:`MIN_PADDED_ROWS` rows, so that XLA
        compiles once per bucket instead of once per length (the padded rows'
        results are dropped; rows are independent, so they do not change the others).
        """
        n = len(chunk[0])
        size = max(MIN_PADDED_ROWS, 1 << (n - 1).bit_length()) if self.jit_compile else n
        return f(*(np.pad(c.astype(np.float32), ((0, size - n), (0, 0)), mode="edge") for c in chunk)).numpy()[:n]

    def _in_chunks(self, f, *arrays: np.ndarray, rows: int = CHUNK_ROWS) -> np.ndarray:
        """``f`` of row chunks of ``arrays`` (at most ``rows`` rows, a power of two), concatenated (:meth:`_call`)."""
        return np.concatenate([self._call(f, *(a[i:i + rows] for a in arrays)) for i in range(0, len(arrays[0]), rows)])

    def _compiled(self, name: str, fn, widths: tuple[int, ...]):
        """A tf.function of float32 matrices with these widths, traced once per model.

        Without autograph (the traced code has no tensor-dependent control
        flow): autograph re-reads the source file, which must then not change
        while a process runs.
        """
        tf, _, _ = _tensorflow()
        cache = self.__dict__.setdefault("_functions", {})
        if name not in cache:
            spec = tuple(tf.TensorSpec([None, w], tf.float32) for w in widths)
            cache[name] = tf.function(fn, input_signature=spec, autograph=False, jit_compile=self.jit_compile)
        return cache[name]


class FlowDensity(_NetworkDensity):
    """Conditional masked autoregressive flow with rational-quadratic spline transforms.

    Each layer maps the four standardised properties, one after the other in
    the order (M*, sSFR, R, colour) (reversed in every second layer), through a
    monotonic spline whose knots a masked network (MADE) computes from the
    halo features and the properties before it.  Outside [-bound, bound] the
    transform is the identity.  The base law is a standard normal.

    Parameters
    ----------
    hidden : tuple of int
        Hidden units of the MADE network (ReLU).  Rodrigues et al. (2025) used
        three layers of 219 units and one spline layer of 12 bins; on the
        full-size embedded universe two spline layers on two 128-unit layers
        reached a higher validation log-density (2.018 against 1.979 nats on
        an earlier catalogue).  Two layers of 64 units then did as well as two
        of 128 for 44 % of the sampler's arithmetic (one thread, 3.5-4.0
        instead of 4.7-5.8 us per draw, six alternated runs of 2^19
        draws).  Four fits each (model seeds 0-3, the full-size catalogue of
        seed 0, the chapter's scores, with ``mass_knots``, 2026-11-28), (128,
        128) against (64, 64): validation log-density 1.764-1.780 (mean
        1.771) and 1.769-1.778 (1.773) nats; largest conditional-std error
        per M_h bin 0.096-0.179 (mean 0.140) and 0.117-0.137 (0.126);
        residual correlation 0.094-0.104 and 0.068-0.082; coverage 2.3-3.6
        and 2.7-3.2 points; KL estimate 0.071-0.085 and 0.072-0.083
        nats.  Also measured: (96, 96): 1.767-1.781 nats, 0.081-0.267,
        0.076-0.095, 1.9-3.1 points; 8 bins on (128, 128): 1.760-1.768 nats,
        0.061-0.160, 0.073-0.095, 2.3-3.4 points; 12 bins: 1.756-1.777 nats,
        0.086-0.227, 0.086-0.116, 2.0-3.2 points; 8 bins on (96, 96):
        1.738-1.765 nats and an energy distance up to 1.51 times its noise
        floor; 8 bins on (64, 64) (for a faster sampler): 1.736-1.764 nats,
        0.095-0.129, 0.073-0.114, 2.9-4.6 points, up to 1.52 times.  With
        the other defaults of 2026-11-29 (moving average, stellar-mass floor,
        weights; four fits each, model seeds 0-3, scored against 49 draws of
        the law per test halo), (48, 48) against (64, 64): largest
        conditional-std error per M_h bin 0.048-0.090 (mean 0.062) and
        0.078-0.095 (0.087); residual correlation 0.062-0.073 (0.066) and
        0.049-0.077 (0.063); coverage 1.66-2.25 (1.97) and 1.50-2.60 (1.93)
        points; KL estimate 0.058-0.065 and 0.062-0.067 nats; validation
        log-density 1.784-1.791 and 1.783-1.791 nats; the sampler 1.92
        instead of 2.58 us per draw on one thread (medians of seven
        alternated runs of 2^18 draws), and populate of 10^7 haloes on two
        workers 16.7-17.4 instead of 17.5-19.5 s (three alternated runs).
        (32, 32): 0.080-0.165, 0.072-0.117 and 1.78-3.72 points.  (48, 48)
        is the default; the book's benchmark records (``bench/density*.py``
        and ``bench/populate.py``) are of it.  In
        TFP's conditional MADE the first property of each layer gets spline
        parameters affine in the halo features (no hidden unit feeds it),
        hence ``mass_knots``; feeding the MADEs an embedding of
        the features beside them (a 64-unit ReLU layer, then 16 tanh units)
        raised the full-size validation log-density from 1.765 to 1.778 and
        1.773 nats (seeds 0 and 1) but did not better the top M_h bin
        (13-15.5) over the fit-to-fit scatter: largest conditional-std error
        0.112 and 0.164 against 0.162, residual correlation 0.085 and 0.106
        against 0.070, coverage 2.2 and 3.0 against 2.7 points (2026-11-28,
        on (128, 128)); not adopted.
    n_bins : int
        Spline bins.  With the defaults here otherwise (two fits, model seeds
        0 and 1, the full-size catalogue of seed 0, scored against 49 draws of
        the law per test halo, 2026-11-29), 8 bins against 16: validation
        log-density 1.787 and 1.793 against 1.790 and 1.787 nats, KL estimate
        0.063 and 0.057 against 0.060 and 0.062 nats, but largest
        residual-correlation error 0.098 and 0.129 against 0.085 and 0.083 and
        coverage 3.6 and 3.3 against 1.8 and 2.9 points (conditional std 0.188
        and 0.089 against 0.143 and 0.100); the sampler drew in 2.9-3.3
        instead of 4.1 us per draw (one thread, two such processes at once,
        medians of six alternated runs of 2^18 draws).
    bound : float
        Half-width of the spline's interval, in standard deviations.  The
        radii of the galaxies of massive haloes reach 7.4 standard deviations
        (99th percentile above 10^13 Msun/h), so 5 left them on the identity
        tails: 68 % intervals there covered 9 points too little.  With 8 and
        16 bins, every M_h bin was within 2.6 points (an earlier full-size
        catalogue; on the current one the worst case, M* above 10^13 Msun/h,
        is 5.4 points with the defaults here, 3.7 with batches of 512 at 1e-3).
        Two remedies for that bin were measured and left out: weighting the
        likelihood by (haloes per 0.25 dex of M_h)^-1/2, and a LightGBM mean
        with the flow fitted to its out-of-fold residuals; both kept the M*
        scatter there 20 % too wide (0.134 against 0.112 dex) and lowered
        the validation log-density (1.782 and 1.739 against 1.812 nats).
    n_layers : int
        Autoregressive layers.  One layer (as Rodrigues et al. 2025) draws
        faster — on one core 168 thousand galaxies/s with networks of (128,
        128) and 233 thousand with (64, 64), against 93 thousand with two
        layers of (128, 128), before their sampler was rewritten — but
        fitted the full-size catalogue of seed 0 worse (validation log-density
        1.769 and 1.775 against 1.811 nats; all three fitted in one two-worker
        pool), and its draws missed the 68 % coverage by up to 11.7 and 10.8
        points (with one layer, M* below 10^11 Msun/h, where the cut
        log M* >= 8.75 truncates the law) against 5.5 with two.  Three layers
        (with ``ema=0.995``, model seeds 0 and 1, scored against 49 draws of
        the law per test halo, 2026-11-29) did worse than two: validation
        log-density 1.775 and 1.773 against 1.787 and 1.787 nats; KL estimate
        0.074 and 0.077 against 0.064 and 0.064 nats; largest
        conditional-std error 0.51 (g-i at 13-15.5, 0.065 against 0.043 dex)
        and 0.095 against 0.147 and 0.088; residual correlation 0.175 and
        0.078 against 0.076 and 0.077 (its sampler also makes three passes per
        property instead of two).
    mass_knots : tuple of float
        Halo masses M_h [log10 Msun/h]: beside the five halo features, the
        networks get max(0, M_h - knot) for each.  The first property of each
        layer (M*, and g-i in the reversed one) gets spline parameters affine
        in the networks' conditional input, so with the features alone its
        spread could not follow the law's turns with M_h: the flow without
        hinges drew M* 16 % and 14 % too widely spread at 13-13.25 and
        13.25-13.5 (the law's scatter at fixed halo 0.126 dex at 12.5-13, 0.118
        and 0.111 there) and g-i 11 % and 10 % too narrowly.  Four fits each
        (model seeds 0-3, the full-size catalogue of seed 0, the chapter's
        scores, 2026-11-28), without hinges and with these knots: largest
        conditional-std error per M_h bin 0.166-0.287 (mean 0.221) and
        0.096-0.179 (0.131); residual correlation 0.072-0.115 and 0.083-0.104;
        coverage 2.7-4.0 and 1.8-3.5 points; validation log-density
        1.753-1.780 and 1.764-1.780 nats.  Knots every 0.25 dex from 11 to 14
        gave 0.077-0.177 (0.123), 0.065-0.162 and 2.1-3.7 points; at 12, 12.5,
        13 and 13.5 only, 0.052-0.204 (0.114), 0.068-0.094 and 3.0-3.3 points
        (the worst coverage then at 10.5-11).  With these knots, the second
        layer taking (R, M*, sSFR, g-i) instead of the reverse order (g-i last
        in both layers) did worse: 0.132-0.188 (0.167), 0.077-0.118 and
        1.9-3.4 points.
    learning_rate, batch_size, epochs, patience : Adam's step, batch, the most
        epochs and how many epochs without a better validation loss stop training.
        Batches of 1,024 at a step of 2e-3, with the training step compiled by
        XLA (``jit_compile``), fitted the full-size catalogue of seed 0 in
        147 s (69 epochs) to a best validation loss of 1.5012 (standardised
        units), where batches of 512 at 1e-3 without XLA took 228 s (59
        epochs) to 1.5041 (one process each, one after the other); batches of
        2,048 at 3e-3 took 135 s but stopped at 1.5073.
    jit_compile : bool
        Compile training, sampling and densities with XLA, which fuses the
        spline's many small operations: on the full-size catalogue, 2.7
        instead of 3.9 s per epoch (whole fits with batches of 512, one after
        the other), and 10^6 draws in 21.9 instead of 29.0 s (the same
        weights, one process).  XLA compiles once per input shape (a few
        seconds each), so tiny models fit faster without it.
    lr_drops : int
        With a validation set: how many times, after ``patience // 2`` epochs
        without a better validation loss, training goes back to its best weights
        and divides the step by :data:`LR_DROP_FACTOR` before the ``patience``
        stop applies.  On the full-size embedded universe two drops (89 epochs,
        192 s instead of 77 epochs, 160 s) raised the flow's validation
        log-density from 1.831 to 1.852 nats and, on the test split
        (``bench/density.py``), brought the largest 1D KS from 0.0135 to
        0.0086, the 2D KS from 0.0200 to 0.0108, the worst coverage error
        from 2.8 to 2.2 points, the energy distance from 1.76 to 1.48 times
        its noise floor and the χ² per bandpower of the large-radius
        spectrum from 2.8 to 1.7.  A patience of 12 instead of 20 (drops after
        6 epochs without progress instead of 10) reached the same best
        validation loss (1.5041 against 1.5042, in the flow's standardised
        units) in 62 epochs and 143 s instead of 85 epochs and 196 s (the
        full-size catalogue of seed 0, one process each).
    ema : float
        Decay of a moving average of the weights, updated after every training
        step (with a shorter memory over the first steps, ``min(ema, (1 + t)
        / (10 + t))`` at step t); the averaged weights are the ones scored on
        the validation split, kept at the best epoch and restored at a step
        drop.  0 trains without it.  Four fits each (model seeds 0-3, the
        full-size catalogue of seed 0, one thread each two at a time, scored
        against 49 draws of the law per test halo; 2026-11-29, AMD EPYC with
        AVX2), without an average and with 0.995: validation log-density
        1.758-1.781 and 1.781-1.790 nats; KL estimate 0.071-0.094 and
        0.062-0.064 nats; largest conditional-std error per M_h bin
        0.106-0.223 and 0.082-0.147; residual correlation 0.076-0.123 and
        0.071-0.086; coverage 2.05-3.71 and 1.91-2.59 points; 50-83 and 85-97
        epochs, 114-197 and 183-212 s.  0.999 did as well as 0.995
        (1.781-1.790 nats, 0.082-0.158, 0.064-0.088, 2.04-2.86 points) in
        more epochs (86-107); so did 0.995 with a patience of 20 (each seed's
        validation log-density within 1e-4 of patience 12's, in 101-113
        epochs).  With 0.995, a last layer y = m + S u whose
        shift m and lower-triangular scale S come from a 32-unit network of
        the networks' conditional input (a Gaussian law per halo, which the
        splines then reshape) did not better the top M_h bin: 0.085-0.214,
        0.049-0.073 and 2.07-3.37 points, 1.783-1.788 nats, in 165-268 s.
    stellar_mass_floor, floor_width : float
        The catalogue keeps galaxies with log M* >= 8.75 only (the study's
        selection), so the law of M* at fixed halo ends there.  The flow models
        t = floor + w log(exp((M* - floor) / w) - 1) with w = ``floor_width``
        [dex] instead of M* [log10 Msun/h]: t covers the whole line, is M*
        itself a few w above the floor, and maps back above it, so no draw
        falls below the selection and the density there is zero.  w = 0.1 dex
        is about the law's scatter of M* at fixed halo (0.105-0.141 dex per
        M_h bin on the test split); 0.05 and 0.2 did neither better nor
        worse (two fits each, model seeds 0 and 1, one thread each two at a
        time, the defaults otherwise, against 49 draws of the law per test
        halo, 2026-11-30): largest residual-correlation error 0.071 and
        0.046, 0.061 and 0.050 against 0.083 and 0.061; coverage 2.06 and
        2.05, 2.31 and 1.92 against 1.86 and 2.64 points; conditional std
        0.076 and 0.072, 0.066 and 0.053 against 0.069 and 0.061;
        validation log-density 1.787 and 1.786, 1.789 and 1.784 against
        1.789 and 1.784 nats.  ``None``
        models M* itself: the flow so fitted (model seeds 0 and 1) drew 0.29
        and 0.31 % of the test split's galaxies below 8.75, 2.4 and 2.8 % at
        10.5 <= M_h < 11, where the law draws none.  With the floor (0.1 dex;
        seeds 0 and 1, against 49 draws of the law per test halo,
        2026-11-29): none below; KL estimate 0.060 and 0.062 against 0.064
        and 0.064 nats; at 10.5-11 the largest residual-correlation error
        (M*~sSFR) 0.061 and 0.053 against 0.075 and 0.066; validation
        log-density 1.790 and 1.787 against 1.787 and 1.787 nats.  Over the
        four fits of ``bench/density_seeds.py`` (seeds 0-3, with and without
        the floor): KL estimate 0.060-0.066 against 0.062-0.064 nats; the
        residual correlation is worst at 10.5-11 in one fit instead of all
        four, elsewhere at 13-15.5, where the errors stay fit-to-fit scatter:
        largest conditional-std error 0.100-0.313 against 0.088-0.147 (0.313
        in seed 3), residual correlation 0.062-0.098 against 0.057-0.084
        (seeds 0 and 1: M*~g-i drawn 0.14 where the law has 0.23), coverage
        1.8-2.8 against 1.5-2.9 points.
    upweight_mass, upweight : float
        Training haloes above ``upweight_mass`` [log10 Msun/h] weigh more in
        the likelihood: their weight rises linearly from 1 there to
        ``upweight`` :data:`UPWEIGHT_RAMP` dex above (:func:`mass_weights`),
        realised by repeating each halo that many times per epoch, rounded up
        or down at random once per fit (:func:`repeats`); the validation
        split, which decides the early stop, is not weighted.  ``None``: every
        halo weighs 1.  Haloes above 10^13 Msun/h are 1.7 % of the training
        split, so without weights every fit drew the stellar masses of their
        galaxies with the width of those of 10^13 Msun/h haloes (0.121-0.130
        dex at 13.25-15.5 where the law narrows to 0.109-0.110) and, at
        13.25-14, their residual correlations of M* with colour and sSFR about
        half the law's (0.12-0.16 against 0.27-0.28, and -0.16 against -0.27
        to -0.32), on
        the training split as on the test split (seeds 0 and 1): the flow
        underfitted them, and more than the 1,478 training haloes there
        limit (Table J4).  ``bench/density_seeds.py`` (model seeds 0-3,
        the full-size catalogue of seed 0, Table J1's scores; 2026-11-29),
        without weights (its record of 06:28 UTC) and with a weight of 4 from
        12.5 (12:33 UTC), against 49 draws of the law per test halo: largest
        conditional-std error per M_h bin 0.100-0.313 (mean 0.167) and
        0.081-0.110 (0.093); residual correlation 0.062-0.098 (0.081) and
        0.049-0.073 (0.058); coverage 1.8-2.8 (2.4) and 1.4-2.3 (1.8)
        points; against the one true galaxy 0.099-0.311 and 0.073-0.102,
        0.060-0.115 and 0.059-0.114, 2.2-4.4 and 2.0-3.3 points; KL
        estimate 0.060-0.066 (0.062) and 0.062-0.067 (0.064) nats, the
        price of the weights; validation log-density 1.785-1.790 and
        1.783-1.791 nats; 134-187 and 159-216 s per fit.  Two fits each
        (seeds 0 and 1, the training rows so repeated before the fit): a
        weight of 4 from 12.75, 0.080-0.109, 0.057-0.058, 1.8-2.8 points
        (g-i at 12.5-13 then 71 % inside its 68 % intervals); of 8 from
        12.75, 0.097-0.118, 0.045-0.073, 3.1-3.3 points, KL 0.065-0.075 nats.
    random_state : int
        Seeds the initial weights and the batch order.
    verbose : bool
        A progress bar over epochs.

    Notes
    -----
    The measurements below (and those of the parameters above, where not
    dated otherwise) were made before the moving average of the weights
    (``ema``), with ``ema=0``, and all of them, but ``upweight_mass``'s own,
    without weights (``upweight_mass=None``).

    In the top M_h bin (13-15.5) every fit measured draws stellar masses too
    widely spread, most at 13 <= M_h < 13.5: there the book's flow gives a
    scatter of 0.134 dex at fixed halo on its own 1,065 training haloes and
    0.132 on the 949 test haloes, where the true law gives 0.1135 and 0.1143,
    so the flow underfits that sparse region (it does not overfit it).  Refits
    differ more there than the remedies tried (2026-11-28; the largest
    conditional-std error of the bin, on its 1,290 test haloes with 49 draws
    each; the book's flow: 0.162, validation log-density 1.765): a patience of
    24 instead of 12, seeds 0 and 1: 0.120 and 0.244 (1.773, 1.775 nats);
    with three step drops too: 0.115 (1.775); the properties standardised at
    fixed M_h (binned means and standard deviations) before the flow, seeds
    0 and 1: 0.109 and 0.194 (1.759, 1.750); log10(1 + delta_3) as the input:
    0.137 (1.765); one layer with a context embedding of 16 or 32 units:
    0.232 and 0.167 (1.784, 1.780).  ``bench/density_seeds.py`` records how
    far every score moves from one fit to another.  Of the book's 0.138 dex
    at 13 <= M_h < 13.5 (49 draws about the true conditional mean), the
    draws about each halo's own draw mean give 0.134 (the law 0.115; the
    16-84 % half-width 0.125 against 0.113, so mostly the core, not the
    tails) and each halo's draw mean misses the true one by 0.038 dex rms
    (the law's 49 draws 0.017, pure draw noise).  Rescaling the base law per
    M_h bin from the validation split cannot narrow it: in the 13-15.5 bin
    the true galaxies' base-space values spread by 1.01-1.23 per dimension
    on the validation split and 1.06-1.13 on the test split under the book's
    flow (0.96-1.23 and 0.995-1.13 under four of the variants above), at
    or above 1, where too wide a flow would give less than 1.  Twice the
    training data (the training and validation splits of the seed-1
    universe added to seed 0's; the same test split, 49 draws) did not
    settle it either: two fits (model seeds 0 and 1, 273-275 s side by side)
    gave largest conditional-std errors of 0.057 and 0.161 in the 13-15.5 bin
    (the book's flow 0.166), residual-correlation errors 0.059 and 0.067,
    coverage errors 1.3 and 3.9 points (2026-11-28).  Table J3 of the book
    splits each model's spread into its width at fixed halo and the error of
    its halo means.  All of the above is without ``mass_knots``: with them
    (seeds 0 and 1) M* at 13-15.5 is drawn with a scatter of 0.120 dex about
    the true means (the law 0.114), and the bin's largest error moves to g-i
    (0.051 and 0.050 against 0.043 dex).  These notes were measured with
    networks of (128, 128); with (64, 64) the book's flow drew M* at 13-15.5
    0.122 dex wide at fixed halo (the law 0.113; ``bench/density.py``,
    2026-11-29).

    How precisely the training galaxies themselves fix each bin's scatter and
    correlations is measured by :func:`hgtools.density_scores.sample_noise`
    (the chapter's Table J4): on the full-size catalogue of seed 0 the 1,478
    training galaxies of the 13-15.5 bin leave a largest residual-correlation
    error of 0.033 (sets drawn anew from the law: median 0.033, 90th
    percentile 0.058), and those of 10.5-11 (2,642) one of 0.049, in the
    pairs and directions the book's flow misses on the test split there
    (training galaxies, then flow, each against the law: M*~sSFR +0.043 and
    +0.060, M*~g-i -0.049 and -0.033 at 10.5-11; +0.033 and +0.077, -0.021
    and -0.085 at 13-15.5; 2026-11-29).  At 10.5-11 the flow follows its
    training galaxies' own fluctuation; at 13-15.5 it errs the same way by
    two to four times as much.

    Measured against 49 draws of the law per test halo instead of the one
    true galaxy (Table J1's rows "vs law"), the four (64, 64) fits above
    keep their errors — largest conditional-std error 0.118-0.141, residual
    correlation 0.050-0.081, coverage 2.4-3.6 points — while the law's own
    values fall to 0.007, 0.009 and 0.6: what is left is the flow's, not the
    test split's noise.  Repeating the training haloes above M_h = 12.5
    twice and those above 13 four times (four fits, 2026-11-28) gave
    0.074-0.136, 0.051-0.086 and 3.9-4.7 points against the law: narrower
    M*, worse coverage; not adopted then.  With the moving average of the
    weights and the stellar-mass floor since, such weights (``upweight_mass``,
    a ramp instead of two steps) no longer cost coverage, and are the default.
    """

    name = "flow"

    def __init__(self, hidden: tuple[int, ...] = (48, 48), n_bins: int = 16, bound: float = 8.0,
                 n_layers: int = 2, mass_knots: tuple[float, ...] = MASS_KNOTS, learning_rate: float = 2e-3,
                 batch_size: int = 1024, epochs: int = 200, patience: int = 12, lr_drops: int = 2,
                 jit_compile: bool = True, ema: float = 0.995, stellar_mass_floor: float | None = LOG_STELLAR_MASS_MIN,
                 floor_width: float = 0.1, upweight_mass: float | None = UPWEIGHT_MASS, upweight: float = 4.0,
                 random_state: int = 0, verbose: bool = False):
        self.hidden = hidden
        self.n_bins = n_bins
        self.bound = bound
        self.n_layers = n_layers
        self.mass_knots = mass_knots
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.lr_drops = lr_drops
        self.jit_compile = jit_compile
        self.ema = ema
        self.stellar_mass_floor = stellar_mass_floor
        self.floor_width = floor_width
        self.upweight_mass = upweight_mass
        self.upweight = upweight
        self.random_state = random_state
        self.verbose = verbose

    def _halo_weights(self, X: np.ndarray) -> np.ndarray | None:
        if self.upweight_mass is None:
            return None
        return mass_weights(X[:, FEATURES.index("M_h")], self.upweight_mass, self.upweight)

    def _floored(self, Y: np.ndarray) -> tuple[int, np.ndarray]:
        """The column of M* and (M* - floor) / width for Y (..., 4)."""
        j = TARGETS.index("stellar_mass")
        return j, (Y[..., j] - self.stellar_mass_floor) / self.floor_width

    def _warp(self, Y: np.ndarray) -> np.ndarray:
        """M* above :attr:`stellar_mass_floor` mapped onto the whole line: floor + w log(exp((M* - floor) / w) - 1)."""
        if self.stellar_mass_floor is None:
            return super()._warp(Y)
        j, u = self._floored(Y)
        T = np.array(Y, dtype=float)
        T[..., j] = self.stellar_mass_floor + self.floor_width * (u + np.log(-np.expm1(-u)))
        return T

    def _unwarp(self, T: np.ndarray) -> np.ndarray:
        if self.stellar_mass_floor is None:
            return super()._unwarp(T)
        j, s = self._floored(T)
        Y = np.array(T, dtype=float)
        above = self.stellar_mass_floor + self.floor_width * np.logaddexp(0.0, s)
        Y[..., j] = np.maximum(above, np.nextafter(self.stellar_mass_floor, np.inf))  # exp(s) may underflow
        return Y

    def _warp_log_det(self, Y: np.ndarray) -> np.ndarray:
        if self.stellar_mass_floor is None:
            return super()._warp_log_det(Y)
        return -np.log(-np.expm1(-self._floored(Y)[1]))

    def _in_support(self, Y: np.ndarray) -> np.ndarray:
        if self.stellar_mass_floor is None:
            return super()._in_support(Y)
        return self._floored(Y)[1] > 0

    def _support(self) -> str:
        if self.stellar_mass_floor is None:
            return super()._support()
        return f"stellar_mass above {self.stellar_mass_floor} {SCHEMA['stellar_mass'].unit}"

    def _build(self) -> None:
        tf, tfp, _ = _tensorflow()
        self._functions = {}
        self.made_ = [tfp.bijectors.AutoregressiveNetwork(
            params=3 * self.n_bins - 1, event_shape=[len(TARGETS)], conditional=True,
            conditional_event_shape=[self._n_context()], hidden_units=list(self.hidden), activation="relu")
            for _ in range(int(self.n_layers))]
        for made in self.made_:  # create the weights
            made(tf.zeros([1, len(TARGETS)]), conditional_input=tf.zeros([1, self._n_context()]))

    def _weights(self) -> list:
        return [w for made in self.made_ for w in made.trainable_variables]

    def _n_context(self) -> int:
        return len(FEATURES) + len(self.mass_knots)

    def _context(self, x):
        """The networks' conditional input (TensorFlow): the standardised halo features x (n, 5), then
        max(0, M_h - knot) for each of :attr:`mass_knots` (in M_h's standardised units)."""
        import tensorflow as tf

        if not len(self.mass_knots):
            return x
        m = FEATURES.index("M_h")
        knots = (np.asarray(self.mass_knots, dtype=float) - self.x_mean_[m]) / self.x_scale_[m]
        return tf.concat([x, tf.nn.relu(x[:, m:m + 1] - knots.astype(np.float32))], axis=1)

    def _made_layers(self, made) -> list[tuple]:
        """A MADE's layers as ``(kernel, bias, conditional kernel, mask)``, input to output.

        tfp's :class:`AutoregressiveNetwork` builds, per layer, a masked dense
        layer on the previous layer and a dense layer (no bias) on the
        conditional input, added; its kernels are kept masked by their
        initializer and constraint.
        """
        import tf_keras

        dense = [layer for layer in made._network.layers if isinstance(layer, tf_keras.layers.Dense)]
        masks = made._masks
        if len(dense) != 2 * len(masks) or any(c.kernel.shape[0] != self._n_context() or c.use_bias
                                               for c in dense[1::2]):
            raise RuntimeError("unexpected layout of tensorflow_probability's AutoregressiveNetwork: "
                               "the flow's column-by-column sampling needs updating for this version")
        return [(a.kernel, a.bias, c.kernel, mask) for a, c, mask in zip(dense[::2], dense[1::2], masks)]

    def _column_units(self, made) -> list[list[np.ndarray]]:
        """For each property position i: the units of every layer its spline parameters depend on.

        The last entry is the output columns of position i; each earlier one the
        hidden units with a (masked-in) path to them.  The first position's
        parameters depend on no hidden unit (only on the halo features).
        """
        masks, n_params = made._masks, 3 * self.n_bins - 1
        out = []
        for i in range(len(TARGETS)):
            units = [np.arange(i * n_params, (i + 1) * n_params)]
            for mask in masks[:0:-1]:  # hidden units feeding the units already needed
                units.insert(0, np.flatnonzero(mask[:, units[0]].any(axis=1)))
            out.append(units)
        return out

    def _new_units(self, made) -> list[list[np.ndarray]]:
        """For each property position i: the units of every layer first needed at position i.

        A hidden unit needed by position i is needed by every later one and
        depends on the properties before i only, so the sampler computes it
        once, at the first position that needs it (:meth:`_forward`).  The last
        entry is, as in :meth:`_column_units`, the output columns of position i.
        """
        needed = self._column_units(made)
        out, before = [], [np.array([], dtype=int)] * (len(needed[0]) - 1)
        for units in needed:
            if any(np.setdiff1d(b, u).size for b, u in zip(before, units)):
                raise RuntimeError("the MADE's hidden units are not nested by position: the flow's "
                                   "sampler needs updating for this tensorflow_probability")
            out.append([np.setdiff1d(u, b) for b, u in zip(before, units)] + [units[-1]])
            before = units[:-1]
        return out

    def _spline_bins(self, params, axis: int = -1):
        """Bin widths and bin heights (each summing to 2 bound) and the inner knots' slope logits of MADE outputs.

        ``params`` holds the 3 n_bins - 1 parameters of each spline along ``axis``
        (the last for training, the first for :meth:`spline_forward`).
        """
        import tensorflow as tf

        nb = self.n_bins
        span = 2 * self.bound - nb * MIN_BIN
        widths, heights, logits = tf.split(params, [nb, nb, nb - 1], axis=axis)
        return (tf.nn.softmax(widths, axis=axis) * span + MIN_BIN, tf.nn.softmax(heights, axis=axis) * span + MIN_BIN,
                logits)

    @staticmethod
    def _slopes(logits):
        """Knot slopes from their logits (positive, at least :data:`MIN_BIN`)."""
        import tensorflow as tf

        return tf.nn.softplus(logits) + MIN_BIN

    def spline(self, params):
        """The spline bijector of a MADE output (..., 3 n_bins - 1) (TFP's rational-quadratic spline)."""
        import tensorflow_probability as tfp

        widths, heights, logits = self._spline_bins(params)
        return tfp.bijectors.RationalQuadraticSpline(widths, heights, self._slopes(logits), range_min=-self.bound)

    def spline_forward(self, params, x):
        """The splines of ``params`` (3 n_bins - 1, n) applied to x (n,): :meth:`spline`'s forward, for sampling.

        TFP's arithmetic, with the parameter axis first (every step works on
        rows of n values, which XLA vectorises; along a last axis of n_bins it
        did not) and x's bin picked by a one-hot sum over the n_bins bins
        instead of a batched search and six batched gathers; of the inner knot
        slopes only the two of x's bin are computed.  Training keeps TFP's
        inverse and log-Jacobian: the one-hot pick there trained the full-size
        flow in 145-149 s instead of 171 s, but float32 rounding led it to
        other early stops (69 and 59 epochs, validation log-density 1.802 and
        1.809 nats, against 69 epochs and 1.812 nats), so the book's model
        would no longer be the one recorded.

        XLA compiles it for the CPU into some fifty loop fusions, each a pass
        over memory.  Measured no faster (one thread, (47, 32,768) parameters,
        2026-11-28): every step written on rows of n values (251-281 against
        162-187 ns per value), the knots of x's bin as masked sums of the
        widths and heights (174 against 173), and XLA's flags (512-bit vectors,
        fast math, no YNNPACK fusions, the legacy emitters: 160-261 against 162-187).
        """
        import tensorflow as tf

        widths, heights, logits = self._spline_bins(params, axis=0)  # (n_bins, n), (n_bins, n), (n_bins - 1, n)
        lo = tf.fill(tf.shape(x[None]), tf.constant(-self.bound, widths.dtype))
        kx = tf.concat([lo, _running_sum(widths) - self.bound], axis=0)  # knots (n_bins + 1, n)
        ky = tf.concat([lo, _running_sum(heights) - self.bound], axis=0)
        outside = (x <= kx[0]) | (x >= kx[-1])  # the identity there
        xc = tf.where(outside, kx[0], x)
        below = tf.cast(kx[:-1] <= xc[None], widths.dtype)  # 1 up to x's bin, then 0
        pick = below - tf.concat([below[1:], tf.zeros_like(lo)], axis=0)  # one-hot of x's bin

        def at(values):
            return tf.reduce_sum(pick * values, axis=0)

        def slope(logits, end):  # slope 1 at both ends, as TFP's
            return tf.where(end > 0.5, tf.ones_like(x), self._slopes(at(logits)))

        zero = tf.zeros_like(lo)
        d_k = slope(tf.concat([zero, logits], axis=0), pick[0])
        d_kp1 = slope(tf.concat([logits, zero], axis=0), pick[-1])
        x_k, y_k = at(kx[:-1]), at(ky[:-1])
        w_k, h_k = at(kx[1:]) - x_k, at(ky[1:]) - y_k  # as TFP: differences of the knots
        s_k, r = h_k / w_k, (xc - x_k) / w_k
        value = y_k + h_k * (s_k * r**2 + d_k * r * (1 - r)) / (s_k + (d_kp1 + d_k - 2 * s_k) * r * (1 - r))
        return tf.where(outside, x, value)

    def _order(self, layer: int) -> list[int]:
        d = len(TARGETS)
        return list(range(d)) if layer % 2 == 0 else list(range(d))[::-1]

    def _loss(self, y, x):
        import tensorflow as tf

        x = self._context(x)
        u, log_det = y, 0.0
        for layer, made in enumerate(self.made_):  # data -> base: one pass per layer
            order = self._order(layer)
            v = tf.gather(u, order, axis=-1)
            bijector = self.spline(made(v, conditional_input=x))
            log_det = log_det + tf.reduce_sum(bijector.inverse_log_det_jacobian(v, event_ndims=0), axis=-1)
            u = tf.gather(bijector.inverse(v), np.argsort(order), axis=-1)
        base = -0.5 * tf.reduce_sum(u**2, axis=-1) - 0.5 * len(TARGETS) * np.log(2 * np.pi)
        return -(base + log_det)

    def _forward(self, z, x, spline=None):
        """Base draws z (n, 4) → properties, standardised (TensorFlow): one pass per property and layer.

        ``spline(params, x)`` replaces :meth:`spline_forward` when given (``bench/density.py``
        times the MADE networks alone with the identity there).

        Every hidden unit is computed once, at the first property that needs it
        (:meth:`_new_units`; the first property's spline parameters depend on
        the halo features alone), from the units before it — the same numbers
        as a whole MADE pass per property (the masked-out weights are zero),
        for a sixth of their arithmetic (with the default networks, (48,
        48), 9.6 thousand multiply-adds per halo and layer, 7.6 thousand
        without the M_h hinges, less than one whole pass's 15 thousand; with
        (64, 64) 12.7, 10.5 and 20 thousand; with (128, 128) 29, 25 and 46
        thousand).  Hidden units are kept as
        (n, units); the spline parameters come out of their matrix product
        transposed, (parameters, n), for
        :meth:`spline_forward`.  Against
        the previous sampler (hidden units of every needed degree recomputed
        for each property, splines along the last axis), the full-size flow
        drew 5 × 10^5 galaxies in 2.6-3.6 s instead of 4.7-5.8 s in each of
        two one-thread processes at once (as populate's workers), and 10^6 in
        3.6-3.9 s instead of 5.6-6.3 s in one process on both cores (the same
        weights, two runs each after a first call, 2026-11-28).  Keeping
        everything transposed was faster on two threads (3.0 s) but three
        times slower on one (XLA's one-thread matrix products).  Each group of
        new units comes out of one matrix product of the halo features and
        every earlier group side by side (their weights stacked), not of one
        product per group added up: the full-size flow's draws took 4.1-4.4
        instead of 5.0-5.8 s per 10^6 on one thread and 2.3 instead of 3.3 s
        on two (2026-11-28; the same draws to float32 rounding, 1e-4 in
        standardised units).  Measured slower or no faster (the full-size
        flow, one thread, 2026-11-28): the matrix products in NumPy
        (OpenBLAS) with the splines in XLA, 5.9-6.4 against 4.1-4.3 s per
        10^6; the whole sampler converted to TensorFlow Lite (XNNPACK), in
        chunks of 512 to 16,384 rows, 3.8-5.8 against 3.7-4.4 s; the products
        in TensorFlow without XLA (oneDNN) and only the splines compiled,
        3.4-4.9 against 3.8-4.6 s (this machine's noise).  The weights baked
        into the compiled sampler as constants (so that XLA folds their
        gathers and concatenations) made it slower: 4.29 against 2.39 us per
        draw (2^18 draws, one thread, medians of five alternated runs, 2026-11-29).
        """
        import tensorflow as tf

        spline = spline or self.spline_forward
        x = self._context(x)
        u = z
        for layer in reversed(range(len(self.made_))):
            order, made = self._order(layer), self.made_[layer]
            weights = self._made_layers(made)
            w = tf.gather(u, order, axis=1)
            columns, groups = [], [[] for _ in weights]  # groups[k]: (units, values) of layer k so far
            for i, new_units in enumerate(self._new_units(made)):
                inputs = [(np.arange(i), tf.stack(columns, axis=1))] if columns else []
                for k, ((kernel, bias, conditional, _), new) in enumerate(zip(weights, new_units)):
                    if new.size:  # hidden units (n, units); the spline parameters transposed, (params, n)
                        values = tf.concat([x] + [v for _, v in inputs], axis=1)
                        weight = tf.concat([tf.gather(conditional, new, axis=1)]
                                           + [tf.gather(tf.gather(kernel, rows), new, axis=1) for rows, _ in inputs],
                                           axis=0)
                        bias_new = tf.gather(bias, new)
                        if k + 1 == len(weights):
                            groups[k].append((new, tf.matmul(weight, values, transpose_a=True, transpose_b=True)
                                              + bias_new[:, None]))
                        else:
                            groups[k].append((new, tf.nn.relu(tf.matmul(values, weight) + bias_new)))
                    inputs = groups[k]
                columns.append(spline(groups[-1][-1][1], w[:, i]))
            u = tf.gather(tf.stack(columns, axis=1), np.argsort(order), axis=1)
        return u

    def _blocks(self, forward):
        """``forward(z, x)`` computed in blocks of :data:`SAMPLE_BLOCK_ROWS` rows, one after the other in an XLA
        loop (with ``jit_compile``; the rows must then be a multiple of the block, as :meth:`_call` pads them)."""
        if not self.jit_compile:
            return forward
        import tensorflow as tf

        def blocked(z, x):
            blocks = [tf.reshape(a, [-1, SAMPLE_BLOCK_ROWS, a.shape[1]]) for a in (z, x)]
            out = tf.map_fn(lambda zx: forward(*zx), tuple(blocks), fn_output_signature=z.dtype)
            return tf.reshape(out, tf.shape(z))

        return blocked

    def _sample_std(self, x, n_draws: int, rng: np.random.Generator, forward=None) -> np.ndarray:
        """Draws (n_draws, n, 4) in standardised units; ``forward`` replaces the compiled sampler when given.

        The base draws of every (draw, halo) pair, draw after draw, are cut into
        chunks of :data:`SAMPLE_CHUNK_ROWS` rows, drawn from ``rng`` in that
        order (as one array of (n_draws, n, 4) would be) and sampled on
        :func:`sampler_threads` threads, a few chunks per thread at a time (so
        that memory stays bounded): with ``jit_compile`` (:meth:`_blocks`) the
        draws depend on neither the chunks nor the threads.
        """
        from concurrent.futures import ThreadPoolExecutor

        f = forward or self._compiled("forward", self._blocks(self._forward), (len(TARGETS), len(FEATURES)))
        n, total, threads = len(x), n_draws * len(x), sampler_threads()
        bounds = [(a, min(a + SAMPLE_CHUNK_ROWS, total)) for a in range(0, total, SAMPLE_CHUNK_ROWS)]
        parts = []
        with ThreadPoolExecutor(threads) as pool:
            for g in range(0, len(bounds), 4 * threads):
                chunks = [(rng.standard_normal((b - a, len(TARGETS))), x[np.arange(a, b) % n])
                          for a, b in bounds[g:g + 4 * threads]]  # in order: rng's stream as one array
                parts += pool.map(lambda chunk: self._call(f, *chunk), chunks)
        return np.concatenate(parts).reshape(n_draws, n, len(TARGETS))


class GaussianDensity(_NetworkDensity):
    """A network giving, for every halo, the mean and the full covariance of a 4D normal law.

    The last layer gives 4 means and the 10 entries of the lower-triangular
    Cholesky factor of the covariance (diagonal through a softplus, so it is
    positive), in standardised units.  Parameters as :class:`FlowDensity`.
    """

    name = "gaussian"

    def __init__(self, hidden: tuple[int, ...] = (128, 128, 128), learning_rate: float = 1e-3,
                 batch_size: int = 512, epochs: int = 200, patience: int = 20, lr_drops: int = 2,
                 random_state: int = 0, verbose: bool = False):
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.lr_drops = lr_drops
        self.random_state = random_state
        self.verbose = verbose

    def _build(self) -> None:
        _, _, tf_keras = _tensorflow()
        self._functions = {}
        d = len(TARGETS)
        layers = [tf_keras.layers.Dense(units, activation="relu") for units in self.hidden]
        self.network_ = tf_keras.Sequential([tf_keras.Input(shape=(len(FEATURES),)), *layers,
                                             tf_keras.layers.Dense(d + d * (d + 1) // 2)])

    def _weights(self) -> list:
        return list(self.network_.trainable_variables)

    def _moments(self, x):
        """Means (n, 4) and Cholesky factors (n, 4, 4) in standardised units (TensorFlow)."""
        import tensorflow_probability as tfp

        out = self.network_(x)
        d = len(TARGETS)
        scale = tfp.bijectors.FillScaleTriL(diag_shift=1e-4)
        return out[:, :d], scale.forward(out[:, d:])

    def _loss(self, y, x):
        import tensorflow as tf

        mean, chol = self._moments(x)
        z = tf.linalg.triangular_solve(chol, (y - mean)[..., None], lower=True)[..., 0]
        log_det = tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)), axis=-1)
        return 0.5 * tf.reduce_sum(z**2, axis=-1) + log_det + 0.5 * len(TARGETS) * np.log(2 * np.pi)

    def moments(self, X) -> tuple[np.ndarray, np.ndarray]:
        """E[Y | X] (n, 4) and Cov[Y | X] (n, 4, 4) in catalogue units."""
        self._check_fitted()
        mean, chol = self._moments_std(self._standardise(X))
        cov = np.einsum("nij,nkj->nik", chol, chol)
        return self.y_mean_ + self.y_scale_ * mean, cov * np.outer(self.y_scale_, self.y_scale_)

    def _moments_std(self, x) -> tuple[np.ndarray, np.ndarray]:
        f = self._compiled("moments", lambda xx: self._moments(xx), (len(FEATURES),))
        parts = [f(x[i:i + CHUNK_ROWS].astype(np.float32)) for i in range(0, len(x), CHUNK_ROWS)]
        return (np.concatenate([m.numpy() for m, _ in parts]).astype(float),
                np.concatenate([c.numpy() for _, c in parts]).astype(float))

    def _sample_std(self, x, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        mean, chol = self._moments_std(x)
        z = rng.standard_normal((n_draws, len(x), len(TARGETS)))
        return mean + np.einsum("nij,dnj->dni", chol, z)


# ---------------------------------------------------------------------------
# the non-parametric baseline
# ---------------------------------------------------------------------------

class ResidualDensity(DensityModel):
    """LightGBM's prediction of each property plus the joint residual of a nearby training halo.

    Fit: one :class:`hgtools.models.LightGBMRegressor` per property (the
    study's hyper-parameters, early stopping on the validation set), and the
    residuals Y - prediction of every training galaxy, predicted out of fold
    (``n_folds`` folds) so that they carry the real error, not the training fit.
    Sample: for each halo and draw, one of its ``n_neighbors`` nearest training
    haloes (standardised features) is picked at random and its four residuals
    are added to the prediction — the scatter and its correlations come from
    the data, with no assumed shape.  There is no density (:meth:`log_prob`).
    """

    name = "residual"
    has_log_prob = False

    def __init__(self, n_neighbors: int = 50, n_folds: int = 5, random_state: int = 0, verbose: bool = False):
        self.n_neighbors = n_neighbors
        self.n_folds = n_folds
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, Y, val) -> None:
        from sklearn.model_selection import KFold

        if self.n_neighbors < 1 or self.n_neighbors > len(X):
            raise ValueError(f"n_neighbors must lie in [1, {len(X)}] (training haloes), got {self.n_neighbors}")
        x, y = self._standardise(X, Y)
        xv, yv = self._standardise(*val) if val is not None else (None, None)
        residuals = np.empty_like(y)
        folds = KFold(int(self.n_folds), shuffle=True, random_state=int(self.random_state)).split(x)
        for train, held in folds:
            residuals[held] = y[held] - self._fit_means(x[train], y[train], xv, yv, predict=x[held])
        self.boosters_ = [m.booster_ for m in self._fit_means(x, y, xv, yv)]
        self.train_x_, self.residuals_ = x, residuals
        self._build_tree()

    def _fit_means(self, x, y, xv, yv, predict=None):
        from hgtools.models import LightGBMRegressor

        models = [LightGBMRegressor(random_state=int(self.random_state)).fit(
            x, y[:, j], *((xv, yv[:, j]) if xv is not None else ())) for j in range(y.shape[1])]
        return models if predict is None else np.column_stack([m.predict(predict) for m in models])

    def _build_tree(self) -> None:
        from scipy.spatial import cKDTree

        self.tree_ = cKDTree(self.train_x_)

    def _means_std(self, x) -> np.ndarray:
        return np.column_stack([b.predict(x) for b in self.boosters_])

    def _sample_std(self, x, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        _, neighbours = self.tree_.query(x, k=int(self.n_neighbors), workers=-1)
        neighbours = neighbours.reshape(len(x), -1)
        pick = rng.integers(0, neighbours.shape[1], size=(n_draws, len(x)))
        return self._means_std(x) + self.residuals_[neighbours[np.arange(len(x)), pick]]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), "train_x": self.train_x_, "residuals": self.residuals_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_arrays(arrays)
        self.train_x_, self.residuals_ = arrays["train_x"], arrays["residuals"]
        if self.train_x_.shape != self.residuals_.shape[:1] + (len(FEATURES),) or self.residuals_.shape[1] != len(TARGETS):
            raise ValueError(f"train_x {self.train_x_.shape} and residuals {self.residuals_.shape} do not match")
        self._build_tree()


# ---------------------------------------------------------------------------
# construction, saving and loading
# ---------------------------------------------------------------------------

_CLASSES = {"flow": FlowDensity, "gaussian": GaussianDensity, "residual": ResidualDensity}


def make_density(name: str, random_state: int = 0, **params) -> DensityModel:
    """A density model by name (:data:`DENSITY_MODELS`)."""
    if name not in _CLASSES:
        raise ValueError(f"unknown density model {name!r}; choose from {', '.join(DENSITY_MODELS)}")
    return _CLASSES[name](random_state=random_state, **params)


def fit_on_catalogue(table, name: str, seed: int = 0, verbose: bool = False, **params) -> DensityModel:
    """A density model fitted on a catalogue's training split, stopping early on its validation split.

    The split is the study's (:func:`hgtools.catalogue.split` with ``seed``),
    as for the point models, so the test split is untouched.  ``seed`` also
    seeds the model unless ``params`` gives its ``random_state`` (another fit
    on the same split: ``bench/density_seeds.py``).
    """
    from hgtools.catalogue import split, validate

    validate(table, columns=(*FEATURES, *TARGETS))
    parts = split(table, seed)
    X, Y = table[list(FEATURES)].to_numpy(dtype=float), table[list(TARGETS)].to_numpy(dtype=float)
    model = make_density(name, **{"random_state": seed, "verbose": verbose, **params})
    return model.fit(X[parts.train], Y[parts.train], X[parts.validation], Y[parts.validation])


def fit_and_save(table, name: str, folder: str | os.PathLike, *, seed: int = 0, params: dict | None = None,
                 card: dict | None = None, verbose: bool = False, overwrite: bool = False) -> dict:
    """Fit density model ``name`` on ``table`` (:func:`fit_on_catalogue`) and save it into ``folder``.

    Module-level, for :func:`hgtools.parallel.run_concurrently`: the book, the
    run's :meth:`~hgtools.pipeline.Run.fit_density` and ``hgtools
    train-density`` all fit in a worker process (one TensorFlow thread), so a
    model is the same whichever of them fitted it.

    Returns
    -------
    dict
        ``seconds`` (the fit's) and ``validation_log_prob`` (mean log-density
        of the validation split [nats], None for a model without one).
    """
    model = fit_on_catalogue(table, name, seed=seed, verbose=verbose, **(params or {}))
    save_density(model, folder, card, overwrite=overwrite)
    return {"seconds": model.fit_seconds_, "validation_log_prob": getattr(model, "validation_log_prob_", None)}


def _units() -> dict:
    return {c: SCHEMA[c].unit for c in (*FEATURES, *TARGETS)}


def save_density(model: DensityModel, folder: str | os.PathLike, card: dict | None = None, *,
                 overwrite: bool = False) -> Path:
    """Write a fitted density model into ``folder`` atomically: ``arrays.npz``, LightGBM text, ``card.json``.

    The card gets ``kind`` ``"density"``, ``model`` (its name), the features
    and targets with their units, the hyper-parameters, the validation score
    and the library versions, on top of ``card``.
    """
    from importlib.metadata import PackageNotFoundError, version

    from hgtools.io import atomic_write, json_default
    from hgtools.models import plain_params

    model._check_fitted()
    params = plain_params(model)
    lost = sorted(set(model.get_params()) - set(params))
    params.pop("verbose", None)  # how a fit reports, not what it makes
    if lost:  # the card could not rebuild the model: refuse before writing anything
        raise ValueError(f"cannot save the {model.name} model to {folder}: parameter(s) {', '.join(lost)} are not "
                         "plain data (numbers, strings, or sequences of numbers)")
    versions = {}
    for package in CARD_LIBRARIES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    card = {**(card or {}), "kind": KIND, "model": model.name, "features": list(FEATURES), "targets": list(TARGETS),
            "units": _units(), "params": params,
            "validation_mean_log_prob": getattr(model, "validation_log_prob_", None),
            "epochs_run": getattr(model, "epochs_run_", None), "fit_seconds": getattr(model, "fit_seconds_", None),
            "versions": versions}
    folder = Path(folder)
    with atomic_write(folder, folder=True, overwrite=overwrite) as tmp:
        np.savez(tmp / "arrays.npz", **model._arrays())
        for j, booster in enumerate(getattr(model, "boosters_", [])):
            booster.save_model(str(tmp / f"mean-{TARGETS[j]}.txt"))
        (tmp / "card.json").write_text(json.dumps(card, indent=1, default=json_default))
    return folder


def is_density(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a card of kind ``"density"`` (no other check)."""
    path = Path(folder) / "card.json"
    try:
        return path.is_file() and json.loads(path.read_text()).get("kind") == KIND
    except (ValueError, UnicodeDecodeError, AttributeError):
        return False


def load_density(folder: str | os.PathLike) -> tuple[DensityModel, dict]:
    """A density model written by :func:`save_density`, with its card.

    Raises
    ------
    hgtools.models.ModelFileError
        Naming the file and the problem when the folder is missing, damaged or
        not a density model (never a raw traceback from a library).
    """
    from hgtools.models import ModelFileError, read_card

    folder = Path(folder)
    card = read_card(folder)
    if card["kind"] != KIND or card.get("model") not in _CLASSES:
        raise ModelFileError(f"{folder / 'card.json'}: not a density model (kind {card['kind']!r}, "
                             f"model {card.get('model')!r})")
    if card.get("features") != list(FEATURES) or card.get("targets") != list(TARGETS):
        raise ModelFileError(f"{folder / 'card.json'}: features {card.get('features')} and targets "
                             f"{card.get('targets')} are not hgtools' {list(FEATURES)} and {list(TARGETS)}")
    try:
        model = _CLASSES[card["model"]](**{**_ADDED_PARAMS.get(card["model"], {}), **card["params"]})
    except TypeError as err:
        raise ModelFileError(f"{folder / 'card.json'}: unusable parameters ({err})") from None
    path = folder / "arrays.npz"
    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
        if isinstance(model, ResidualDensity):
            model.boosters_ = [_load_booster(folder / f"mean-{t}.txt") for t in TARGETS]
        model._set_arrays(arrays)
    except ModelFileError:
        raise
    except Exception as err:  # zip/npz errors, missing arrays, wrong shapes
        raise ModelFileError(f"{path} cannot be loaded (damaged, or not written by hgtools?): {err}") from None
    for attribute, key in (("validation_log_prob_", "validation_mean_log_prob"), ("epochs_run_", "epochs_run"),
                           ("fit_seconds_", "fit_seconds")):  # what the fit measured, as the card recorded it
        if card.get(key) is not None:
            setattr(model, attribute, card[key])
    return model, card


def predict_draws(model: DensityModel | str | os.PathLike, halos, n_draws: int = 1, seed: int = 0):
    """Galaxies drawn for a table of haloes: one row per halo and draw.

    Parameters
    ----------
    model : DensityModel or path
        A fitted model or a folder written by :func:`save_density`.
    halos : pandas.DataFrame
        The five halo features (and ``ID``, kept when present).
    n_draws, seed : draws per halo and the seed (same seed, same galaxies).

    Returns
    -------
    pandas.DataFrame
        ``ID`` (if given), ``draw`` (when ``n_draws`` > 1; draws are stacked
        draw after draw) and the four galaxy properties in catalogue units.
    """
    import pandas as pd

    from hgtools.catalogue import validate

    n_draws = check_n_draws(n_draws)
    if not isinstance(model, DensityModel):
        model, _ = load_density(model)
    validate(halos, columns=FEATURES)
    draws = model.sample(halos[list(FEATURES)].to_numpy(dtype=float), n_draws, seed)
    out = pd.DataFrame(draws.reshape(-1, len(TARGETS)), columns=list(TARGETS))
    if n_draws > 1:
        out.insert(0, "draw", np.repeat(np.arange(n_draws), len(halos)))
    if "ID" in halos:
        out.insert(0, "ID", np.tile(halos["ID"].to_numpy(), n_draws))
    return out


def _load_booster(path: Path):
    import lightgbm as lgb

    from hgtools.models import ModelFileError

    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    try:
        return lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as err:
        raise ModelFileError(f"{path} is not a LightGBM text model (damaged?): {err}") from None


__all__ = ["DENSITY_MODELS", "DensityModel", "ExtrapolationWarning", "FlowDensity", "GaussianDensity", "KIND",
           "ResidualDensity", "check_n_draws", "fit_and_save", "fit_on_catalogue", "is_density", "load_density",
           "make_density", "mass_weights", "predict_draws", "repeats", "save_density"]
