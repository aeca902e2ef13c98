"""The embedded universe: calibration to TNG300, clustering, delta_3, the oracle and the exact conditional law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hgtools import reference as ref
from hgtools.catalogue import FEATURES, TARGETS
from hgtools.overdensity import delta3
from hgtools import diagnostics
from hgtools import universe as uni
from hgtools.universe import haloes, law, oracle
from hgtools.universe.parameters import read_parameters


def within(value, target, rel):
    return abs(value / target - 1.0) <= rel


# delta_3 is normalised by the box's own mean density and lacks the modes larger than the box,
# so it is checked at the full 205 Mpc/h only (test_full_size_universe_count_and_calibration).
@pytest.mark.parametrize("column", [c for c in ref.TNG300_SAMPLE if c != "Delta3_h"])
def test_means_and_stds_match_tng300(universe, column):
    cat, _ = universe
    mean, std = ref.TNG300_SAMPLE[column]
    assert within(cat[column].mean(), mean, 0.10), cat[column].mean()
    assert within(cat[column].std(), std, 0.10), cat[column].std()


def test_galaxy_count_scales_to_tng300(universe):
    cat, meta = universe
    expected = ref.TNG300_N_GALAXIES * (meta["box_size"] / 205.0) ** 3
    # Poisson + cosmic variance of a 128 Mpc/h box: allow 4 %
    assert within(len(cat), expected, 0.04), len(cat)


@pytest.mark.parametrize("pair", list(ref.TNG300_CORRELATIONS))
def test_target_correlations(universe, pair):
    """Within 0.05 of what the law tables imply (the law's targets), which sit up to 0.04 from the study's."""
    cat, _ = universe
    r = cat[pair[0]].corr(cat[pair[1]])
    implied = diagnostics.table_implied_correlations()[pair]
    assert abs(r - implied) < 0.05, (r, implied)
    assert abs(r - ref.TNG300_CORRELATIONS[pair]) < 0.05 + abs(implied - ref.TNG300_CORRELATIONS[pair]), r


def test_zero_sfr_fraction_and_colour_bimodality(universe):
    cat, _ = universe
    assert abs(cat["sfr_zero"].mean() - ref.TNG300_ZERO_SFR_FRACTION) < 0.02
    h, edges = np.histogram(cat["color"], bins=np.arange(0.0, 1.45, 0.05))
    centres = 0.5 * (edges[1:] + edges[:-1])
    red = (centres > 0.95) & (centres < 1.25)
    blue = (centres > 0.45) & (centres < 0.85)
    red_peak, blue_peak = centres[red][h[red].argmax()], centres[blue][h[blue].argmax()]
    assert 1.0 <= red_peak <= 1.2 and 0.5 <= blue_peak <= 0.8
    between = (centres > blue_peak) & (centres < red_peak)
    assert h[between].min() < 0.5 * min(h[red].max(), h[blue].max())  # a real dip


def test_secondary_halo_properties(universe):
    cat, meta = universe
    cfg = uni.config_from_metadata(meta)
    resid_c = cat["C_h"] - haloes.mean_log_concentration(cat["M_h"].to_numpy())
    assert 0.10 <= resid_c.std() <= 0.16  # c(M) scatter in dex
    # z_1/2 rises with concentration at fixed mass
    narrow = (cat["M_h"] > 11.2) & (cat["M_h"] < 11.4)
    r = stats.spearmanr(cat.loc[narrow, "C_h"], cat.loc[narrow, "z_h"]).statistic
    assert r > 0.3
    # ... and concentration and spin are anti-correlated, as in TNG300-1
    assert stats.spearmanr(cat.loc[narrow, "C_h"], cat.loc[narrow, "S_h"]).statistic < -0.15
    # spin lognormal: log spin is symmetric with the configured width
    log_spin = np.log(cat["S_h"])
    assert abs(stats.skew(log_spin)) < 0.05
    assert log_spin.std() == pytest.approx(cfg.halos.spin_log_scatter, rel=0.03)


def test_delta3_counts_match_brute_force():
    rng = np.random.default_rng(0)
    box = 20.0
    tracers = rng.random((3000, 3)) * box
    centres = tracers[:50]
    d3 = delta3(centres, tracers, box, radius=3.0)
    diff = np.abs(centres[:, None, :] - tracers[None, :, :])
    diff = np.minimum(diff, box - diff)  # periodic images
    counts = (np.sqrt((diff**2).sum(-1)) <= 3.0).sum(1) - 1
    expected = len(tracers) / box**3 * 4 / 3 * np.pi * 27
    np.testing.assert_allclose(d3, counts / expected)


def test_delta3_is_measured_from_positions():
    model, _ = read_parameters()
    halos, tracers = haloes.generate_halos(model, 40.0, np.random.default_rng(3))
    np.testing.assert_allclose(
        halos["Delta3_h"], delta3(halos[["X_h", "Y_h", "Z_h"]].to_numpy(), tracers, 40.0))
    assert len(tracers) > 2 * len(halos)  # haloes below the selection are counted too


def test_massive_haloes_snapped_to_peaks_have_denser_surroundings():
    """Peak snapping moves only the haloes drawn from smoother fields, into denser places."""
    from dataclasses import replace

    model, _ = read_parameters()
    runs = [haloes.generate_halos(replace(model, peak_snapping=s), 60.0, np.random.default_rng(4))[0]
            for s in (0.0, 1.0)]
    big = runs[0]["M_h"] >= 12.7
    assert big.sum() > 100
    light = runs[0]["M_h"] < 12.0  # drawn from the finest field, before any snapping: unchanged
    np.testing.assert_array_equal(runs[0].loc[light, "X_h"], runs[1].loc[light, "X_h"])
    assert runs[1].loc[big, "Delta3_h"].median() > 1.1 * runs[0].loc[big, "Delta3_h"].median()


def test_formation_scatter_narrows_z_half_and_inverts_exactly():
    m = np.full(5000, 11.5)
    u = np.random.default_rng(0).standard_normal(5000)
    wide = haloes.formation_redshift(m, u, 1.1, 1.0)
    narrow = haloes.formation_redshift(m, u, 1.1, 0.9)
    assert narrow.std() < 0.95 * wide.std()
    assert stats.spearmanr(wide, narrow).statistic == pytest.approx(1.0)  # the same ranking of ages
    np.testing.assert_allclose(haloes.age_latent(m, narrow, 1.1, 0.9), u, atol=1e-3)


def test_mass_dependent_bias_matches_standard_models(universe):
    cat, meta = universe
    box = meta["box_size"]
    m, pos = cat["M_h"].to_numpy(), cat[["X_h", "Y_h", "Z_h"]].to_numpy()
    # above 10^11.5 every halo hosts a selected galaxy; below, the stellar-mass cut selects the
    # old, concentrated haloes, whose assembly bias the halo-bias models do not describe
    complete = m >= 11.5
    lo, hi = np.quantile(m[complete], [0.2, 0.9])
    top, bottom = m >= hi, complete & (m <= lo)
    from hgtools.counts_in_cells import relative_bias

    ratio, err = relative_bias(pos[top], pos[bottom], pos[~top & ~bottom], box, n_cells=10)
    models = diagnostics.model_bias_ratio(m[top], m[bottom]).values()
    assert ratio > 1 + 3 * err
    assert min(models) - 3 * err <= ratio <= max(models) + 3 * err


def test_assembly_bias_old_haloes_cluster_more(universe):
    cat, meta = universe
    table = diagnostics.assembly_bias_table(cat, meta["box_size"], edges=(11.5, 12.0))
    ratio, err = table.loc[0, "old/young"], table.loc[0, "error"]
    assert ratio > 1 + 3 * err, (ratio, err)


def test_oracle_is_the_conditional_mean(universe):
    """Residuals of the truth about the oracle average to zero in every bin of every feature."""
    cat, meta = universe
    orc = uni.catalogue_oracle(cat, meta)
    for t in TARGETS:
        resid = cat[t] - orc[t]
        for f in FEATURES:
            bins = pd.qcut(cat[f], 8, duplicates="drop")
            g = resid.groupby(bins, observed=True)
            z = g.mean() / (g.std() / np.sqrt(g.size()))
            assert np.all(np.abs(z) < 4.5), (t, f, z.round(2).tolist())


def test_oracle_beats_a_biased_alternative(universe):
    """A perturbed law predicts worse than the true oracle (the test can fail)."""
    cat, meta = universe
    cfg = uni.config_from_metadata(meta)
    values = dict(cfg.law.values)
    values["quench_z"] = tuple(0.0 for _ in cfg.law.knots)
    wrong = oracle.oracle(cat[list(FEATURES)], law.GalaxyLaw(cfg.law.knots, values), cfg.halos)
    right = uni.catalogue_oracle(cat, meta)
    assert np.mean((cat["sSFR"] - right["sSFR"]) ** 2) < np.mean((cat["sSFR"] - wrong["sSFR"]) ** 2)


def test_same_seed_same_universe_other_seed_differs():
    a, meta_a = uni.universe_catalogue(uni.UniverseConfig(box_size=40.0, seed=7))
    b, _ = uni.universe_catalogue(uni.UniverseConfig(box_size=40.0, seed=7))
    c, _ = uni.universe_catalogue(uni.UniverseConfig(box_size=40.0, seed=8))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) != len(c) or not np.allclose(a["M_h"], c["M_h"])
    assert meta_a["universe"]["seed"] == 7 and meta_a["source"] == "mock"


def test_law_dependencies_follow_the_law(universe):
    cat, meta = universe
    table = diagnostics.law_dependencies(cat.iloc[:3000], meta)
    assert (table > 0).all().all()  # every feature drives every property, a little at least
    assert table["stellar_mass: change per 1 std"].idxmax() == "M_h"
    # at fixed mass the law's radius follows spin more than delta_3 (TNG300-1's importances)
    assert table.loc["S_h", "radius: change per 1 std"] > table.loc["Delta3_h", "radius: change per 1 std"]


def test_oracle_refuses_non_mock_catalogues(universe):
    cat, _ = universe
    with pytest.raises(ValueError, match="only for catalogues of the embedded"):
        uni.catalogue_oracle(cat, {"source": "tng", "box_size": 205.0})


@pytest.mark.slow
def test_full_size_universe_count_and_calibration(full_universe):
    cat, meta = full_universe
    assert within(len(cat), ref.TNG300_N_GALAXIES, 0.03), len(cat)
    table = diagnostics.calibration_table(cat, meta).set_index("quantity")
    means = table[table.index.str.startswith("mean")]
    assert (means["relative difference"].abs() <= 0.05).all(), means
    # every spread within 5 % and the six correlations between the properties within 0.05 of the
    # study's TNG300-1 sample (the calibration fits them beside the law tables)
    stds = table[table.index.str.startswith("std")]["relative difference"].abs()
    assert (stds <= 0.05).all(), stds
    for (a, b), r in ref.TNG300_CORRELATIONS.items():
        assert abs(cat[a].corr(cat[b]) - r) <= 0.05, (a, b, cat[a].corr(cat[b]))


@pytest.mark.slow
def test_full_size_universe_has_tng300s_law(full_universe):
    """The goals of the calibration, on the generated catalogue (truth and oracle)."""
    cat, meta = full_universe
    parts = diagnostics.law_comparison(cat, uni.catalogue_oracle(cat, meta))
    summary = diagnostics.law_summary(parts)
    worst = summary.assign(goal=summary["comparison"].map(diagnostics.LAW_GOALS))
    assert (worst["value"] <= worst["goal"]).all(), worst[worst["value"] > worst["goal"]]
    # the bins left out of the halo-feature summary are left out for their noise only
    halo = parts["halo-feature correlations"]
    noisy = halo[halo["noise"] > diagnostics.LAW_GOALS["halo-feature correlations"] / 3]
    assert set(noisy["M_h_bin"]) <= {"10.5-10.75"}
    assert (noisy["difference"].abs() <= 3 * noisy["noise"]).all(), noisy


# --- the exact conditional law ---------------------------------------------------------------

@pytest.fixture(scope="module")
def few_haloes(universe):
    cat, meta = universe
    cfg = uni.config_from_metadata(meta)
    rows = cat.sample(200, random_state=1)
    return rows[list(FEATURES)], cfg


def test_sample_conditional_reproduces_the_exact_moments(few_haloes):
    features, cfg = few_haloes
    draws = oracle.sample_conditional(features, cfg.law, cfg.halos, n_draws=4000, seed=5)
    mean, cov = oracle.conditional_moments(features, cfg.law, cfg.halos)
    assert draws.shape == (4000, len(features), 4)
    assert (draws[..., 0] >= 8.75).all()  # the selection holds for every draw
    err = np.sqrt(np.einsum("nii->ni", cov) / 4000)
    z = (draws.mean(axis=0) - mean) / err
    assert np.abs(z).max() < 5.0 and np.abs(z).mean() < 1.0
    centred = draws - draws.mean(0)
    products = np.einsum("dni,dnj->dnij", centred, centred)
    sample_cov = products.sum(0) / 3999
    # each element against its own sampling error (the mixtures' heavy tails make some large)
    z_cov = (sample_cov - cov) / (products.std(0) / np.sqrt(4000))
    assert np.abs(z_cov).max() < 5.0 and np.abs(z_cov).mean() < 1.0, np.abs(z_cov).max()
    again = oracle.sample_conditional(features, cfg.law, cfg.halos, n_draws=4000, seed=5)
    np.testing.assert_array_equal(draws, again)
    np.testing.assert_allclose(mean, oracle.oracle(features, cfg.law, cfg.halos).to_numpy())


def test_log_prob_is_a_normalised_density(few_haloes):
    """Importance-sampling estimate of the integral of p(y | halo) is 1, halo by halo."""
    features, cfg = few_haloes
    features = features.iloc[:20]
    rng = np.random.default_rng(0)
    mean, cov = oracle.conditional_moments(features, cfg.law, cfg.halos)
    n = 100_000
    totals = []
    for i in range(len(features)):
        proposal = stats.multivariate_normal(mean[i], 4.0 * cov[i])  # twice as wide as the law
        y = proposal.rvs(n, random_state=rng)
        q = proposal.logpdf(y)
        p = oracle.log_prob(pd.concat([features.iloc[[i]]] * n), y, cfg.law, cfg.halos)
        totals.append(np.mean(np.exp(p - q)))
    assert np.allclose(totals, 1.0, atol=0.05), np.round(totals, 3)
    below = mean[:1].copy()
    below[0, 0] = 8.0
    assert oracle.log_prob(features.iloc[:1], below, cfg.law, cfg.halos)[0] == -np.inf


def test_bad_parameter_files_name_the_parameter(tmp_path):
    import json

    from hgtools.universe.law import ParameterError
    from hgtools.universe.parameters import PARAMETERS_FILE

    good = json.loads(PARAMETERS_FILE.read_text())
    cases = {"law scatter": (("law", "values", "scatter_radius"), [-0.1] * len(good["law"]["knots"])),
             "law length": (("law", "values", "mean_radius"), [0.5]),
             "halo number": (("halos", "spin_median"), "big"),
             "halo correlation": (("halos", "corr_c_s"), [0.99] * len(good["halos"]["knots"])),
             "halo peaks": (("halos", "field_peak"), 0.0), "halo snapping": (("halos", "peak_snapping"), -1.0)}
    expected = {"law scatter": "scatter_radius", "law length": "mean_radius", "halo number": "spin_median",
                "halo correlation": "corr_c_s", "halo peaks": "field_peak", "halo snapping": "peak_snapping"}
    for name, (keys, value) in cases.items():
        data = json.loads(PARAMETERS_FILE.read_text())
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ParameterError, match=expected[name]) as err:
            read_parameters(path)
        assert str(path) in str(err.value)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ParameterError, match="not a JSON"):
        read_parameters(tmp_path / "broken.json")
