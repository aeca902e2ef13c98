"""The chapter's glue (hgtools.sampling) on a known Gaussian law: a perfect model scores perfectly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hgtools import density_scores as ds
from hgtools import sampling
from hgtools.catalogue import FEATURES, GALAXY_POSITION, HALO_POSITION, TARGETS, prediction_column
from hgtools.density import DensityModel

COV = np.diag([0.2, 0.5, 0.15, 0.1]) ** 2


def mean_of(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return np.column_stack([X[:, 0] - 2, -10 - 0.3 * X[:, 3], 0.3 * X[:, 0] - 3 + 0.1 * X[:, 1], 0.05 * X[:, 0]])


class Exact(DensityModel):
    """The true law itself, through the density-model API."""

    name = "exact"

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.y_scale_ = np.ones(4)

    def sample(self, X, n_draws=1, seed=0):
        z = np.random.default_rng(seed).normal(size=(n_draws, len(X), 4))
        return mean_of(X) + self.scale * z * np.sqrt(np.diag(COV))

    def log_prob(self, X, Y):
        return stats.multivariate_normal(np.zeros(4), self.scale**2 * COV).logpdf(np.asarray(Y) - mean_of(X))


def world(n: int = 4000):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"M_h": rng.uniform(11, 12, n), "C_h": rng.normal(1, 0.1, n), "S_h": rng.uniform(0, 0.1, n),
                          "z_h": rng.uniform(0.5, 2, n), "Delta3_h": rng.uniform(0, 5, n)})
    table[list(TARGETS)] = Exact().sample(table[list(FEATURES)], 1, seed=1)[0]
    for path in ("raw", "smogn"):
        for j, t in enumerate(TARGETS):
            table[prediction_column(t, path, "stack")] = mean_of(table[list(FEATURES)])[:, j]
    law = {"sample": lambda f, n, seed: Exact().sample(f, n, seed),
           "log_prob": lambda f, values: Exact().log_prob(f, values)}
    return table, law


def test_a_perfect_model_scores_perfectly_and_a_wide_one_does_not():
    table, law = world()
    reference = mean_of(table[list(FEATURES)])
    tables = sampling.score_tables({"exact": Exact(), "wide": Exact(1.5)}, table, n_draws=39, seed=0,
                                   reference=reference, truth_law=law, energy_haloes=100, energy_draws=100)
    summary = tables["summary"]
    exact, wide = summary["exact"], summary["wide"]
    assert exact["1D KS, largest"] < 0.03 and exact["conditional std, largest relative error"] < 0.05
    assert exact["coverage error, largest [points]"] < 3 and abs(exact["KL estimate [nats]"]) < 0.02
    assert 0.8 < exact["energy distance / noise floor"] < 1.3
    assert wide["conditional std, largest relative error"] > 0.4 and wide["coverage error, largest [points]"] > 15
    assert wide["energy distance / noise floor"] > 2 and wide["KL estimate [nats]"] > 0.3
    # the stacks are the true mean here: no spread at all, no intervals, no density
    assert summary.loc["conditional std, largest relative error", "raw stack"] > 0.99
    assert np.isnan(summary.loc["coverage error, largest [points]", "raw stack"])
    assert summary.loc["1D KS, largest", "goal"] == 0.015
    # the law itself is scored last, beside the goals: each score's noise floor on this test split
    assert list(summary.columns) == ["exact", "wide", "raw stack", "SMOGN stack", "true law", "goal"]
    law_column = summary["true law"]
    assert law_column["KL estimate [nats]"] == 0.0 and 0.8 < law_column["energy distance / noise floor"] < 1.3
    assert law_column["conditional std, largest relative error"] < 0.05 and law_column["1D KS, largest"] < 0.03
    assert law_column["coverage error, largest [points]"] < 3
    assert set(tables["coverage"]["model"]) == {"exact", "wide", "true law"}
    # against draws of the law, the noise of one true galaxy per halo is mostly gone
    assert exact["coverage vs law, largest error [points]"] < 1.5 < wide["coverage vs law, largest error [points]"] / 10
    assert exact["residual correlation vs law, largest error"] < law_column["residual correlation, largest error"]
    assert law_column["coverage vs law, largest error [points]"] < 1.5
    assert set(tables["coverage vs law"]["model"]) == {"exact", "wide", "true law"}
    assert {"raw stack", "exact"} <= set(tables["spread vs law"]["model"])


def test_a_source_without_a_law_has_no_true_law_column():
    table, _ = world(1500)
    tables = sampling.score_tables({"exact": Exact()}, table, n_draws=9, seed=0,
                                   reference=mean_of(table[list(FEATURES)]))
    assert "true law" not in tables["summary"].columns and set(tables["coverage"]["model"]) == {"exact"}
    assert np.isnan(tables["summary"].loc["KL estimate [nats]", "exact"])
    assert tables["summary"].loc[list(ds.VS_LAW.values()), "exact"].isna().all() and "spread vs law" not in tables


def test_spectra_of_populations_drawn_from_the_law_give_the_chi2_floor():
    table, law = world(6000)
    positions = np.random.default_rng(3).uniform(0, 100.0, (len(table), 3))
    table[list(HALO_POSITION)] = positions
    table[list(GALAXY_POSITION)] = positions
    kw = dict(n_draws=2, seed=0, n_mesh=64, min_galaxies=100)
    alone = sampling.sampled_spectra(Exact(1.5), table, 100.0, **kw)
    both = sampling.sampled_spectra(Exact(1.5), table, 100.0, law=sampling.LawModel(law), **kw)
    assert set(alone["sample"]) == {"true", "raw stack", "sampled"}
    assert set(both["sample"]) == {"true", "raw stack", "sampled", "true law"}
    pd.testing.assert_frame_equal(both[both["sample"] != "true law"].reset_index(drop=True), alone)  # model unchanged
    chi2 = both.drop_duplicates(["property", "bin", "sample"]).set_index(["property", "bin", "sample"])["chi2 per bandpower"]
    law_chi2, wide_chi2 = chi2.xs("true law", level="sample"), chi2.xs("sampled", level="sample")
    assert law_chi2.notna().any() and wide_chi2.sum() > 2 * law_chi2.sum()  # too wide a law moves galaxies across bins


def test_the_training_noise_table_scores_the_training_split_and_fresh_sets_of_it():
    from types import SimpleNamespace

    from hgtools.catalogue import split
    from hgtools.config import QUICK
    from hgtools.pipeline import _training_noise

    table, law = world(6000)
    catalogue = SimpleNamespace(table=table, oracle=lambda rows: pd.DataFrame(mean_of(rows[list(FEATURES)]),
                                                                              columns=list(TARGETS)))
    run = SimpleNamespace(truth_law=lambda: law, catalogue=catalogue,
                          config=SimpleNamespace(training_seed=0, sizes=QUICK))
    noise = _training_noise(run)
    assert noise[["M_h_bin", "score"]].drop_duplicates().shape[0] == len(noise) == 6  # two bins and "all", two scores
    assert set(noise["M_h_bin"]) == {"11-11.5", "11.5-12", "all"} and set(noise["score"]) == set(ds.SPREAD_SCORES)
    train = table.iloc[split(table, 0).train]
    assert noise.loc[noise["M_h_bin"] == "all", "n"].tolist() == [len(train)] * 2
    # each bin's largest error is that of a sample of ~1,400 galaxies: a few hundredths, the sets' alike
    assert (noise["training split"] < 0.12).all() and (noise["p50"] < 0.08).all()
    assert (noise["p90"] >= noise["p50"]).all()
    assert _training_noise(SimpleNamespace(truth_law=lambda: None)).empty  # no known law: nothing to measure
