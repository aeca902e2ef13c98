"""The law diagnostics against TNG300-1's tables, on tables built to known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hgtools import diagnostics
from hgtools.catalogue import TARGETS
from hgtools.reference import tng300_law


@pytest.fixture(scope="module")
def matched():
    """Galaxies whose bin means, quenched fractions and residual correlations are TNG300's by construction."""
    rng = np.random.default_rng(0)
    means = tng300_law("law_means")
    means = means[means["feature"] == "all"]
    quenched = tng300_law("scatter").query("target == 'sSFR'").set_index("M_h_bin")["quenched_fraction"]
    corr = tng300_law("residual_correlations").set_index(["M_h_bin", "pair"])["resid_corr"]
    tables, oracles = [], []
    for label in quenched.index:
        lo, hi = (float(v) for v in label.split("-"))
        n = 2000
        table = pd.DataFrame({"M_h": rng.uniform(lo, hi, n), "C_h": rng.normal(1, 0.1, n),
                              "S_h": rng.lognormal(-3, 0.5, n), "z_h": rng.normal(1.3, 0.5, n),
                              "Delta3_h": rng.lognormal(0.5, 0.8, n)})
        cov = np.eye(4)
        for pair, value in corr.xs(label).items():
            a, b = (TARGETS.index(p) for p in pair.split("~"))
            cov[a, b] = cov[b, a] = value
        noise = rng.multivariate_normal(np.zeros(4), cov, n)
        noise = (noise - noise.mean(0)) / noise.std(0)
        oracle = pd.DataFrame({t: np.full(n, float(means[(means["M_h_bin"] == label) & (means["target"] == t)]
                                                     ["mean_lgbm"].iloc[0])) for t in TARGETS})
        truth = oracle + 0.01 * noise
        k = int(round(quenched[label] * n))
        truth["sSFR"] = np.r_[np.full(k, -12.0), np.full(n - k, -10.0)] + 0.01 * noise[:, 1]
        oracle["sSFR"] = np.r_[np.full(k, -12.0), np.full(n - k, -10.0)]
        tables.append(pd.concat([table, truth], axis=1))
        oracles.append(oracle)
    return pd.concat(tables, ignore_index=True), pd.concat(oracles, ignore_index=True)


def test_bin_means_equal_to_tngs_differ_by_zero(matched):
    table, oracle = matched
    means = diagnostics.conditional_means(table.assign(**{t: oracle[t] for t in TARGETS if t != "sSFR"}))
    assert means[means["target"] != "sSFR"]["difference / std"].abs().max() < 1e-9


def test_quenched_fractions_and_residual_correlations_are_recovered(matched):
    table, oracle = matched
    fractions = diagnostics.quenched_fractions(table)
    assert fractions["difference"].abs().max() < 1e-3
    corr = diagnostics.residual_correlations(table, oracle)
    assert corr[~corr["pair"].str.contains("sSFR")]["difference"].abs().max() < 0.05


def test_independent_halo_features_have_no_spearman_correlation(matched):
    table, _ = matched
    spearman = diagnostics.halo_feature_correlations(table)
    assert spearman["here"].abs().max() < 0.1
    np.testing.assert_allclose(spearman["difference"], spearman["here"] - spearman["TNG300"])


def test_a_law_without_secondary_dependence_misses_tngs_by_its_slopes(matched):
    table, oracle = matched
    slopes = diagnostics.secondary_slopes(table, oracle)
    assert (slopes.query("target != 'sSFR'")["slope here"] == 0).all()  # the oracle is flat in each bin
    np.testing.assert_allclose(slopes["difference / std"].abs() > 0, True)
    summary = diagnostics.law_summary(diagnostics.law_comparison(table, oracle))
    assert set(summary["comparison"]) == {"conditional means", "secondary dependence", "intrinsic scatter",
                                          "residual correlations", "halo-feature correlations", "quenched fraction"}
    scatter = diagnostics.scatter(table, oracle)
    assert (scatter.query("target != 'sSFR'")["here"] - 0.01).abs().max() < 1e-6


def test_a_small_catalogue_leaves_out_what_it_cannot_measure(matched):
    table, oracle = matched
    few = table.iloc[::40].reset_index(drop=True)  # 50 galaxies per bin: below every minimum
    parts = diagnostics.law_comparison(few, oracle.iloc[::40].reset_index(drop=True))
    assert all(len(part) == 0 for part in parts.values())
    assert diagnostics.law_summary(parts).empty


def test_table_implied_correlations_equal_those_of_a_sample_drawn_from_the_tables():
    rng = np.random.default_rng(2)
    means, spread = tng300_law("law_means"), tng300_law("scatter")
    pairs, haloes = tng300_law("residual_correlations"), tng300_law("halo_features")
    fraction = haloes[haloes["feature"] == "C_h"].set_index("M_h_bin")["fraction"]
    draws = []
    for label in sorted(set(spread["M_h_bin"])):
        mean = means[(means["M_h_bin"] == label) & (means["feature"] == "all")].set_index("target")["mean_lgbm"]
        std = spread[spread["M_h_bin"] == label].set_index("target")["std_total"]
        corr = np.eye(4)
        for _, row in pairs[pairs["M_h_bin"] == label].iterrows():
            a, b = (TARGETS.index(t) for t in row["pair"].split("~"))
            corr[a, b] = corr[b, a] = row["total_corr"]
        s = std[list(TARGETS)].to_numpy()
        draws.append(rng.multivariate_normal(mean[list(TARGETS)].to_numpy(), corr * np.outer(s, s),
                                             size=int(400_000 * fraction[label])))
    drawn = np.concatenate(draws)
    sample = np.corrcoef(drawn.T)
    implied = diagnostics.table_implied_correlations()
    for (a, b), r in implied.items():
        assert r == pytest.approx(sample[TARGETS.index(a), TARGETS.index(b)], abs=0.005), (a, b)
    mean, cov = diagnostics.table_implied_moments()
    np.testing.assert_allclose(mean[list(TARGETS)], drawn.mean(0), atol=0.01)
    np.testing.assert_allclose(np.sqrt(np.diag(cov.loc[list(TARGETS), list(TARGETS)])), drawn.std(0), rtol=0.01)
    # the tables' own sample is not the study's catalogue: they differ by a few hundredths
    from hgtools.reference import TNG300_CORRELATIONS

    assert max(abs(implied[k] - r) for k, r in TNG300_CORRELATIONS.items()) < 0.06


def test_spearman_error_is_the_spread_of_repeated_measurements():
    from scipy import stats

    rng = np.random.default_rng(5)
    n, r = 400, 0.5
    values = [stats.spearmanr(*rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n).T).statistic
              for _ in range(600)]
    rho = 6 / np.pi * np.arcsin(r / 2)
    assert np.std(values) == pytest.approx(diagnostics.spearman_error(rho, n), rel=0.1)
    assert np.mean(values) == pytest.approx(rho, abs=0.01)


def test_law_summary_leaves_out_bins_that_cannot_test_the_goal():
    halo = pd.DataFrame({"M_h_bin": ["10.5-10.75", "11-11.25"], "pair": ["C_h~S_h"] * 2, "here": [0.3, 0.12],
                         "TNG300": [0.1, 0.1], "difference": [0.2, 0.02], "noise": [0.05, 0.01]})
    scatter = pd.DataFrame({"M_h_bin": ["12-12.5", "13-15.5"], "target": ["sSFR"] * 2, "here": [1.0, 1.0],
                            "TNG300": [1.05, 1.25], "relative difference": [-0.05, -0.2],
                            "comparable": [True, False]})
    parts = {"halo-feature correlations": halo, "intrinsic scatter": scatter}
    summary = diagnostics.law_summary(parts).set_index("comparison")["value"]
    assert summary["halo-feature correlations"] == pytest.approx(0.02)
    assert summary["intrinsic scatter"] == pytest.approx(0.05)
    everything = diagnostics.law_summary(parts, every_bin=True).set_index("comparison")["value"]
    assert everything["halo-feature correlations"] == pytest.approx(0.2)
