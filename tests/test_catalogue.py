"""Schema validation, cuts, zero-SFR recipe, split, scaler and atomic I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hgtools import catalogue as hc
from hgtools.catalogue import CatalogueError


# -- validation ---------------------------------------------------------------

def test_valid_catalogue_passes(small_catalogue):
    hc.validate(small_catalogue, box_size=128.0)


def test_missing_column_is_named(small_catalogue):
    with pytest.raises(CatalogueError, match="missing column.*C_h"):
        hc.validate(small_catalogue.drop(columns="C_h"))


@pytest.mark.parametrize("value, problem", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_non_finite_values_are_named(small_catalogue, value, problem):
    small_catalogue.loc[5, "radius"] = value
    with pytest.raises(CatalogueError, match=f"'radius' has 1 {problem}"):
        hc.validate(small_catalogue)


def test_wrong_dtype_is_named(small_catalogue):
    small_catalogue["z_h"] = small_catalogue["z_h"].astype(str)
    with pytest.raises(CatalogueError, match="'z_h' must be numeric"):
        hc.validate(small_catalogue)
    small_catalogue = small_catalogue.drop(columns="z_h")
    small_catalogue["z_h"] = 1.0
    small_catalogue["sfr_zero"] = small_catalogue["sfr_zero"].astype(int)
    with pytest.raises(CatalogueError, match="'sfr_zero' must be boolean"):
        hc.validate(small_catalogue)


def test_linear_masses_get_a_unit_hint(small_catalogue):
    small_catalogue["M_h"] = 10 ** small_catalogue["M_h"]
    with pytest.raises(CatalogueError, match=r"'M_h' \[log10 Msun/h\].*not linear"):
        hc.validate(small_catalogue)


def test_positions_outside_the_box(small_catalogue):
    small_catalogue["x_g"] *= 1000.0  # kpc/h instead of Mpc/h
    with pytest.raises(CatalogueError, match="'x_g'.*kpc/h"):
        hc.validate(small_catalogue, box_size=128.0)


def test_empty_table_and_duplicate_ids(small_catalogue):
    with pytest.raises(CatalogueError, match="empty"):
        hc.validate(small_catalogue.iloc[:0])
    small_catalogue.loc[1, "ID"] = small_catalogue.loc[0, "ID"]
    with pytest.raises(CatalogueError, match="'ID' has 1 duplicated"):
        hc.validate(small_catalogue)


def test_zero_sfr_allowed_only_when_flagged(small_catalogue):
    small_catalogue.loc[0, "sSFR"] = -np.inf
    small_catalogue.loc[0, "sfr_zero"] = True
    hc.validate(small_catalogue, allow_zero_sfr=True)
    with pytest.raises(CatalogueError, match="'sSFR' has 1 infinite"):
        hc.validate(small_catalogue)
    small_catalogue.loc[0, "sfr_zero"] = False
    with pytest.raises(CatalogueError, match="'sSFR' has 1 infinite"):
        hc.validate(small_catalogue, allow_zero_sfr=True)


# -- the study's operations ---------------------------------------------------

def test_cuts_are_inclusive_and_counted():
    table = pd.DataFrame({"M_h": [10.4, 10.5, 10.5, 12.0, 12.0],
                          "stellar_mass": [9.0, 8.75, 8.7, 8.74999, 10.0]})
    selected, counts = hc.select(table)
    assert selected["M_h"].tolist() == [10.5, 12.0]
    assert [n for _, n in counts] == [5, 4, 2]


def test_empty_selection_is_an_error():
    table = pd.DataFrame({"M_h": [10.0, 11.0], "stellar_mass": [9.0, 8.0]})
    with pytest.raises(CatalogueError, match="empty selection"):
        hc.select(table)


def test_zero_sfr_recipe_is_seeded_and_only_touches_zero_sfr():
    n = 20000
    rng = np.random.default_rng(3)
    ssfr = rng.normal(-10, 0.5, n)
    zero = rng.random(n) < 0.3
    ssfr[zero] = -np.inf
    table = pd.DataFrame({"sSFR": ssfr})  # no flag: derived from -inf
    a = hc.apply_zero_sfr_recipe(table, seed=1)
    b = hc.apply_zero_sfr_recipe(table, seed=1)
    c = hc.apply_zero_sfr_recipe(table, seed=2)
    assert a["sfr_zero"].to_numpy().tolist() == zero.tolist()
    np.testing.assert_array_equal(a["sSFR"], b["sSFR"])
    assert not np.allclose(a["sSFR"][zero], c["sSFR"][zero])
    np.testing.assert_array_equal(a["sSFR"][~zero], ssfr[~zero])
    drawn = a["sSFR"][zero]
    assert abs(drawn.mean() + 13.5) < 4 * 0.5 / np.sqrt(zero.sum())
    assert abs(drawn.std() - 0.5) < 0.02
    assert np.isfinite(table["sSFR"]).sum() == n - zero.sum()  # input untouched


def test_split_sizes_disjoint_and_reproducible(small_catalogue):
    s = hc.split(small_catalogue, seed=4)
    assert s.sizes() == {"train": 960, "validation": 240, "test": 800}
    joined = np.concatenate([s.train, s.validation, s.test])
    assert np.array_equal(np.sort(joined), np.arange(len(small_catalogue)))
    again = hc.split(small_catalogue, seed=4)
    assert np.array_equal(s.test, again.test)
    assert not np.array_equal(s.test, hc.split(small_catalogue, seed=5).test)
    assert set(s.labels(len(small_catalogue))) == {"train", "validation", "test"}


def test_split_rejects_bad_fractions(small_catalogue):
    with pytest.raises(CatalogueError, match="fractions"):
        hc.split(small_catalogue, 0, (0.5, 0.5, 0.5))
    with pytest.raises(CatalogueError, match="too few"):
        hc.split(small_catalogue.iloc[:2], 0)


def test_scaler_is_fitted_on_training_rows_only(small_catalogue):
    s = hc.split(small_catalogue, seed=0)
    train, test = small_catalogue.iloc[s.train], small_catalogue.iloc[s.test]
    scaler = hc.fit_feature_scaler(train)
    assert list(scaler.feature_names_in_) == list(hc.FEATURES)
    z_train = scaler.transform(train[list(hc.FEATURES)])
    np.testing.assert_allclose(z_train.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z_train.std(ddof=0), 1, atol=1e-12)
    np.testing.assert_allclose(scaler.mean_, train[list(hc.FEATURES)].mean())
    assert not np.allclose(scaler.mean_, test[list(hc.FEATURES)].mean())


# -- storage ------------------------------------------------------------------

def test_write_read_round_trip(tmp_path, universe):
    cat, meta = universe
    path = hc.write_catalogue(cat, tmp_path / "sub" / "cat.parquet", meta)
    back, meta_back = hc.read_catalogue(path)
    pd.testing.assert_frame_equal(back, cat)
    assert meta_back["source"] == "mock" and meta_back["seed"] == 0
    assert meta_back["cosmology"]["Om0"] == 0.3089
    assert [p.name for p in path.parent.iterdir()] == ["cat.parquet"]


def test_failed_write_leaves_nothing_behind(tmp_path, small_catalogue, monkeypatch):
    target = tmp_path / "cat.parquet"
    hc.write_catalogue(small_catalogue, target, {"source": "mock", "box_size": 128.0})
    before = target.read_bytes()

    def broken(*args, **kwargs):
        with open(args[1], "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        hc.write_catalogue(small_catalogue.iloc[:10], target, {"source": "mock", "box_size": 128.0}, overwrite=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cat.parquet"]


def test_reading_bad_files(tmp_path, small_catalogue):
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        hc.read_catalogue(tmp_path / "nowhere.parquet")
    plain = tmp_path / "plain.parquet"
    small_catalogue.to_parquet(plain)
    with pytest.raises(CatalogueError, match="no hgtools metadata"):
        hc.read_catalogue(plain)


def test_build_catalogue_applies_cuts_and_recipe(universe):
    cat, meta = universe
    assert cat["M_h"].min() >= 10.5 and cat["stellar_mass"].min() >= 8.75
    assert np.isfinite(cat["sSFR"]).all()
    assert meta["zero_sfr_recipe"]["n_zero"] == cat["sfr_zero"].sum() > 0
    assert list(cat.columns) == list(hc.SCHEMA)
    with pytest.raises(CatalogueError, match="must name 'box_size'"):
        hc.build_catalogue(cat, seed=0, metadata={"source": "mock"})


def test_one_vocabulary_for_prediction_columns():
    assert hc.prediction_column("radius", "smogn", "stack") == "radius|smogn|stack"
    assert hc.parse_prediction_column("radius|smogn|stack") == ("radius", "smogn", "stack")
    assert hc.parse_prediction_column("radius") is None
    with pytest.raises(ValueError, match="without '\\|'"):
        hc.prediction_column("a|b", "raw", "NN")


def test_the_tng300_law_tables_ship_with_the_package():
    from hgtools import reference

    expected = {"law_means": {"target", "M_h_bin", "feature", "quartile", "feature_mean", "mean_lgbm"},
                "law_importance": {"target", "M_h", "C_h", "S_h", "z_h", "Delta3_h"},
                "scatter": {"M_h_bin", "target", "std_total", "std_intrinsic", "quenched_fraction"},
                "residual_correlations": {"M_h_bin", "pair", "resid_corr", "total_corr"},
                "halo_features": {"M_h_bin", "feature", "p16", "p50", "p84"},
                "halo_feature_correlations": {"M_h_bin", "pair", "spearman"}}
    assert set(expected) == set(reference.TNG300_LAW_TABLES)
    for name, columns in expected.items():
        table = reference.tng300_law(name)
        assert len(table) > 0 and columns <= set(table.columns), name
    assert set(reference.tng300_law("law_importance")["target"]) == set(hc.TARGETS)
    with pytest.raises(ValueError, match="unknown TNG300 law table 'nope'"):
        reference.tng300_law("nope")
