"""Every figure is drawn for the page: page-wide, text ≥ MIN_FONT_PT, colour bars where colour means a value."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hgtools import plots, reference  # noqa: E402
from hgtools.catalogue import FEATURES, GALAXY_INPUTS, TARGETS, prediction_column  # noqa: E402

MODELS = ("ERT", "kNN", "LGBM", "NN", "stack")


@pytest.fixture(scope="module")
def pred(universe):
    """Test-split-like predictions: truth plus noise for every model of both paths."""
    table = universe[0].iloc[:6000].reset_index(drop=True)
    rng = np.random.default_rng(0)
    columns = {}
    for t in TARGETS:
        for path in ("raw", "smogn", GALAXY_INPUTS):
            for m in MODELS:
                columns[prediction_column(t, path, m)] = table[t] + rng.normal(0, 0.2 * table[t].std(), len(table))
    return pd.concat([table, pd.DataFrame(columns)], axis=1)


@pytest.fixture(scope="module")
def meta(universe):
    return universe[1]


def check(fig):
    smallest, width = plots.readability(fig)
    assert smallest >= plots.MIN_FONT_PT and width <= plots.PAGE_WIDTH_IN + 0.05
    plt.close(fig)


def scores(pred):
    rows = [{"target": t, "path": p, "model": m, "PCC": np.corrcoef(pred[t], pred[prediction_column(t, p, m)])[0, 1],
             "KS": 0.1} for t in TARGETS for p in ("raw", "smogn") for m in MODELS]
    return pd.DataFrame(rows)


def test_the_house_style_refuses_unreadable_figures():
    @plots.house_style
    def tiny_text():
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.set_title("a title", fontsize=7)
        return fig

    @plots.house_style
    def too_wide():
        return plt.subplots(figsize=(12, 3))[0]

    with pytest.raises(ValueError, match="7 pt"):
        tiny_text()
    with pytest.raises(ValueError, match="in wide"):
        too_wide()


def test_catalogue_figures_are_readable(universe, meta):
    catalogue = universe[0]
    check(plots.distributions(catalogue, FEATURES, meta))
    check(plots.correlation_matrix(catalogue, meta))
    check(plots.zero_sfr(catalogue, meta))
    fig = plots.law_relations(catalogue, meta)
    assert any(ax.get_ylabel() == "galaxies per hexagon" for ax in fig.axes), "a colour bar for the density"
    check(fig)
    check(plots.oracle_vs_truth(catalogue, catalogue[list(TARGETS)], meta))
    check(plots.methods_schematic())


def test_prediction_figures_are_readable_and_carry_the_study(pred, meta):
    check(plots.prediction_histograms(pred, meta))
    study = {path: {t: v[1] for t, v in reference.STUDY_TABLE_B1[path].items()} for path in ("raw", "smogn")}
    fig = plots.scores_by_model(scores(pred), "PCC", meta, {t: 0.9 for t in TARGETS}, study=study)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "study's stack (TNG300)" in labels and "oracle" in labels
    check(fig)
    for fig in (plots.true_vs_predicted(pred, meta, n=3000), plots.joint_relations(pred, meta, reference.JOINT_RELATIONS),
                plots.galaxy_inputs(pred, meta, {t: 0.5 for t in TARGETS})):
        assert any(ax.get_ylabel() == "galaxies per hexagon" for ax in fig.axes)
        check(fig)
    samples = {"flow": pred[list(TARGETS)].to_numpy(), "raw stack": pred[list(TARGETS)].to_numpy()}
    check(plots.sampled_distributions(pred, samples, meta))


def test_the_stack_figure_shows_shares_that_sum_to_100_and_the_weights(meta):
    rows = [{"target": t, "path": p, "feature": m, "importance": w}
            for t in TARGETS for p in ("raw", "smogn") for m, w in zip(MODELS[:4], (0.001, 0.002, 0.5, 3.0))]
    weights = pd.DataFrame([{"path": p, "target": t, "ERT": 0.1, "kNN": 0.2, "LGBM": 0.6, "NN": 0.1}
                            for t in TARGETS for p in ("raw", "smogn")])
    fig = plots.stack_importances(pd.DataFrame(rows), meta, weights)
    bars = fig.axes[0].patches
    heights = np.array([b.get_height() for b in bars]).reshape(4, len(TARGETS))  # models x targets
    assert np.allclose(heights.sum(axis=0), 100.0)
    assert np.isclose(heights[0, 0], 100 * 3.0 / 3.503)  # NN first in the figure
    check(fig)


def test_the_house_style_restores_only_its_own_settings():
    # the notebook backend turns interactive mode on when the first figure is made; restoring it
    # afterwards would stop every later figure from being shown
    before_size, before_interactive = matplotlib.rcParams["legend.fontsize"], matplotlib.is_interactive()

    @plots.house_style
    def first_figure():
        matplotlib.interactive(True)
        assert matplotlib.rcParams["legend.fontsize"] == plots.STYLE["legend.fontsize"]
        return plt.subplots(figsize=(4, 3))[0]

    try:
        plt.close(first_figure())
        assert matplotlib.is_interactive()
        assert matplotlib.rcParams["legend.fontsize"] == before_size
    finally:
        matplotlib.interactive(before_interactive)


def test_the_law_calibration_figure_names_its_lines(universe, meta):
    from hgtools.diagnostics import law_comparison, law_importance
    from hgtools.universe import catalogue_oracle

    catalogue = universe[0]
    law = law_comparison(catalogue, catalogue_oracle(catalogue, meta))
    fig = plots.law_calibration(law, law_importance(catalogue, meta, rows=2000, repeats=2), meta)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes if ax.get_legend()]
    assert [plots.SHORT_LABELS[f] for f in ("C_h", "S_h", "z_h", "Delta3_h")] == legends[0]
    labels = [label for names in legends for label in names]
    assert any("–" in label for label in labels) and not any("~" in label for label in labels)  # pairs named
    check(fig)
