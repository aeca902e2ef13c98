"""The study authors' released TNG300 models, loaded without pickles.

The study's repository (``natalidesanti/mimicking_hg_connection_using_ml``)
releases, per galaxy property, one folder ``models/<property>/`` holding for
each training path (``raw``, ``SMOGN``) a LightGBM text model
(``<path>-LGBM.txt``), a Keras network (``<path>-NN.h5``) and pickled
scikit-learn objects (``*.sav``, ``*.pkl``: the stacks, kNN and ERT).  Its
example notebook feeds the models the five halo features in the catalogue's
order and units, each standardised with the mean and standard deviation of
the training set (:data:`INPUT_SCALING`, the values the notebook prints), and
reads the galaxy property straight from their output.

:class:`ReleasedSet` loads the LightGBM and Keras models of one path for every
property present and predicts with them.  Pickles are never opened; a network
whose architecture holds anything but plain layers (a ``Lambda`` layer would
run stored code) is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hgtools.catalogue import FEATURES, TARGETS

#: Mean and standard deviation of the study's TNG300-1 training features (order: ``FEATURES``), per path
#: and, for SMOGN, per property (the augmented training sets differ): the values printed by the
#: example notebook of the study's repository. Reference values, not measured here.
INPUT_SCALING: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "raw": {t: ((11.56469861, 1.01632565, 0.04922295, 1.32440794, 2.9712498),
                (0.46563159, 0.1551262, 0.02890369, 0.61842053, 2.9060127)) for t in TARGETS},
    "SMOGN": {
        "stellar_mass": ((12.08988322, 0.96981207, 0.0484409, 1.15586052, 3.46919684),
                         (0.68459218, 0.13999286, 0.02498792, 0.54413158, 2.78418432)),
        "sSFR": ((12.09845522, 0.97470878, 0.0452499, 1.1964297, 3.63642092),
                 (0.73929436, 0.14428435, 0.02485517, 0.54914671, 3.10866801)),
        "radius": ((11.8926449, 0.96278193, 0.04793351, 1.21513446, 5.40132796),
                   (1.02686488, 0.19323602, 0.02708772, 0.64644288, 8.07685982)),
        "color": ((11.34179992, 1.0561077, 0.04781581, 1.30217413, 2.99269429),
                  (0.40980921, 0.14630491, 0.02538269, 0.52672644, 2.36102014)),
    },
}
MODELS = ("LGBM", "NN")
PATHS = ("raw", "SMOGN")
#: Keras layers a released network may use (nothing that stores code).
PLAIN_LAYERS = {"Sequential", "Functional", "Model", "InputLayer", "Dense", "Dropout", "Activation",
                "BatchNormalization", "Normalization"}


class ReleasedModelError(ValueError):
    """A released model folder or file that cannot be used (the message names it)."""


def is_released(folder: str | os.PathLike) -> bool:
    """Whether a folder has the released layout (``<property>/<path>-LGBM.txt`` or ``-NN.h5``)."""
    folder = Path(folder)
    return any((folder / t / f"{p}-{m}.{'txt' if m == 'LGBM' else 'h5'}").is_file()
               for t in TARGETS for p in PATHS for m in MODELS)


def _check_network(path: Path) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
    except OSError as err:
        raise ReleasedModelError(f"{path} is not an HDF5 Keras file: {err}") from None
    if config is None:
        raise ReleasedModelError(f"{path} holds no model_config (not a Keras .h5 model)")
    config = json.loads(config if isinstance(config, str) else config.decode())

    def layers(cfg: dict):
        for layer in cfg.get("layers", []) if isinstance(cfg, dict) else []:
            yield layer.get("class_name")
            yield from layers(layer.get("config", {}))  # a nested model

    odd = sorted({str(name) for name in layers(config.get("config", {}))} - PLAIN_LAYERS)
    if config.get("class_name") not in PLAIN_LAYERS:
        odd.insert(0, str(config.get("class_name")))
    if odd:
        raise ReleasedModelError(f"{path}: the network uses {', '.join(odd)}; only plain layers are loaded "
                                 "(a Lambda or custom layer would run stored code)")


@dataclass
class ReleasedModel:
    """One released model of one property: standardise the features, predict."""

    target: str
    file: Path
    mean: np.ndarray
    std: np.ndarray
    model: object

    def predict(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=float) - self.mean) / self.std
        if self.file.suffix == ".txt":
            return np.asarray(self.model.predict(Z), dtype=float)
        return np.asarray(self.model.predict(Z.astype(np.float32), verbose=0, batch_size=65536),
                          dtype=float).reshape(-1)


def load_released(folder: str | os.PathLike, model: str = "LGBM", path: str = "raw") -> list[ReleasedModel]:
    """The released ``model`` ("LGBM" or "NN") of training ``path`` ("raw" or "SMOGN") for every property present.

    Raises
    ------
    ReleasedModelError
        If no property has that model, or a file is damaged or not plain.
    """
    if model not in MODELS:
        raise ReleasedModelError(f"released model must be one of {', '.join(MODELS)}, got {model!r}")
    if path not in PATHS:
        raise ReleasedModelError(f"released path must be one of {', '.join(PATHS)}, got {path!r}")
    folder = Path(folder)
    out = []
    for target in TARGETS:
        file = folder / target / f"{path}-{model}.{'txt' if model == 'LGBM' else 'h5'}"
        if not file.is_file():
            continue
        mean, std = (np.asarray(v, dtype=float) for v in INPUT_SCALING[path][target])
        if model == "LGBM":
            import lightgbm as lgb

            try:
                loaded = lgb.Booster(model_file=str(file))
            except lgb.basic.LightGBMError as err:
                raise ReleasedModelError(f"{file} is not a LightGBM text model: {err}") from None
            if loaded.num_feature() != len(FEATURES):
                raise ReleasedModelError(f"{file} takes {loaded.num_feature()} features, not the five halo features")
        else:
            _check_network(file)
            import keras

            try:
                loaded = keras.models.load_model(file, compile=False)
            except Exception as err:  # Keras raises many kinds for a bad file
                raise ReleasedModelError(f"{file} cannot be loaded as a Keras network: {err}") from None
            if loaded.input_shape[-1] != len(FEATURES):
                raise ReleasedModelError(f"{file} takes {loaded.input_shape[-1]} inputs, not the five halo features")
        out.append(ReleasedModel(target, file, mean, std, loaded))
    if not out:
        raise ReleasedModelError(f"{folder}: no released {path}-{model} model in any of "
                                 f"{', '.join(f'{t}/' for t in TARGETS)}")
    return out


__all__ = ["INPUT_SCALING", "MODELS", "PATHS", "ReleasedModel", "ReleasedModelError", "is_released",
           "load_released"]
