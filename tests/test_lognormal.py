"""The Gaussian/lognormal field code: input power recovered, bias by construction."""

from __future__ import annotations

import numpy as np
import pytest

from hgtools.sources import lognormal as ln


def power_law(k):
    return 2000.0 * (k / 0.1) ** -1.5


def test_gaussian_field_recovers_input_power():
    box, n = 200.0, 64
    field = ln.gaussian_field(power_law, n, box, np.random.default_rng(0))
    k, p, modes = ln.mesh_power_spectrum(field, box, n_bins=15)
    ratio = p / power_law(k)
    sigma = np.sqrt(2.0 / modes)  # Gaussian error of a bandpower estimate
    assert np.all(np.abs(ratio - 1) < 4 * sigma + 0.02), ratio


def test_smoothing_and_determinism():
    box, n = 100.0, 32
    a = ln.gaussian_field(power_law, n, box, np.random.default_rng(1))
    b = ln.gaussian_field(power_law, n, box, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    smooth = ln.gaussian_field(power_law, n, box, np.random.default_rng(1), smoothing=5.0)
    assert smooth.std() < 0.6 * a.std()
    with pytest.raises(ValueError, match="n_mesh"):
        ln.gaussian_field(power_law, 1, box, np.random.default_rng(1))


@pytest.mark.parametrize("bias", [0.7, 1.8])
def test_tracer_bias_is_the_requested_bias(bias):
    box, n = 300.0, 48
    rng = np.random.default_rng(2)
    g = ln.gaussian_field(power_law, n, box, rng, smoothing=4.0)
    pos = ln.sample_biased_positions(g, box, np.full(200_000, bias), rng)
    assert pos.min() >= 0 and pos.max() < box
    idx = np.floor(pos / box * n).astype(int)
    counts = np.bincount(np.ravel_multi_index(idx.T, g.shape), minlength=g.size).reshape(g.shape)
    delta = counts / counts.mean() - 1
    # large-scale cross-bias with G: <delta_k G_k*> / <|G_k|^2> for k < 0.05 h/Mpc
    dk, gk = np.fft.rfftn(delta), np.fft.rfftn(g)
    k = ln.wavenumber_grid(n, box)
    low = (k > 0) & (k < 0.05)
    measured = np.real(np.sum(dk[low] * np.conj(gk[low]))) / np.sum(np.abs(gk[low]) ** 2)
    assert measured == pytest.approx(bias, rel=0.08)


def test_soften_peaks_keeps_the_body_and_bounds_the_peaks():
    g = ln.gaussian_field(power_law, 32, 100.0, np.random.default_rng(3))
    soft = ln.soften_peaks(g, 2.0)
    sigma = g.std()
    body = g <= 2.0 * sigma
    np.testing.assert_array_equal(soft[body], g[body])
    assert (g > 2.0 * sigma).any() and soft.max() < 3.0 * sigma
    order = np.argsort(g.ravel())
    assert np.all(np.diff(soft.ravel()[order]) >= 0)  # monotonic: the ranking of cells is kept
    with pytest.raises(ValueError, match="threshold"):
        ln.soften_peaks(g, 0.0)


def test_snap_to_peaks_moves_to_the_highest_cell_within_reach():
    n, box = 10, 10.0  # 1 Mpc/h cells
    field = np.zeros((n, n, n))
    field[2, 2, 2] = 5.0
    field[9, 5, 5] = 3.0  # next to cell (0, 5, 5) through the periodic edge
    rng = np.random.default_rng(0)
    start = np.array([[4.5, 2.5, 2.5], [0.5, 5.5, 5.5], [6.5, 6.5, 6.5], [2.5, 2.5, 2.5]])
    radius = np.array([2.0, 1.0, 1.0, 0.0])
    moved = ln.snap_to_peaks(start, field, box, radius, rng)
    cells = np.floor(moved).astype(int)
    np.testing.assert_array_equal(cells, [[2, 2, 2], [9, 5, 5], [6, 6, 6], [2, 2, 2]])
    # out of reach: a radius of 1.9 cells does not see the peak two cells away
    far = ln.snap_to_peaks(start[:1], field, box, 1.9, rng)
    np.testing.assert_array_equal(np.floor(far).astype(int), [[4, 2, 2]])


def test_tracer_positions_do_not_depend_on_the_number_of_threads(monkeypatch):
    rng = np.random.default_rng(5)
    field = rng.normal(size=(24, 24, 24))
    bias = rng.uniform(0.5, 3.0, 4000)
    runs = {}
    for threads in (1, 3):
        monkeypatch.setattr(ln, "MAX_THREADS", threads)
        runs[threads] = ln.sample_biased_positions(field, 50.0, bias, np.random.default_rng(9), n_bias_bins=7)
    np.testing.assert_array_equal(runs[1], runs[3])
