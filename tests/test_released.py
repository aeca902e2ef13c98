"""The released-model loader, on stand-in files written in the study's repository layout."""

from __future__ import annotations

import numpy as np
import pytest

from hgtools import released
from hgtools.catalogue import FEATURES


def _features(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean, std = (np.asarray(v) for v in released.INPUT_SCALING["raw"]["stellar_mass"])
    return mean + std * rng.standard_normal((n, len(FEATURES)))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """models/<property>/raw-LGBM.txt, raw-NN.h5 and a pickle that must never be opened."""
    import keras
    import lightgbm as lgb

    folder = tmp_path_factory.mktemp("release") / "models"
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((2000, 5))
    for target in ("stellar_mass", "radius"):
        (folder / target).mkdir(parents=True)
        y = Z @ rng.normal(size=5) + 0.1 * rng.standard_normal(2000)
        booster = lgb.train({"objective": "regression", "verbosity": -1, "seed": 0}, lgb.Dataset(Z, y),
                            num_boost_round=20)
        booster.save_model(str(folder / target / "raw-LGBM.txt"))
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((5,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
        net.save(folder / target / "raw-NN.h5")
        (folder / target / "raw-stacked.sav").write_bytes(b"not a pickle: opening it would fail")
    return folder


def test_the_layout_is_recognised(release, tmp_path):
    assert released.is_released(release) and not released.is_released(tmp_path)


@pytest.mark.parametrize("model", ["LGBM", "NN"])
def test_predictions_standardise_the_features_as_the_release_does(release, model):
    import keras
    import lightgbm as lgb

    loaded = released.load_released(release, model=model)
    assert [m.target for m in loaded] == ["stellar_mass", "radius"]  # colour and sSFR absent here
    X = _features(500)
    mean, std = (np.asarray(v) for v in released.INPUT_SCALING["raw"]["radius"])
    file = release / "radius" / f"raw-{model}.{'txt' if model == 'LGBM' else 'h5'}"
    if model == "LGBM":
        direct = lgb.Booster(model_file=str(file)).predict((X - mean) / std)
    else:
        direct = keras.models.load_model(file, compile=False).predict(((X - mean) / std).astype(np.float32),
                                                                      verbose=0).reshape(-1)
    np.testing.assert_allclose(loaded[1].predict(X), direct, rtol=1e-6, atol=1e-6)


def test_bad_releases_are_named(release, tmp_path):
    import keras

    with pytest.raises(released.ReleasedModelError, match="no released SMOGN-LGBM model"):
        released.load_released(release, path="SMOGN")
    with pytest.raises(released.ReleasedModelError, match="must be one of LGBM, NN"):
        released.load_released(release, model="ERT")
    bad = tmp_path / "models" / "color"
    bad.mkdir(parents=True)
    (bad / "raw-LGBM.txt").write_text("tree\nversion=v4\nthis is no model\n")
    with pytest.raises(released.ReleasedModelError, match="color/raw-LGBM.txt is not a LightGBM text model"):
        released.load_released(tmp_path / "models")
    net = keras.Sequential([keras.Input((5,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(1)])
    net.save(bad / "raw-NN.h5")
    with pytest.raises(released.ReleasedModelError, match="uses Lambda; only plain layers"):
        released.load_released(tmp_path / "models", model="NN")
    (bad / "raw-NN.h5").write_bytes(b"\x89HDF\r\n damaged")
    with pytest.raises(released.ReleasedModelError, match="not an HDF5 Keras file"):
        released.load_released(tmp_path / "models", model="NN")
