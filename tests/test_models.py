"""The four regressors, the stack, saving and loading, and `hgtools predict`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from hgtools import cli, models
from hgtools.catalogue import FEATURES, read_catalogue, split

FAST = {"ERT": {"n_estimators": 40}, "kNN": {}, "LGBM": {}, "NN": {"epochs": 15, "patience": 3}}


@pytest.fixture(scope="module")
def data(universe):
    cat, _ = universe
    sub = cat.iloc[:5000].reset_index(drop=True)
    parts = split(sub, seed=0)
    X = sub[list(FEATURES)].to_numpy()
    y = sub["stellar_mass"].to_numpy()
    return sub, X[parts.train], y[parts.train], X[parts.validation], y[parts.validation]


@pytest.fixture(scope="module")
def fitted(data):
    _, X, y, Xv, yv = data
    return {name: models.fit_model(models.make_model(name, 0, **FAST[name]), X, y, Xv, yv)
            for name in models.MODEL_NAMES}


def test_each_model_learns_and_keeps_the_estimator_api(data, fitted):
    _, X, y, Xv, yv = data
    for name, model in fitted.items():
        pred = model.predict(Xv)
        assert pred.shape == (len(Xv),), name
        assert np.corrcoef(pred, yv)[0, 1] > 0.9, name  # stellar mass follows halo mass closely
        assert models.plain_params(clone(model)) == models.plain_params(model), name
        with pytest.raises(ValueError, match="NaN"):
            model.predict(np.where(np.eye(len(Xv), 5, dtype=bool), np.nan, Xv))


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_the_same_seed_gives_the_same_model(data, fitted, name):
    _, X, y, Xv, yv = data
    again = models.fit_model(models.make_model(name, 0, **FAST[name]), X, y, Xv, yv)
    np.testing.assert_array_equal(again.predict(Xv), fitted[name].predict(Xv))


def test_early_stopping_uses_the_validation_set(data, fitted):
    assert fitted["LGBM"].best_iteration_ < fitted["LGBM"].n_estimators
    assert 1 <= fitted["NN"].epochs_run_ <= FAST["NN"]["epochs"]
    with pytest.raises(ValueError, match="unknown model"):
        models.make_model("SVM")


def test_network_stops_after_patience_and_keeps_its_best_epoch(data):
    _, X, y, Xv, yv = data
    net = models.fit_model(models.make_model("NN", 0, epochs=60, patience=2, learning_rate=0.05), X, y, Xv, yv)
    scores = [h["validation"] for h in net.history_]
    best = int(np.argmin(scores))
    assert len(scores) == net.epochs_run_
    assert net.epochs_run_ == 60 or net.epochs_run_ == best + 1 + 2  # stopped two epochs after its best
    # the kept weights are the best epoch's: its validation MSE (standardised target units)
    mse = np.mean(((net.predict(Xv) - yv) / net.y_scale_) ** 2)
    assert mse == pytest.approx(scores[best], rel=1e-4)
    assert all(np.isfinite(h["train"]) for h in net.history_)
    without = models.make_model("NN", 0, epochs=4).fit(X, y)  # no validation set: every epoch runs
    assert without.epochs_run_ == 4 and all(h["validation"] is None for h in without.history_)


@pytest.mark.parametrize("name", ["kNN", "NN"])
def test_models_pickle_after_predicting(data, fitted, name):
    """The traced forward pass and the k-d tree made at prediction are left out of the pickle."""
    import pickle

    _, _, _, Xv, _ = data
    expected = fitted[name].predict(Xv)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted[name])).predict(Xv), expected)


@pytest.mark.parametrize("k", [1, 30])
def test_knn_finds_the_neighbours_scikit_learn_finds(data, tmp_path, k):
    from sklearn.neighbors import KNeighborsRegressor

    _, X, y, Xv, _ = data
    ours = models.KNeighborsModel(n_neighbors=k).fit(X, y)
    reference = KNeighborsRegressor(n_neighbors=k).fit(X, y)
    np.testing.assert_allclose(ours.predict(Xv), reference.predict(Xv), rtol=0, atol=1e-12)
    ours.fit(X[::2], y[::2])  # a refit replaces the tree built at the first prediction
    np.testing.assert_allclose(ours.predict(Xv), reference.fit(X[::2], y[::2]).predict(Xv), rtol=0, atol=1e-12)
    distance = models.KNeighborsModel(n_neighbors=k, weights="distance").fit(X, y)  # scikit-learn's own path
    np.testing.assert_array_equal(distance.predict(Xv), KNeighborsRegressor(n_neighbors=k, weights="distance")
                                  .fit(X, y).predict(Xv))
    pipeline = models.make_model("kNN", n_neighbors=k).fit(X, y)
    expected = pipeline.predict(Xv)  # builds the tree, which is not saved
    loaded, _ = models.load_model(models.save_model(pipeline, tmp_path / "knn", {}))
    np.testing.assert_array_equal(loaded.predict(Xv), expected)


def test_stack_is_a_linear_fit_on_validation_predictions(data, fitted):
    _, _, _, Xv, yv = data
    stack = models.StackedModel(fitted).fit(Xv, yv)
    base = stack.base_predictions(Xv)
    expected = base @ np.array([stack.coefficients_[n] for n in models.MODEL_NAMES]) + stack.intercept_
    np.testing.assert_allclose(stack.predict(Xv), expected)
    assert np.mean((stack.predict(Xv) - yv) ** 2) <= min(np.mean((base[:, j] - yv) ** 2) for j in range(4))


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_save_load_round_trip(tmp_path, data, fitted, name):
    _, _, _, Xv, _ = data
    folder = models.save_model(fitted[name], tmp_path / name, {"target": "stellar_mass", "path": "raw"})
    back, card = models.load_model(folder)
    np.testing.assert_allclose(back.predict(Xv), fitted[name].predict(Xv), rtol=0, atol=1e-12)
    assert card["target"] == "stellar_mass" and "versions" in card
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.pickle"))


@pytest.fixture(scope="module")
def model_set(tmp_path_factory, data, fitted):
    _, _, _, Xv, yv = data
    folder = tmp_path_factory.mktemp("models")
    for target in ("stellar_mass", "color"):
        models.save_model(models.StackedModel(fitted).fit(Xv, yv), folder / target,
                          {"target": target, "path": "raw"})
    return folder


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_predict_command(tmp_path, data, model_set, suffix):
    sub = data[0].iloc[:300]
    halos = tmp_path / f"halos{suffix}"
    sub[["ID", *FEATURES]].to_parquet(halos) if suffix == ".parquet" else sub[["ID", *FEATURES]].to_csv(halos)
    out = tmp_path / "pred.parquet"
    assert cli.main(["predict", "--models", str(model_set), "--halos", str(halos), "--out", str(out)]) == 0
    pred = pd.read_parquet(out)
    stack, _ = models.load_model(model_set / "color")
    np.testing.assert_allclose(pred["color"], stack.predict(sub[list(FEATURES)].to_numpy()), rtol=1e-12)
    assert {"ID", "stellar_mass", "stellar_mass|raw|LGBM", "color|raw|NN"} <= set(pred.columns)
    assert read_catalogue.__module__  # the output is written by the same atomic writer


@pytest.mark.parametrize("breaker, message", [
    (lambda t: t.drop(columns="z_h"), "missing column.*z_h"),
    (lambda t: t.assign(C_h=np.where(np.arange(len(t)) == 3, np.nan, t["C_h"])), "'C_h' has 1 NaN"),
    (lambda t: t.iloc[:0], "empty"),
])
def test_predict_rejects_bad_tables(tmp_path, capsys, data, model_set, breaker, message):
    halos = tmp_path / "halos.parquet"
    breaker(data[0].iloc[:50][["ID", *FEATURES]]).to_parquet(halos)
    out = tmp_path / "pred.parquet"
    assert cli.main(["predict", "--models", str(model_set), "--halos", str(halos), "--out", str(out)]) == 1
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
    assert not out.exists()


class Foreign:
    """Not a model hgtools writes."""

    def __init__(self):
        self.payload = [1, 2, 3]


def test_loading_refuses_unknown_types(tmp_path):
    import skops.io as sio

    folder = tmp_path / "odd"
    folder.mkdir()
    sio.dump(Foreign(), folder / "model.skops")
    (folder / "card.json").write_text('{"kind": "sklearn"}')
    with pytest.raises(ValueError, match="does not trust"):
        models.load_model(folder)


def test_predict_needs_models(tmp_path, capsys, data):
    halos = tmp_path / "halos.parquet"
    data[0].iloc[:10][["ID", *FEATURES]].to_parquet(halos)
    (tmp_path / "empty").mkdir()
    assert cli.main(["predict", "--models", str(tmp_path / "empty"), "--halos", str(halos),
                     "--out", str(tmp_path / "p.parquet")]) == 1
    assert "no saved stack" in capsys.readouterr().err
