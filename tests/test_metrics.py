"""Scores: the fast 2D KS equals the direct one, and the simple scores are right."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hgtools import metrics


@pytest.mark.parametrize("seed", range(6))
def test_ks_2d_equals_the_direct_statistic_with_ties(seed):
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(5, 300, 2)
    # a few distinct values so that ties in x, in y and whole duplicate points abound
    a = rng.integers(0, 7, (n1, 2)).astype(float)
    b = rng.integers(0, 7, (n2, 2)).astype(float) + rng.choice([0.0, 0.5], (n2, 2))
    assert metrics.ks_2d(a, b) == metrics.ks_2d_direct(a, b)


def test_ks_2d_on_continuous_samples():
    rng = np.random.default_rng(10)
    a = rng.normal(size=(700, 2))
    b = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
    assert metrics.ks_2d(a, b) == pytest.approx(metrics.ks_2d_direct(a, b), abs=1e-15)
    assert metrics.ks_2d(a, a) == 0.0
    assert metrics.ks_2d(a, b) == pytest.approx(metrics.ks_2d(b, a), abs=1e-15)
    assert metrics.ks_2d(a, b + 5.0) > 0.9


def test_ks_2d_rejects_bad_samples():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        metrics.ks_2d(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="empty"):
        metrics.ks_2d(np.zeros((0, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        metrics.ks_2d(np.array([[0.0, np.nan]]), np.zeros((4, 2)))


def test_simple_scores():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    p = y + rng.normal(scale=0.5, size=500)
    assert metrics.mse(y, p) == pytest.approx(np.mean((y - p) ** 2))
    assert metrics.pearson(y, p) == pytest.approx(stats.pearsonr(y, p).statistic)
    assert metrics.ks_1d(y, p) == pytest.approx(stats.ks_2samp(y, p).statistic)
    with pytest.raises(ValueError, match="same length"):
        metrics.mse(y, p[:-1])
    with pytest.raises(ValueError, match="finite"):
        metrics.pearson(np.r_[y[:-1], np.nan], p)


def test_bootstrap_interval_brackets_the_score_and_is_seeded():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    p = y + rng.normal(scale=0.7, size=2000)
    value, lo, hi = metrics.bootstrap_interval(metrics.pearson, y, p, n_boot=100, seed=3)
    assert lo < value < hi and hi - lo < 0.05
    assert metrics.bootstrap_interval(metrics.pearson, y, p, n_boot=100, seed=3) == (value, lo, hi)


@pytest.mark.parametrize("n1, n2", [(1, 1), (1, 5), (2, 3), (17, 400), (513, 257)])
def test_dominance_counts_are_exact(n1, n2):
    """The wavelet-matrix counter against brute force, with ties, single points and unequal sizes."""
    rng = np.random.default_rng(n1 * 1000 + n2)
    px, py = rng.integers(0, 9, n1), rng.integers(0, 9, n1)
    qx, qy = rng.integers(0, 11, n2), rng.integers(0, 11, n2)
    counter = metrics._DominanceCounter(px, py, n_ranks=11)
    expected = ((px[None, :] < qx[:, None]) & (py[None, :] < qy[:, None])).sum(axis=1)
    np.testing.assert_array_equal(counter.count(qx, qy), expected)
    a, b = rng.integers(0, 4, (n1, 2)).astype(float), rng.integers(0, 4, (n2, 2)).astype(float)
    assert metrics.ks_2d(a, b) == metrics.ks_2d_direct(a, b)


def test_pit_and_coverage_of_a_calibrated_gaussian_law():
    rng = np.random.default_rng(3)
    n, draws = 4_000, 400
    mean = rng.normal(size=(n, 2))
    truth = mean + rng.normal(size=(n, 2))
    exact = mean[None] + rng.normal(size=(draws, n, 2))
    values = metrics.pit(exact, truth)
    assert values.shape == (n, 2)
    assert stats.kstest(values[:, 0], "uniform").statistic < 0.03
    np.testing.assert_allclose(metrics.coverage(exact, truth, 0.68), 0.68, atol=0.02)
    np.testing.assert_allclose(metrics.coverage(exact, truth, 0.95), 0.95, atol=0.01)
    narrow = mean[None] + 0.5 * rng.normal(size=(draws, n, 2))  # too narrow by two
    expected = 2 * stats.norm.cdf(0.5 * stats.norm.ppf(0.84)) - 1  # truths inside ±0.5 sigma_68
    np.testing.assert_allclose(metrics.coverage(narrow, truth, 0.68), expected, atol=0.02)
    assert metrics.pit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([1.0]))[0, 0] == 0.375


def test_energy_distance_known_answers():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=6_000), rng.normal(size=6_000)
    assert abs(metrics.energy_distance(a, b)) < 0.01
    mu = 1.0  # 2E|X - Y| - 2E|X - X'| for N(0,1) and N(mu,1); X - Y ~ N(-mu, 2)
    s = np.sqrt(2.0)
    expected = 2 * (s * np.sqrt(2 / np.pi) * np.exp(-mu**2 / (2 * s**2)) + mu * (1 - 2 * stats.norm.cdf(-mu / s))) \
        - 2 * 2 / np.sqrt(np.pi)
    assert metrics.energy_distance(a, b + mu) == pytest.approx(expected, abs=0.02)
    same = rng.normal(size=(200, 50, 3))
    shifted = rng.normal(size=(200, 50, 3)) + np.array([1.0, 0, 0])
    floor = metrics.conditional_energy_distance(same, rng.normal(size=(200, 50, 3)))
    far = metrics.conditional_energy_distance(shifted, same)
    assert floor.shape == (50,) and far.mean() > 10 * abs(floor.mean())
    assert far[7] == pytest.approx(metrics.energy_distance(shifted[:, 7], same[:, 7]), rel=1e-12)
    with pytest.raises(ValueError, match="draws must have shape"):
        metrics.pit(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        metrics.coverage(np.full((5, 3), np.nan), np.zeros(3))


def test_seed_spread_flags_only_differences_larger_than_the_spread():
    from hgtools.evaluation import seed_spread

    runs = pd.DataFrame({"quantity": ["PCC a (raw)", "PCC b (raw)", "χ² c"],
                         "universe 0, training 0": [0.80, 0.70, 5.0], "universe 1, training 1": [0.82, 0.72, 9.0],
                         "universe 0, training 1": [0.81, 0.74, 7.0],
                         "range over universe seeds": [0.02, 0.02, 4.0], "range over training seeds": [0.01, 0.04, 2.0],
                         "study (TNG300)": [0.75, 0.73, ""]})
    out = seed_spread(runs).set_index("quantity")
    assert list(out.index) == ["PCC a (raw)", "PCC b (raw)"]  # no study value: left out
    assert out.loc["PCC a (raw)", "exceeds the spread"]  # 0.81 - 0.75 = 0.06 > 0.02
    assert not out.loc["PCC b (raw)", "exceeds the spread"]  # 0.72 - 0.73 = -0.01, spread 0.04
    assert out.loc["PCC a (raw)", "seed spread"] == 0.02
