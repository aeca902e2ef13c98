"""The calibration of the embedded universe: its targets, its statistics and its determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools.catalogue import LOG_STELLAR_MASS_MIN, TARGETS, ZERO_SFR_MEAN, ZERO_SFR_SIGMA
from hgtools.universe import calibration as cal
from hgtools.universe.haloes import generate_halos
from hgtools.universe.law import PAIRS, sample_galaxies
from hgtools.universe.oracle import oracle
from hgtools.universe.parameters import read_parameters


def test_spearman_to_pearson_is_exact_for_a_gaussian():
    from scipy import stats

    rng = np.random.default_rng(0)
    r = 0.6
    x = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=200_000)
    rho = stats.spearmanr(x[:, 0], x[:, 1]).statistic
    assert cal.spearman_to_pearson(rho) == pytest.approx(r, abs=0.005)


def test_reference_targets_read_every_bin():
    t = cal.reference_targets()
    assert len(t.bins) == len(t.knots) == 9 and np.all(np.diff(t.knots) > 0)
    assert np.isfinite(t.mean).all() and np.isfinite(t.slope).all()
    assert np.isnan(t.scatter[0]).all() and np.isfinite(t.scatter[1:]).all()  # no scatter table below 10.75
    assert 0.9 < t.quenched[-1] < 1 and t.quenched[2] < 0.1
    assert t.halo_corr["C_h~z_h"][4] == pytest.approx(0.63, abs=0.01)


@pytest.fixture(scope="module")
def small_problem():
    halos_model, law = read_parameters()
    haloes, _ = generate_halos(halos_model, 64.0, np.random.default_rng(4))
    targets = cal.reference_targets()
    fixed = {name: np.asarray(law.values[name]) for name in cal.FIXED}
    problem = cal._Problem(haloes, halos_model, targets, fixed, per_bin=10**9, seed=0, box_size=64.0)
    return problem, haloes, halos_model, law


def test_closed_form_statistics_match_monte_carlo(small_problem):
    """The calibration's per-bin statistics equal those of galaxies drawn from the law and selected."""
    problem, haloes, halos_model, law = small_problem
    values = {n: np.asarray(v) for n, v in law.values.items()}
    exact = problem.statistics(values)
    rng = np.random.default_rng(1)
    reps = 12
    features = pd.concat([haloes] * reps, ignore_index=True)
    gal = sample_galaxies(features, law, halos_model, rng)
    zero = gal["sfr_zero"].to_numpy()
    gal.loc[zero, "sSFR"] = rng.normal(ZERO_SFR_MEAN, ZERO_SFR_SIGMA, zero.sum())
    keep = gal["stellar_mass"].to_numpy() >= LOG_STELLAR_MASS_MIN
    y = gal[list(TARGETS)].to_numpy()[keep]
    resid = y - oracle(features[keep], law, halos_model).to_numpy()
    m = features["M_h"].to_numpy()[keep]
    for i, (_, lo, hi) in enumerate(problem.targets.bins):
        inside = (m >= lo) & (m < hi)
        if inside.sum() < 3000:
            continue
        noise = y[inside].std(axis=0) / np.sqrt(inside.sum())
        assert (np.abs(y[inside].mean(axis=0) - exact["mean"][i]) < 4 * noise).all(), (i, noise)
        np.testing.assert_allclose(resid[inside].std(axis=0), exact["scatter"][i], rtol=0.05)
        corr = np.corrcoef(resid[inside].T)
        for p, (a, b) in enumerate(PAIRS):
            assert corr[TARGETS.index(a), TARGETS.index(b)] == pytest.approx(exact["corr"][i, p], abs=0.04)
        quenched = (y[inside, TARGETS.index("sSFR")] < cal.QUENCHED_SSFR).mean()
        assert quenched == pytest.approx(exact["quenched"][i], abs=0.015)
        assert zero[keep][inside].mean() == pytest.approx(exact["zero"][i], abs=0.015)
    # the whole sample: the bins pooled with their galaxies, means and total covariances
    spread, corr = cal.sample_spreads(exact)
    np.testing.assert_allclose(y.std(axis=0), spread, rtol=0.02)
    for p, (a, b) in enumerate(cal.TNG300_CORRELATIONS):
        assert np.corrcoef(y[:, TARGETS.index(a)], y[:, TARGETS.index(b)])[0, 1] == pytest.approx(corr[p], abs=0.01)


def test_the_jacobian_is_that_of_the_residuals(small_problem):
    """Grouped differences and the chain rule give each column's plain forward difference."""
    problem, _, _, law = small_problem
    x = problem.vector({n: np.asarray(v) for n, v in law.values.items()})
    jac = problem.jacobian(x).toarray()
    base = problem.residuals(x)
    n_sample = len(TARGETS) + len(cal.TNG300_CORRELATIONS) + 1
    # corr_* columns also move other corr_* through the projection onto valid correlation matrices
    plain = [c for c, (name, _) in enumerate(problem.layout) if not name.startswith("corr_")]
    for col in np.random.default_rng(0).choice(plain, 12, replace=False):
        step = np.zeros_like(x)
        step[col] = 1e-7 * max(1.0, abs(x[col]))
        diff = (problem.residuals(x + step) - base) / step[col]
        np.testing.assert_allclose(jac[:, col], diff, rtol=1e-5, atol=1e-5 * np.abs(diff).max())
        assert np.abs(diff[-n_sample:]).max() > 0  # every parameter moves the whole sample


def test_a_short_calibration_is_deterministic_and_improves_the_fit(small_problem):
    problem, *_ = small_problem
    start = problem.vector(cal.initial_values(problem.targets, problem.fixed))
    lo, hi = problem.bounds()
    start = np.clip(start, lo + 1e-9, hi - 1e-9)
    from scipy import optimize

    fits = [optimize.least_squares(problem.residuals, start, jac=problem.jacobian, bounds=(lo, hi),
                                   x_scale="jac", max_nfev=3) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].x, fits[1].x)
    assert fits[0].cost < 0.5 * 0.5 * np.sum(problem.residuals(start) ** 2)


def test_shipped_parameters_record_their_calibration():
    import json

    from hgtools.universe.parameters import PARAMETERS_FILE

    data = json.loads(PARAMETERS_FILE.read_text())
    assert data["calibration"]["command"].startswith("hgtools calibrate")
    summary = pd.DataFrame(data["calibration"]["summary"])
    assert set(summary["statistic"]) >= {"mean", "quartile difference", "intrinsic scatter",
                                         "residual correlation", "quenched fraction"}


def test_weighted_rank_correlations_are_spearman_of_the_weighted_sample():
    from scipy import stats

    rng = np.random.default_rng(3)
    x = rng.multivariate_normal(np.zeros(3), [[1, 0.5, -0.2], [0.5, 1, 0.1], [-0.2, 0.1, 1]], size=500)
    pairs = [(0, 1), (0, 2), (1, 2)]
    equal = cal.weighted_rank_correlations(x, np.ones(len(x)))
    np.testing.assert_allclose(equal, [stats.spearmanr(x[:, a], x[:, b]).statistic for a, b in pairs], atol=1e-12)
    # integer weights: the same as repeating each row that many times
    w = rng.integers(0, 4, len(x))
    repeated = np.repeat(x, w, axis=0)
    np.testing.assert_allclose(cal.weighted_rank_correlations(x, w.astype(float)),
                               [stats.spearmanr(repeated[:, a], repeated[:, b]).statistic for a, b in pairs],
                               atol=1e-12)


def test_the_selection_changes_the_halo_correlations_the_fit_sees(small_problem):
    """Below the complete range the fit compares the *selected* haloes' correlations with the tables."""
    problem, haloes, halos_model, law = small_problem
    values = {n: np.asarray(v) for n, v in law.values.items()}
    selected = problem.statistics(values)["halo_corr"]
    light = int(np.flatnonzero(problem.incomplete)[-1])
    inside = problem.bin_of == light
    everyone = cal.weighted_rank_correlations(problem.features[inside], np.ones(inside.sum()))
    assert np.abs(selected[light] - everyone).max() > 0.01
    assert len(cal.HALO_PAIRS) == 6 and set(cal.LATENT_PAIRS) <= set(cal.HALO_PAIRS)
    assert set(problem.targets.halo_corr) == set(cal.HALO_PAIRS)


def test_calibration_rounds_move_the_light_haloes_correlations_only():
    targets = cal.reference_targets()
    shift = np.where(targets.knots < 11.5, 0.1, 0.0)
    plain = cal.halo_model(targets)
    moved = cal.halo_model(targets, corrections={"C_h~z_h": shift})
    np.testing.assert_allclose(np.array(moved.corr_c_z) - np.array(plain.corr_c_z), shift, atol=1e-12)
    assert moved.corr_c_s == plain.corr_c_s and moved.baryon_shift == plain.baryon_shift
    with pytest.raises(ValueError, match="rounds"):
        cal.calibrate(rounds=0)
