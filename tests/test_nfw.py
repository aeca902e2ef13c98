"""NFW concentrations: the V_max inversion and the profile fit."""

from __future__ import annotations

import numpy as np
import pytest

from hgtools import nfw


def test_vmax_inversion_round_trips():
    c = np.array([2.5, 4.0, 7.3, 12.0, 25.0, 60.0])
    np.testing.assert_allclose(nfw.concentration_from_vmax(nfw.vmax_over_vvir(c)), c, rtol=1e-12)
    assert nfw.vmax_over_vvir(nfw.X_VMAX) == pytest.approx(1.0)
    assert np.isnan(nfw.concentration_from_vmax([0.95, np.nan])).all()


@pytest.mark.parametrize("c", [4.0, 9.0, 16.0])
def test_profile_fit_recovers_known_concentration(c):
    rng = np.random.default_rng(int(c))
    fits = [nfw.fit_concentration(nfw.sample_radii(20_000, c, 150.0, rng), 150.0) for _ in range(5)]
    assert np.mean(fits) == pytest.approx(c, rel=0.05)
    assert np.std(fits) < 0.1 * c


def test_profile_fit_needs_particles():
    assert np.isnan(nfw.fit_concentration(np.array([1.0, 2.0]), 100.0))
