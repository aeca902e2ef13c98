"""The larger universe of the "Painting" chapter: haloes, true galaxies, spectra and delta_3 thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import painting
from hgtools.catalogue import TARGETS
from hgtools.universe import UniverseConfig
from hgtools.universe.haloes import LOG_MASS_CUT, generate_halos

BOX = 48.0


@pytest.fixture(scope="module")
def universe():
    return UniverseConfig(box_size=BOX, seed=0)


@pytest.fixture(scope="module")
def haloes(universe):
    return painting.larger_universe(universe, BOX, seed=3)


def test_the_larger_universe_is_seeded_and_its_own(universe, haloes):
    again = painting.larger_universe(universe, BOX, seed=3)
    pd.testing.assert_frame_equal(haloes, again)
    assert not haloes.equals(painting.larger_universe(universe, BOX, seed=4))
    assert (haloes["paint"] == (haloes["M_h"] >= LOG_MASS_CUT)).all() and "Delta3_h" not in haloes
    # the same haloes as the catalogue's generator draws with the same generator state
    training, _ = generate_halos(universe.halos, BOX, np.random.default_rng([3, painting.SEED_STREAM]))
    np.testing.assert_array_equal(haloes.loc[haloes["paint"], "M_h"], training["M_h"])


def test_delta3_with_every_tracer_is_the_generators(universe, haloes):
    training, _ = generate_halos(universe.halos, BOX, np.random.default_rng([3, painting.SEED_STREAM]))
    table = painting.delta3_thresholds(haloes, BOX, (float(haloes["M_h"].min()), 11.0))
    every = table[table["threshold"] == haloes["M_h"].min()]
    bins = np.digitize(training["M_h"], (10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 14.0)) - 1
    for _, row in every.iterrows():
        b = ["10.5-11", "11-11.5", "11.5-12", "12-12.5", "12.5-13", "13-14"].index(row["M_h bin"])
        assert row["delta3 median"] == pytest.approx(np.median(training["Delta3_h"][bins == b]), rel=1e-12)
        assert row["haloes"] == (bins == b).sum()
    fewer = table[table["threshold"] == 11.0]
    assert (fewer["tracer density"] < every["tracer density"].iloc[0]).all()
    # fewer, more massive tracers: more shot noise and stronger clustering, so delta_3 spreads
    # wider (in the bins with hundreds of haloes or more; this box holds a few dozen above 10^13)
    populated = every["haloes"].to_numpy() >= 500
    spread = {name: (t["delta3 p84"] - t["delta3 p16"]).to_numpy()[populated] for name, t in (("every", every),
                                                                                            ("fewer", fewer))}
    assert (spread["fewer"] > spread["every"]).all(), spread


def test_true_galaxies_and_the_spectra_of_a_perfect_painting(universe, haloes):
    painted = haloes[haloes["paint"]].reset_index(drop=True)
    painted["Delta3_h"] = 1.0
    truth = painting.true_galaxies(painted, universe, seed=0)
    pd.testing.assert_frame_equal(truth, painting.true_galaxies(painted, universe, seed=0))
    assert np.isfinite(truth["sSFR"]).all() and len(truth) == len(painted)
    perfect = pd.concat([painted, truth[list(TARGETS)]], axis=1)
    spectra = painting.painted_spectra(perfect, truth, BOX, n_mesh=64)
    assert set(spectra["sample"]) == {"true", painting.SAME_HALOES, painting.OWN_CUT}
    # a perfect painting: the same galaxies, whichever way they are selected
    np.testing.assert_allclose(spectra.dropna(subset=["residual"])["residual"], 0.0, atol=1e-12)
