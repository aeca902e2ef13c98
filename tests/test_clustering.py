"""The power-spectrum module: a known spectrum recovered, shot noise, Eq. 6-7, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import clustering
from hgtools.sources import lognormal as ln


def lognormal_points(box: float, n_field: int, n_mean: float, seed: int):
    """Poisson points drawn from a lognormal field; returns them and the field's own P(k) per shell.

    The field is the known input: the expected power of the points is its power
    times the window of sampling uniformly within a field cell (divided out here).
    """
    rng = np.random.default_rng(seed)
    g = ln.gaussian_field(lambda k: 3e4 * (k / 0.02) ** -1.2 * np.exp(-((k / 0.08) ** 2)), n_field, box, rng)
    rho = np.exp(g)
    rho /= rho.mean()
    cell = box / n_field
    counts = rng.poisson(n_mean * cell**3 * rho)
    corner = np.repeat(np.indices(rho.shape).reshape(3, -1).T, counts.ravel(), axis=0)
    pos = (corner + rng.random(corner.shape)) * cell
    # the field's power, mode by mode, times the cell window (sinc^2 per axis), in Pylians' shells
    modes = np.fft.rfftn(rho - 1.0)
    kf = 2 * np.pi / box
    k1 = np.fft.fftfreq(n_field, 1.0 / n_field) * kf
    kz = np.fft.rfftfreq(n_field, 1.0 / n_field) * kf
    kx, ky, kz = np.meshgrid(k1, k1, kz, indexing="ij")
    window = np.sinc(kx * cell / (2 * np.pi)) ** 2 * np.sinc(ky * cell / (2 * np.pi)) ** 2 \
        * np.sinc(kz * cell / (2 * np.pi)) ** 2
    power = np.abs(modes) ** 2 * box**3 / n_field**6 * window
    shell = np.floor(np.sqrt(kx**2 + ky**2 + kz**2) / kf + 1e-9).astype(int).ravel()
    # an independent mode once: the kz = 0 and Nyquist planes of rfftn hold each mode and its mirror
    weight = np.ones(kz.shape)
    weight[..., [0, -1]] = 0.5
    expected = np.bincount(shell, weights=(weight * power).ravel()) / np.bincount(shell, weights=weight.ravel())
    return pos, expected


def test_recovers_the_power_of_a_lognormal_realisation():
    box, n_bins = 400.0, 9
    pos, expected = lognormal_points(box, 64, 6e-3, seed=3)
    ps = clustering.power_spectrum(pos, box, n_mesh=128, n_bins=n_bins)
    truth = expected[1:n_bins + 1]
    # the field is known, so only Poisson sampling scatters the estimate: Var = (2 P / n + 1 / n^2) / N_modes
    poisson = np.sqrt((2 * truth / ps.number_density + ps.number_density**-2) / ps.n_modes)
    assert np.all(np.abs(ps.power - truth) < 4 * poisson + 0.01 * truth), ps.power / truth
    # ... and well within the Eq. 6 errors, which add the sample variance of a random realisation
    sigma = clustering.gaussian_error(ps.k, ps.power, ps.dk, box**3, ps.number_density)
    assert np.all(np.abs(ps.power - truth) < sigma)
    assert ps.k_edges[0] == pytest.approx(2 * np.pi / box)
    assert np.all((ps.k >= ps.k_edges[:-1]) & (ps.k < ps.k_edges[1:]))


def test_an_uncompensated_window_would_be_caught():
    box, n_bins = 400.0, 9
    pos, expected = lognormal_points(box, 64, 6e-3, seed=3)
    compensated = clustering.power_spectrum(pos, box, n_mesh=32, n_bins=n_bins)
    truth = expected[1:n_bins + 1]
    poisson = np.sqrt((2 * truth / compensated.number_density + compensated.number_density**-2)
                      / compensated.n_modes)
    assert np.all(np.abs(compensated.power - truth) < 4 * poisson + 0.03 * truth)
    # the CIC window of a coarse 32^3 mesh, left in, would be many errors off at high k
    cell = box / 32
    window = np.sinc(compensated.k * cell / (2 * np.pi)) ** 4
    assert np.max(np.abs(window * truth - truth) / poisson) > 4


def test_shot_noise_of_uniform_points_is_one_over_n():
    box, n = 300.0, 150_000
    pos = np.random.default_rng(1).random((n, 3)) * box
    # far below the Nyquist wavenumber (2.0 h/Mpc here), where aliasing does not raise the noise
    raw = clustering.power_spectrum(pos, box, n_mesh=192, n_bins=22, subtract_shot_noise=False)
    assert raw.shot_noise == 0.0
    sigma = clustering.gaussian_error(raw.k, 0.0 * raw.k, raw.dk, box**3, n / box**3)
    assert np.all(np.abs(raw.power - box**3 / n) < 4 * sigma)
    # mode-weighted over all bandpowers: 1/n with a relative error 1/sqrt(modes)
    assert np.average(raw.power, weights=raw.n_modes) == pytest.approx(box**3 / n,
                                                                      rel=4 / np.sqrt(raw.n_modes.sum()))
    sub = clustering.power_spectrum(pos, box, n_mesh=192, n_bins=22)
    assert sub.shot_noise == pytest.approx(box**3 / n)
    np.testing.assert_allclose(sub.power, raw.power - box**3 / n)


def test_wider_bandpowers_merge_shells_by_modes():
    pos = np.random.default_rng(2).random((20_000, 3)) * 100.0
    fine = clustering.power_spectrum(pos, 100.0, n_mesh=64, n_bins=8)
    wide = clustering.power_spectrum(pos, 100.0, n_mesh=64, n_bins=4, bin_width=2)
    np.testing.assert_allclose(wide.n_modes, fine.n_modes.reshape(4, 2).sum(1))
    np.testing.assert_allclose(wide.power, (fine.power * fine.n_modes).reshape(4, 2).sum(1) / wide.n_modes)
    assert fine.n_modes[0] == 13  # |k| / k_f in [1, 2): 3 + 6 + 4 half-space modes


def test_equation_6_and_chi2_on_hand_checked_numbers():
    # sigma = sqrt(2 / (V_k V)) (P + 1/n) with V_k = 4 pi k^2 dk / (2 pi)^3 = 2 pi / (k sqrt(dk V)) (P + 1/n)
    sigma = clustering.gaussian_error(0.1, 1e4, 0.01, 1e6, 1e-3)
    assert sigma == pytest.approx(2 * np.pi / (0.1 * np.sqrt(0.01 * 1e6)) * 1.1e4)
    assert sigma == pytest.approx(6911.5038, rel=1e-7)
    np.testing.assert_allclose(clustering.residuals([3.0, 5.0, 1.0], [1.0, 5.0, 4.0], [2.0, 1.0, 3.0]), [1, 0, 1])
    assert clustering.chi2([3.0, 5.0, 1.0], [1.0, 5.0, 4.0], [2.0, 1.0, 3.0]) == 2.0
    with pytest.raises(ValueError, match="positive"):
        clustering.residuals([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="positive"):
        clustering.gaussian_error(0.1, 1.0, 0.01, 1e6, 0.0)


def test_bins_and_table_2():
    edges = (8.8, 10.6, 12.7)
    np.testing.assert_array_equal(clustering.bin_of([8.7, 8.8, 10.6, 12.7, 12.8, np.nan], edges),
                                  [-1, 0, 1, 1, -1, -1])
    true = pd.DataFrame({"stellar_mass": [9.0, 9.5, 11.0, 8.7]})
    pred = pd.DataFrame({"stellar_mass": [9.2, 10.8, 11.2, 9.0]})
    table = clustering.bin_table({"true": true, "pred": pred}, {"stellar_mass": edges})
    assert table.loc[("stellar_mass", 1), "N true"] == 2 and table.loc[("stellar_mass", 2), "N pred"] == 2
    assert table.loc[("stellar_mass", 1), "centre (edge midpoint)"] == pytest.approx(9.7)
    assert table.loc[("stellar_mass", 1), "centre (study)"] == 9.7
    assert table.loc[("stellar_mass", 2), "outside true"] == 1
    assert table.loc[("stellar_mass", 1), "median true"] == pytest.approx(9.25)


def test_identical_predictions_give_zero_chi2_and_shifted_ones_do_not():
    rng = np.random.default_rng(4)
    n, box = 30_000, 100.0
    pos = rng.random((n, 3)) * box
    values = pd.DataFrame({"stellar_mass": rng.uniform(9, 12, n)})
    shuffled = pd.DataFrame({"stellar_mass": rng.permutation(values["stellar_mass"].to_numpy())})
    edges = {"stellar_mass": (8.8, 10.6, 12.7)}
    spectra = clustering.split_spectra({"true": (values, pos), "same": (values, pos), "shuffled": (shuffled, pos)},
                                       box, edges, n_mesh=64, n_bins=10)
    chi2 = clustering.chi2_table(spectra)
    assert chi2.loc[("stellar_mass", 1, "same"), "chi2"] == 0.0
    assert chi2.loc[("stellar_mass", 1, "shuffled"), "chi2"] > 0.0
    assert set(chi2["bandpowers"]) == {10}
    # a truth measured once and reused gives the same comparison
    truth = spectra[spectra["sample"] == "true"]
    again = clustering.split_spectra({"shuffled": (shuffled, pos)}, box, edges, n_mesh=64, n_bins=10,
                                     reference_spectra=truth)
    pd.testing.assert_frame_equal(again.reset_index(drop=True),
                                  spectra[spectra["sample"] == "shuffled"].reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize("positions, message", [
    (np.array([[1.0, 2.0, 100.0]]), "outside the box"),
    (np.array([[1.0, -0.1, 3.0]]), "outside the box"),
    (np.array([[1.0, np.nan, 3.0]]), "NaN"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros((5, 2)), "shape"),
])
def test_bad_positions_are_named(positions, message):
    with pytest.raises(ValueError, match=message):
        clustering.power_spectrum(positions, 100.0, n_mesh=16, n_bins=2)


def test_mesh_too_coarse_and_empty_bin_are_named():
    pos = np.random.default_rng(0).random((100, 3)) * 100.0
    with pytest.raises(ValueError, match="Nyquist"):
        clustering.power_spectrum(pos, 100.0, n_mesh=16, n_bins=22)
    values = pd.DataFrame({"stellar_mass": np.full(100, 9.0)})
    with pytest.raises(ValueError, match="bin 2 of stellar_mass .* holds 0 galaxies"):
        clustering.split_spectra({"true": (values, pos)}, 100.0, {"stellar_mass": (8.8, 10.6, 12.7)},
                                 n_mesh=16, n_bins=2)


def test_empty_bins_can_be_skipped_and_are_listed():
    rng = np.random.default_rng(5)
    pos = rng.random((3000, 3)) * 100.0
    true = pd.DataFrame({"radius": rng.uniform(0.2, 1.5, 3000)})
    narrow = pd.DataFrame({"radius": np.full(3000, 0.5)})  # a model that predicts no large galaxy
    spectra = clustering.split_spectra({"true": (true, pos), "pred": (narrow, pos)}, 100.0,
                                       {"radius": (0.1, 0.9, 2.1)}, skip_empty=True, n_mesh=32, n_bins=4)
    assert spectra.attrs["empty"] == [("radius", 2, "pred")]
    assert set(zip(spectra["bin"], spectra["sample"], strict=True)) == {(1, "true"), (2, "true"), (1, "pred")}


def test_the_runs_mesh_resolves_the_studys_bandpowers(universe):
    # the last of the 22 bandpowers sits at 46 / n_mesh of the Nyquist wavenumber whatever the box:
    # 0.36 for a 128^3 mesh, where the spectra of the embedded galaxies match a mesh twice as fine
    from hgtools.catalogue import GALAXY_POSITION, TARGETS
    from hgtools.config import FULL, QUICK
    from hgtools.reference import STUDY_BIN_EDGES

    cat, meta = universe
    samples = {"true": (cat[list(TARGETS)], cat[list(GALAXY_POSITION)].to_numpy())}
    edges = {p: STUDY_BIN_EDGES[p] for p in ("stellar_mass", "radius")}
    for n_mesh in {FULL.n_mesh, QUICK.n_mesh}:
        coarse, fine = (clustering.split_spectra(samples, meta["box_size"], edges, n_mesh=n, skip_empty=True)
                        for n in (n_mesh, 2 * n_mesh))
        # measured: 0.14 sigma at most here (0.07 on the 205 Mpc/h universe); a 64^3 mesh is 1.8 sigma off
        assert np.max(np.abs(coarse["P"] - fine["P"]) / fine["sigma"]) < 0.2
