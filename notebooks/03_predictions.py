# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Predictions and performance
#
# The models of the previous chapter, applied to the untouched test set. Scores: the mean
# squared error, the Pearson correlation coefficient (PCC) between true and predicted values,
# the one-dimensional Kolmogorov–Smirnov distance between the true and predicted distributions
# and, for pairs of properties, the two-dimensional KS distance of Fasano & Franceschini {cite:p}`Peacock1983,Fasano1987` —
# computed exactly on the whole test set (the study used a 30,000-galaxy subsample). Where the
# data come from the embedded universe, the *oracle* — the exact conditional mean of each
# property given the five halo features — marks the best any model can do.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import pandas as pd
from IPython.display import display

from hgtools import evaluation, plots, reference
from hgtools.pipeline import open_run

run = open_run(config)
catalogue, meta = run.catalogue.table, run.meta
display(run)  # the banner naming the data source
pred, oracle = run.predictions, run.oracle
scores = evaluation.score_table(pred)

# %% [markdown]
# ## Distributions (Fig. 2)
#
# True distributions (grey) and predicted ones: each model of the raw path, each model of the
# SMOGN path, and the two stacks.

# %% mystnb={"figure": {"caption": "**Fig. 2.** Distributions of the four properties in the test set (grey) and as predicted: each model of the raw path (left), of the SMOGN path (middle), and the two stacks (right).", "name": "fig-2"}}
fig = plots.prediction_histograms(pred, meta)

# %% [markdown]
# ## Correlation between true and predicted values (Fig. 3)

# %%
oracle_pcc = None if oracle is None else evaluation.oracle_scores(pred, oracle)["PCC"].to_dict()
study_pcc = {path: {t: pcc for t, (_, pcc) in values.items()} for path, values in reference.STUDY_TABLE_B1.items()}

# %% mystnb={"figure": {"caption": "**Fig. 3.** Pearson r between true and predicted values of every model (lines) and stack (diamonds), raw path (top) and SMOGN path (bottom). Red stars: the oracle, the best any model can reach on these data; gold stars: the study's stacks on TNG300-1 (its Table B1), a published reference, not this run.", "name": "fig-3"}}
fig = plots.scores_by_model(scores, "PCC", meta, oracle_pcc, ylabel="Pearson r (test set)", study=study_pcc)

# %% [markdown]
# ## Distance between true and predicted distributions (Fig. 4)

# %% mystnb={"figure": {"caption": "**Fig. 4.** One-dimensional KS distance between the true and the predicted distributions, as in Fig. 3 (lower is better). The study gives no KS values in numbers (its Fig. 4 is a plot), so none are drawn here.", "name": "fig-4"}}
fig = plots.scores_by_model(scores, "KS", meta, ylabel="1D KS distance D (test set)")

# %%
display(scores.pivot_table(index=["target", "model"], columns="path", values=["PCC", "MSE", "KS"]).round(4))

# %% [markdown]
# ## One galaxy at a time (Fig. 5)

# %% mystnb={"figure": {"caption": "**Fig. 5.** True against predicted values of the two stacks for up to 30,000 random test galaxies (colour: galaxies per hexagon, log scale; dashed: one to one).", "name": "fig-5"}}
fig = plots.true_vs_predicted(pred, meta, seed=run.config.training_seed)

# %% [markdown]
# ## Joint relations (Fig. 6)
#
# Predicted relations between properties (density) against the true ones (contours): stellar
# mass and size against halo mass, sSFR and colour against stellar mass, sSFR against colour.

# %% mystnb={"figure": {"caption": "**Fig. 6.** Joint relations of the stacked predictions (colour: galaxies per hexagon, log scale) against the true galaxies (contours at three levels of their density).", "name": "fig-6"}}
fig = plots.joint_relations(pred, meta, reference.JOINT_RELATIONS)

# %% [markdown]
# (table-1)=
# ## Table 1: two-dimensional KS distances
#
# Columns "(study)" are the study's published values on TNG300; they are **not** measured here.

# %%
display(run.artefact("table-1").round(4))

# %% [markdown]
# (table-b1)=
# ## Table B1: MSE and PCC of the stacks
#
# With 68 % bootstrap intervals; "(study)" columns are the study's published TNG300 values.
#
# **What is calibrated in.** On the embedded universe, the marginal distributions of the halo
# features and galaxy properties, the conditional means per halo-mass bin, the intrinsic scatter
# and the residual correlations at fixed halo are fitted to TNG300-1 (appendix, Table A1); the
# Pearson r of a good model follows from them. Agreement of these r values (and of Figs. 2 and 6)
# with the study's therefore says the calibration worked, not that the methods behave as on TNG300.
# What is *not* calibrated — how the four methods, the stack and SMOGN compare with each other and
# with the oracle — is a result; the Discussion tests the study's claims one by one.

# %%
display(evaluation.stack_table(pred, oracle, n_boot=run.config.sizes.bootstrap_draws,
                               seed=run.config.training_seed).round(4).T)  # one column per property

# %% [markdown]
# ## What the SMOGN fix changes
#
# The study used the `smogn` 0.1.2 package, whose SMOTER targets, under-sampling and clipping
# differ from the published algorithm (see the SMOGN module's documentation). Training LightGBM
# — the strongest single model, and a fifth of the cost of the whole stack — again on data
# augmented the way that package does shows how much the difference moves the scores.

# %%
compat = run.train(paths=("smogn",), smogn_compat="smogn-0.1.2", models=("LGBM",))
fixed = evaluation.score_table(pred, paths=("smogn",), models=("LGBM",))
package = evaluation.score_table(compat.predictions, paths=("smogn",), models=("LGBM",))
both = pd.concat({label: table.set_index("target")[["MSE", "PCC", "KS"]]
                  for label, table in (("LightGBM, published SMOGN", fixed), ("LightGBM, smogn 0.1.2", package))},
                 axis=1)
display(both.round(4))
with pd.option_context("display.max_colwidth", None):
    display(pd.Series(compat.notes, name="smogn 0.1.2 behaviour: relevance used").to_frame())
