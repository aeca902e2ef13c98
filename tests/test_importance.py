"""Permutation importance: a known law recovered, seeds, normalisation, the model-folder wrapper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import importance, models
from hgtools.catalogue import FEATURES


def law(X):
    return 3.0 * X[:, 0] + 1.0 * X[:, 2]


def test_importance_of_a_known_law():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 3))
    y = law(X)
    table = importance.permutation_importance(importance.FunctionRegressor(law), X, y,
                                              feature_names=["a", "b", "c"], n_repeats=5, seed=1)
    # shuffling x makes the error 2 w^2 var(x): 18 for a, 2 for c, exactly 0 for the unused b
    assert table.loc["a", "importance"] == pytest.approx(18.0, rel=0.05)
    assert table.loc["c", "importance"] == pytest.approx(2.0, rel=0.05)
    assert table.loc["b", "importance"] == 0.0 and table.loc["b", "std"] == 0.0
    assert table["baseline MSE"].iloc[0] == 0.0
    assert table.loc["a", "std"] > 0 and set(table["repeats"]) == {5} and set(table["rows"]) == {20_000}


def test_seeded_and_normalised():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2_000, 3))
    y = law(X) + rng.standard_normal(2_000)
    model = importance.FunctionRegressor(law)
    one = importance.permutation_importance(model, X, y, n_repeats=3, seed=7)
    pd.testing.assert_frame_equal(one, importance.permutation_importance(model, X, y, n_repeats=3, seed=7))
    assert not one.equals(importance.permutation_importance(model, X, y, n_repeats=3, seed=8))
    long = one.reset_index().assign(target="t", path="raw", model="m")
    rel = importance.relative(long, "x0")
    assert rel.loc[rel["feature"] == "x0", "relative %"].item() == 100.0
    assert rel.loc[rel["feature"] == "x2", "relative %"].item() == pytest.approx(100 * 2 / 18, rel=0.2)
    flat = long.assign(importance=np.where(long["feature"] == "x0", -0.1, long["importance"]))
    assert importance.relative(flat, "x0")["relative %"].isna().all()
    with pytest.raises(ValueError, match="reference feature"):
        importance.relative(long, "M_h")


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((0, 2)), np.zeros(0), "non-empty"),
    (np.ones((3, 2)), np.ones(4), "one row per value"),
    (np.array([[1.0, np.nan]]), np.ones(1), "NaN"),
])
def test_bad_input_is_named(X, y, message):
    with pytest.raises(ValueError, match=message):
        importance.permutation_importance(importance.FunctionRegressor(law), X, y)


def test_model_importances_from_a_saved_stack(tmp_path):
    """The wrapper reads a saved stack, measures each base model and the stack, and adds the oracle."""
    rng = np.random.default_rng(2)
    n = 3_000
    halos = pd.DataFrame(rng.standard_normal((n, len(FEATURES))), columns=list(FEATURES))
    y = 0.8 * halos["M_h"] + 0.3 * halos["z_h"] + 0.05 * rng.standard_normal(n)
    X = halos.to_numpy()
    base = {"ERT": models.make_model("ERT", 0, n_estimators=20, min_samples_leaf=5).fit(X[:2000], y[:2000]),
            "LGBM": models.make_model("LGBM", 0).fit(X[:2000], y[:2000], X[2000:2500], y[2000:2500])}
    stack = models.StackedModel(base).fit(X[2000:2500], y[2000:2500])
    models.save_model(stack, tmp_path / "models" / "raw" / "stellar_mass", {"target": "stellar_mass"})
    test = halos.iloc[2500:].reset_index(drop=True).assign(stellar_mass=y[2500:].to_numpy())
    for name, column in zip(base, stack.base_predictions(X[2500:]).T, strict=True):
        test[f"stellar_mass|raw|{name}"] = column

    def oracle(features):
        return pd.DataFrame({"stellar_mass": 0.8 * features["M_h"] + 0.3 * features["z_h"]})

    features, stacks = importance.model_importances(tmp_path / "models", test, targets=("stellar_mass",),
                                                    paths=("raw",), n_repeats=3, max_rows=400, oracle=oracle)
    assert set(features["model"]) == {"ERT", "LGBM", "oracle"} and set(stacks["feature"]) == {"ERT", "LGBM"}
    assert set(features["rows"]) == {400} and set(stacks["rows"]) == {500}
    for _, group in features.groupby("model"):
        ranked = group.set_index("feature")["importance"]
        assert ranked.idxmax() == "M_h" and ranked["z_h"] > ranked[["C_h", "S_h", "Delta3_h"]].max()
    truth = features[features["model"] == "oracle"].set_index("feature")["importance"]
    assert truth[["C_h", "S_h", "Delta3_h"]].eq(0).all()
    assert truth["M_h"] == pytest.approx(2 * 0.8**2 * halos["M_h"].iloc[2500:].var(), rel=0.25)
