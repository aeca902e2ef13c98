"""Scores of conditional distributions (hgtools.density_scores) on Gaussian laws with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hgtools import density_scores as ds

N, D = 6000, 4
COV = np.array([[1.0, 0.5, 0.0, 0.2], [0.5, 1.0, -0.3, 0.0], [0.0, -0.3, 1.0, 0.0], [0.2, 0.0, 0.0, 1.0]]) * 0.04


def world(seed: int = 0):
    """n haloes: log mass, a conditional mean, and draws of a Gaussian law around it."""
    rng = np.random.default_rng(seed)
    mass = rng.uniform(10.5, 12.0, N)
    mean = np.column_stack([mass - 2, -10 + 0 * mass, 0.3 * mass - 3, 0.05 * mass])
    chol = np.linalg.cholesky(COV)

    def draws(n_draws, scale=1.0, seed=1):
        z = np.random.default_rng(seed).normal(size=(n_draws, N, D))
        return mean + scale * z @ chol.T

    return mass, mean, draws(1, seed=seed + 100)[0], draws


def test_the_spread_at_fixed_halo_is_told_apart_from_errors_of_the_halo_means():
    mass, mean, _, draws = world()
    sd = np.sqrt(np.diag(COV))  # 0.2 per property
    exact = ds.spread_decomposition(draws(20, seed=2), mean, mass)
    assert set(exact["M_h_bin"]) == {"10.5-11", "11-11.5", "11.5-12", "all"}
    np.testing.assert_allclose(exact["width at fixed halo"], np.tile(sd, 4), rtol=0.03)
    assert exact["halo-mean error (rms)"].max() < 0.1 * 0.2  # only what the draw noise leaves
    # each halo's draws shifted by its own offset (rms 0.1) and 1.5 times too wide: both read back
    offset = np.random.default_rng(7).normal(0.0, 0.1, size=(N, D))
    wrong = ds.spread_decomposition(draws(20, scale=1.5, seed=3) + offset, mean, mass)
    np.testing.assert_allclose(wrong["width at fixed halo"], 1.5 * np.tile(sd, 4), rtol=0.03)
    np.testing.assert_allclose(wrong["halo-mean error (rms)"], 0.1, rtol=0.08)
    # together they make the spread about the true means (conditional_spread), up to draw noise
    total = ds.conditional_spread(draws(20, scale=1.5, seed=3) + offset, mean, mean, mass)
    total = total[total["quantity"].isin(wrong["property"])]["value"].to_numpy()
    np.testing.assert_allclose(np.hypot(wrong["width at fixed halo"], wrong["halo-mean error (rms)"]), total,
                               rtol=0.01)
    with pytest.raises(ValueError, match="at least 2 draws"):
        ds.spread_decomposition(draws(1), mean, mass)


def test_exact_law_scores_well_and_wrong_width_is_caught():
    mass, mean, truth, draws = world()
    exact = draws(99, seed=2)  # 100 ranks: five per PIT bin
    assert ds.marginal_ks(exact, truth).max() < 0.03
    assert ds.joint_ks(exact, truth, mass).max() < 0.04
    spread = ds.conditional_spread(exact, truth, mean, mass)
    assert set(spread["M_h_bin"]) == {"10.5-11", "11-11.5", "11.5-12", "all"}
    stds = spread[spread["quantity"] == "stellar_mass"]
    np.testing.assert_allclose(stds["value"], 0.2, rtol=0.02)
    np.testing.assert_allclose(stds["truth"], 0.2, rtol=0.06)
    pair = spread[(spread["quantity"] == "stellar_mass~sSFR") & (spread["M_h_bin"] == "all")]
    np.testing.assert_allclose(pair[["value", "truth"]].to_numpy(), 0.5, atol=0.03)
    coverage, pit = ds.calibration(exact, truth, mass)
    np.testing.assert_allclose(coverage["coverage"], coverage["level"], atol=0.03)
    np.testing.assert_allclose(pit["density"], 1.0, atol=0.25)

    wide = draws(99, scale=1.5, seed=3)  # 68 % interval of the wide model: P(|z| < 1.5 x 0.994)
    coverage, pit = ds.calibration(wide, truth, mass, levels=(0.68,))
    expected = 2 * stats.norm.cdf(1.5 * stats.norm.ppf(0.84)) - 1
    np.testing.assert_allclose(coverage["coverage"], expected, atol=0.03)
    centre = pit[(pit["lo"] >= 0.4) & (pit["hi"] <= 0.6)]["density"]
    assert (centre > 1.2).all()  # too wide: PIT piles up in the middle
    spread = ds.conditional_spread(wide, truth, mean, mass)
    ratios = spread[spread["quantity"].isin(["stellar_mass", "radius"])]
    np.testing.assert_allclose(ratios["value"] / ratios["truth"], 1.5, rtol=0.08)
    summary = ds.summary(ds.marginal_ks(wide, truth), ds.joint_ks(wide, truth, mass), spread,
                         ds.calibration(wide, truth, mass)[0])
    assert summary["conditional std, largest relative error"] > 0.4
    assert summary["coverage error, largest [points]"] > 15


def test_scores_against_draws_of_the_law_take_the_truths_noise_out():
    mass, mean, truth, draws = world()
    model, law = draws(49, seed=2), draws(49, seed=5)  # a perfect model; 49 true draws per halo
    one = ds.calibration(model, truth, mass)[0]
    many = ds.calibration(model, law, mass)[0]
    one_error, many_error = (one["coverage"] - one["level"]).abs(), (many["coverage"] - many["level"]).abs()
    assert many_error.max() < 0.006 and many_error.mean() < one_error.mean() / 2
    # a model 1.5 times too wide: the truth's rank among its 49 draws is binomial with p = Phi(z / 1.5),
    # so its expected coverage is an integral over z (a little under the continuous 2 Phi(1.5 x 0.994) - 1)
    wide = ds.calibration(draws(49, scale=1.5, seed=3), law, mass, levels=(0.68,))[0]
    z = np.linspace(-8, 8, 4001)
    ranks = np.arange(50)
    cell = ds._cell_share((ranks + 0.5) / 50, 49, 0.16, 0.84)
    expected = np.trapezoid(stats.norm.pdf(z) * (stats.binom.pmf(ranks[:, None], 49, stats.norm.cdf(z / 1.5))
                                                 * cell[:, None]).sum(axis=0), z)
    assert expected < 2 * stats.norm.cdf(1.5 * stats.norm.ppf(0.84)) - 1 - 0.005
    np.testing.assert_allclose(wide["coverage"], expected, atol=0.006)
    spread = ds.conditional_spread(model, law, mean, mass)
    stds = spread[spread["quantity"].isin(["stellar_mass", "radius"])]
    np.testing.assert_allclose(stds["truth"], 0.2, rtol=0.01)
    pair = spread[spread["quantity"] == "stellar_mass~sSFR"]
    np.testing.assert_allclose(pair["truth"], 0.5, atol=0.01)
    # the worst cases against the law are the summary's rows of ds.VS_LAW
    summary = ds.summary(ds.marginal_ks(model, truth), ds.joint_ks(model, truth, mass),
                         ds.conditional_spread(model, truth, mean, mass), one, law=(spread, many))
    assert summary["coverage vs law, largest error [points]"] == pytest.approx(100 * many_error.max())
    assert summary["conditional std vs law, largest relative error"] < 0.02
    assert summary["residual correlation vs law, largest error"] < 0.02
    assert np.isnan(ds.summary(ds.marginal_ks(model, truth), ds.joint_ks(model, truth, mass),
                               spread)["coverage vs law, largest error [points]"])
    with pytest.raises(ValueError, match=r"true draws \(k, n, 4\)"):
        ds.calibration(model, law[:, :10], mass)


def test_worst_cases_name_the_bin_and_the_property():
    mass, mean, truth, draws = world()
    model = draws(49, seed=4)
    in_bin = (mass >= 11) & (mass < 11.5)
    model[:, in_bin, 2] = mean[in_bin, 2] + 1.3 * (model[:, in_bin, 2] - mean[in_bin, 2])  # radius too wide there
    spread = ds.conditional_spread(model, truth, mean, mass)
    coverage, _ = ds.calibration(model, truth, mass)
    worst = ds.worst_cases(spread, coverage)
    for score in ("conditional std, largest relative error", "coverage error, largest [points]"):
        assert (worst.loc[score, "M_h_bin"], worst.loc[score, "quantity"]) == ("11-11.5", "radius")
    assert worst.loc["conditional std, largest relative error", "error"] == pytest.approx(0.3, abs=0.06)
    summary = ds.summary(ds.marginal_ks(model, truth), ds.joint_ks(model, truth, mass), spread, coverage)
    for score, row in worst.iterrows():
        assert summary[score] == row["error"]
    assert ds.worst_cases(spread).index.tolist() == ["conditional std, largest relative error",
                                                     "residual correlation, largest error"]
    long = pd.concat([spread.assign(model="a"), ds.conditional_spread(truth[None], truth, mean, mass).assign(model="b")])
    pd.testing.assert_frame_equal(ds.worst_cases(long, coverage.assign(model="a"), model="a"), worst)


def test_sample_noise_of_independent_gaussians_is_that_of_sample_stds_and_correlations():
    """One galaxy per halo from a law of four independent Gaussians, n haloes in a bin: the relative error of
    a sample std is ~ N(0, 1 / (2n)) and a sample correlation ~ N(0, 1 / n), independent across properties
    and pairs, so the largest of 4 (6) has known quantiles."""
    rng = np.random.default_rng(3)
    mass = rng.uniform(10.5, 12.0, N)
    mean = np.column_stack([mass - 2, -10 + 0 * mass, 0.3 * mass - 3, 0.05 * mass])
    sd = np.array([0.1, 0.5, 0.2, 0.05])

    def law(k, seed):
        return mean + sd * np.random.default_rng(seed).normal(size=(k, N, D))

    noise = ds.sample_noise(law(200, 1), law(30, 2), mean, mass)
    assert noise.index.get_level_values("M_h_bin").unique().tolist() == ["10.5-11", "11-11.5", "11.5-12", "all"]
    assert noise.index.get_level_values("score").unique().tolist() == list(ds.SPREAD_SCORES)
    for (_, score), row in noise.iterrows():
        count, scale = (4, np.sqrt(0.5 / row["n"])) if score == ds.SPREAD_SCORES[0] else (6, np.sqrt(1 / row["n"]))
        for q in (0.5, 0.9):  # P(largest of count |N(0, scale)| <= x) = q
            expected = scale * stats.norm.ppf((1 + q ** (1 / count)) / 2)
            assert row[f"p{100 * q:g}"] == pytest.approx(expected, rel=0.15)
    # a law 10 % wider than the truth it is scored against: the std's error moves to about 0.1
    wide = ds.sample_noise(mean + 1.1 * (law(20, 1) - mean), law(30, 2), mean, mass)
    assert wide.loc[("all", ds.SPREAD_SCORES[0]), "p50"] == pytest.approx(0.1, abs=0.015)
    # per bin, bin_errors names the largest error and what gave it
    spread = ds.conditional_spread(law(1, 4), law(30, 2), mean, mass)
    errors = ds.bin_errors(spread)
    worst = ds.worst_cases(spread)
    for score in ds.SPREAD_SCORES:
        by_bin = errors[(errors["score"] == score) & (errors["M_h_bin"] != "all")]
        assert by_bin["error"].max() == worst.loc[score, "error"]
        assert by_bin.loc[by_bin["error"].idxmax(), "quantity"] == worst.loc[score, "quantity"]
    with pytest.raises(ValueError, match="draws must have shape"):
        ds.sample_noise(law(3, 1)[..., :3], law(5, 2), mean, mass)


def test_point_model_is_too_narrow():
    mass, mean, truth, _ = world()
    spread = ds.conditional_spread(mean[None], truth, mean, mass)
    assert (spread[spread["quantity"] == "radius"]["value"] == 0).all()
    assert ds.marginal_ks(mean, truth)["stellar_mass"] > 0.05


def test_energy_distance_against_its_floor():
    mass, mean, truth, draws = world()
    keep = slice(0, 300)
    true1, true2 = draws(100, seed=4)[:, keep], draws(100, seed=5)[:, keep]
    same = ds.energy_distances(draws(100, seed=6)[:, keep], true1, true2, scale=np.full(D, 0.2))
    assert 0.8 < same["ratio"] < 1.25
    shifted = ds.energy_distances(draws(100, seed=6)[:, keep] + 0.1, true1, true2, scale=np.full(D, 0.2))
    assert shifted["ratio"] > 3


def test_kl_estimate_matches_the_gaussian_formula():
    _, mean, truth, _ = world()
    true_lp = stats.multivariate_normal(np.zeros(D), COV).logpdf(truth - mean)
    model_lp = stats.multivariate_normal(np.zeros(D), 4 * COV).logpdf(truth - mean)
    # KL(N(0, S) || N(0, 4 S)) = (D/2) (1/4 - 1 + ln 4)
    np.testing.assert_allclose(ds.kl_estimate(model_lp, true_lp), D / 2 * (0.25 - 1 + np.log(4)), atol=0.03)
    assert ds.kl_estimate(true_lp, true_lp) == 0


def test_bad_inputs():
    mass, mean, truth, draws = world()
    with pytest.raises(ValueError, match=r"shape \(n_draws, n, 4\)"):
        ds.marginal_ks(draws(2)[:, :10], truth)
    bad = draws(2)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ds.marginal_ks(bad, truth)
    with pytest.raises(ValueError, match=r"draws must have shape .* and reference \(n, 4\)"):
        ds.conditional_spread(draws(2), truth, mean[:5], mass)
    with pytest.raises(ValueError, match="draws and reference must be finite"):
        ds.conditional_spread(draws(2), truth, np.where(np.arange(N)[:, None] == 3, np.nan, mean), mass)
    with pytest.raises(ValueError, match=r"draws must have shape .* and reference \(n, 4\)"):
        ds.spread_decomposition(draws(2), mean[:5], mass)
    for bad_mass in (mass[:5], np.where(np.arange(N) == 3, np.inf, mass)):
        for score in (lambda m: ds.spread_decomposition(draws(2), mean, m),
                      lambda m: ds.conditional_spread(draws(2), truth, mean, m),
                      lambda m: ds.calibration(draws(2), truth, m), lambda m: ds.joint_ks(draws(2), truth, m)):
            with pytest.raises(ValueError, match="log_mass must hold one finite M_h per halo"):
                score(bad_mass)
    assert [label for label, _ in ds.mass_bins(mass, min_count=N)] == ["all"]
