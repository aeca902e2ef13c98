"""Training both paths with caching."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hgtools import models, training
from hgtools.catalogue import FEATURES, TARGETS


def test_smogn_settings_fall_back_honestly():
    rng = np.random.default_rng(0)
    ssfr = np.r_[rng.normal(-10, 0.4, 900), rng.normal(-13.5, 0.5, 150), [-15.68] * 20]
    settings, note = training.smogn_settings("sSFR", ssfr)
    assert settings is training.STUDY_SETTINGS["sSFR"] or settings == training.STUDY_SETTINGS["sSFR"]
    assert note == "the study's settings"
    colours = rng.uniform(0.1, 1.2, 2000)  # no value below -0.05: every galaxy "rare" for the study
    settings, note = training.smogn_settings("color", np.r_[colours, [3.0]])
    assert settings["rel_method"] == "auto" and "the study's settings: redefine the relevance" in note
    # the universe's colours: a handful of galaxies near -0.1 form the only normal bin, the rest is rare
    near = rng.uniform(-0.1, -0.07, 4)
    settings, note = training.smogn_settings("color", np.r_[colours, near, [3.0]])
    assert settings["rel_method"] == "auto" and "leave nothing to resample (bins of normal 4, rare 2,001" in note
    settings, note = training.smogn_settings("color", np.r_[colours, near, [3.0]], compat="smogn-0.1.2")
    assert settings == training.STUDY_SETTINGS["color"]  # the package's path runs what the study ran
    settings, note = training.smogn_settings("stellar_mass", rng.uniform(9, 10, 500))
    assert settings is None and note.startswith("no augmentation")


def test_training_settings_come_from_the_run():
    from hgtools.config import FULL, QUICK, RunConfig

    assert training.TrainingConfig.from_run(RunConfig(seed=3)).grids == FULL.grids
    quick = training.TrainingConfig.from_run(RunConfig(quick=True), paths=("smogn",))
    assert quick.grids == QUICK.grids and quick.paths == ("smogn",) and quick.seed == 0
    assert quick.identity()["nn"] == training.NN_ARCHITECTURES
    assert quick.models == models.MODEL_NAMES and quick.identity()["models"] == models.MODEL_NAMES
    with pytest.raises(ValueError, match="models must be some of ERT, kNN, LGBM, NN, got \\('XGB',\\)"):
        training.TrainingConfig(models=("XGB",))


def test_a_run_of_some_models_stacks_only_those(tmp_path):
    from hgtools.config import QUICK
    from hgtools.universe import UniverseConfig, universe_catalogue

    cat, meta = universe_catalogue(UniverseConfig(box_size=32.0, seed=2))
    config = training.TrainingConfig(grids=QUICK.grids, models=("LGBM",), paths=("smogn",), targets=("radius",),
                                     smogn_compat="smogn-0.1.2")
    result = training.train(cat, meta, config, folder=tmp_path / "lgbm")
    columns = [c for c in result.predictions.columns if c.startswith("radius|")]
    assert columns == ["radius|smogn|LGBM", "radius|smogn|stack"]
    assert set(result.search["model"]) == {"LGBM"} and set(result.augmented["target"]) == {"radius"}
    _, card = models.load_model(result.folder / "models" / "smogn" / "radius")
    assert set(card["scores"]["validation MSE"]) == {"LGBM", "stack"}


@pytest.mark.slow
def test_quick_training_is_cached_and_usable(tmp_path):
    from hgtools.universe import UniverseConfig, universe_catalogue

    cat, meta = universe_catalogue(UniverseConfig(box_size=48.0, seed=1))
    from hgtools.config import QUICK

    grids = {**QUICK.grids, "ERT": [{"n_estimators": 20}], "NN": [{"epochs": 10}]}
    config = training.TrainingConfig(grids=grids)
    result = training.train(cat, meta, config, folder=tmp_path / "run")
    pred = result.predictions
    for target in TARGETS:
        for path in training.PATHS:
            assert np.isfinite(pred[f"{target}|{path}|stack"]).all()
    assert len(pred) == round(0.4 * len(cat)) and set(result.search["path"]) == set(training.PATHS)
    t0 = time.perf_counter()
    again = training.train(cat, meta, config, folder=tmp_path / "run")
    assert time.perf_counter() - t0 < 5 and again.folder == result.folder
    assert again.predictions.equals(pred)
    _, card = models.load_model(result.folder / "models" / "smogn" / "radius")
    assert card["path"] == "smogn" and card["features"] == list(FEATURES) and card["source"] == "mock"
    assert set(card["scores"]["validation MSE"]) == {*models.MODEL_NAMES, "stack"}
    assert card["hyper_parameters"]["LGBM"]["num_leaves"] == 31 and "versions" in card
    stacks = models.predict_with_set(result.folder / "models" / "raw", cat.iloc[:20])
    assert {f"{t}|raw|NN" for t in TARGETS} <= set(stacks.columns)
    assert np.isfinite(stacks[list(TARGETS)].to_numpy()).all()
    assert list(FEATURES) == [c for c in pred.columns if c in FEATURES]


@pytest.mark.slow
def test_two_worker_processes_train_the_same_models(tmp_path):
    from hgtools import density
    from hgtools.config import QUICK
    from hgtools.universe import UniverseConfig, universe_catalogue

    cat, meta = universe_catalogue(UniverseConfig(box_size=40.0, seed=2))
    config = training.TrainingConfig(grids={**QUICK.grids, "ERT": [{"n_estimators": 10}], "NN": [{"epochs": 5}]},
                                     targets=("radius", "color"))
    # a density fit alongside the steps (as Run.fit_models does) leaves the training run as it is
    alongside = [(density.fit_and_save, dict(table=cat, name="residual", folder=tmp_path / "residual", seed=2))]
    one = training.train(cat, meta, config, folder=tmp_path / "1", workers=1)
    two = training.train(cat, meta, config, folder=tmp_path / "2", workers=2, alongside=alongside)
    assert density.load_density(tmp_path / "residual")[1]["model"] == "residual"
    assert one.predictions.equals(two.predictions) and one.coefficients.equals(two.coefficients)
    assert one.search.drop(columns="seconds").equals(two.search.drop(columns="seconds"))
    inputs = [training.train_with_galaxy_inputs(cat, config, workers=w) for w in (1, 2)]
    assert inputs[0].equals(inputs[1])
