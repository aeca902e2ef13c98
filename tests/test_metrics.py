"""Scores: the fast 2D KS equals the direct one, and the simple scores are right."""

from __future__ import annotations

import numpy as np
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
