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
# # Methods
#
# Four regressors learn each galaxy property from the five halo features: extremely randomised
# trees (ERT) {cite:p}`Geurts2006`, k-nearest neighbours (kNN), a gradient-boosted tree ensemble
# (LightGBM) {cite:p}`Ke2017` and a
# fully connected neural network (Keras). A linear regression then combines their predictions —
# the *stack*. Everything is done twice: on the training set as it is (the **raw** path) and on
# the training set augmented with SMOGN (the **SMOGN** path). The validation and test sets are
# the same for both paths and are never augmented.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import pandas as pd
from IPython.display import display

from hgtools import plots, training
from hgtools.catalogue import split
from hgtools.pipeline import open_run

run = open_run(config)
catalogue, meta = run.catalogue.table, run.meta
display(run)  # the banner naming the data source
result = run.models

# %% [markdown]
# ## The two paths (Fig. 1)

# %% mystnb={"figure": {"caption": "**Fig. 1.** The two training paths. The catalogue is split once; path 1 trains the four models on the training set as it is, path 2 on the training set after SMOGN; in each path a linear stack, fitted on the validation set, combines the four predictions, and every score is measured on the untouched test set.", "name": "fig-1"}}
fig = plots.methods_schematic()

# %% [markdown]
# ## The split
#
# The same seeded split as in the Data chapter: the models learn from the training set, the
# validation set chooses hyper-parameters, stops LightGBM and the network early and fits the
# stack, and every score of the next chapter is measured on the test set.

# %%
sizes = pd.Series(split(catalogue, run.config.training_seed).sizes(), name="galaxies").to_frame()
sizes["fraction"] = (sizes["galaxies"] / len(catalogue)).round(4)
display(sizes)

# %% [markdown]
# (table-search)=
# ## Models and their hyper-parameters
#
# Small grids are searched on the validation set (lowest MSE wins); LightGBM uses the study's
# model (31 leaves, depth 6, learning rate 0.1, early stopping) and each network the study's
# architecture for its target (two ReLU hidden layers: 32–32 for stellar mass and colour,
# 64–32 for sSFR, 128–64 for radius; Adam, learning rate $10^{-3}$, early stopping; inputs and
# target standardised). The table lists every grid point tried and its validation MSE.

# %%
search = result.search.copy()
search["validation MSE"] = search["validation MSE"].round(5)
best = search.loc[search.groupby(["path", "target", "model"])["validation MSE"].idxmin()]
search = search.astype(object).where(search.notna(), "—")  # kNN and ERT do not stop early
display(search.loc[best.index].set_index(["path", "target", "model"])[
    ["params", "validation MSE", "stopped at (trees or epochs)", "training rows"]])

# %% [markdown]
# Every grid point tried (click to open):

# %% tags=["hide-output"]
display(search.set_index(["path", "target", "model"]))

# %% [markdown]
# ## The stacks
#
# Coefficients of the linear stack (fitted on the validation set) for each target and path:
# how much each model's prediction counts.

# %%
display(result.coefficients.set_index(["path", "target"]).round(3))

# %% [markdown]
# ## SMOGN
#
# SMOGN {cite:p}`Branco2017` sorts the training targets, marks as *rare* the values whose
# relevance $\phi$ reaches a threshold, splits the sorted values into contiguous rare and normal
# bins, and brings each bin towards the same size ("balance"): rare bins are over-sampled — with
# SMOTER interpolation {cite:p}`Chawla2002` towards one of the $k$ nearest neighbours when it lies within the safe
# distance, Gaussian noise otherwise — and normal bins are under-sampled. The study's settings:
# $k = 7$, perturbation 0.04, "balance" sampling, manual relevance control points for sSFR,
# radius and colour and automatic (box-plot) relevance for stellar mass.
#
# hgtools follows the published algorithm (and, separately, the behaviour of the `smogn` 0.1.2
# package the study used; see the next chapter), with two rules the algorithm implies and a
# literal "balance" would break: a rare bin is only ever grown and a normal bin only ever
# shrunk (a bin already past the balance size keeps its rows), and a rare bin of $k$ rows or fewer
# — too few to interpolate between $k$ neighbours — is kept as it is, never grown by copies.
# Without them a normal bin of a few galaxies is "balanced" up to a third or a half of the
# training set by duplicating them: on the embedded universe the study's colour points make
# all but a handful of galaxies (those near $g-i = -0.1$) rare, and that handful would be copied
# tens of thousands of times (the "balance factor" column below gives the factor a literal
# "balance" would apply to each bin). The study's control points were chosen on TNG300's distributions; where on these data
# they fail or leave nothing to resample, automatic relevance is used instead, as the first table
# says. The second lists every bin — its range, rows before and after, and the factor applied.

# %%
with pd.option_context("display.max_colwidth", None):
    display(pd.Series(result.notes, name="SMOGN relevance used").to_frame())
bins = training.smogn_bins(catalogue.iloc[split(catalogue, run.config.training_seed).train]).round(
    {"from": 3, "to": 3, "balance factor": 3, "applied factor": 3})
display(bins.astype(object).where(bins.notna(), "—"))
settings = pd.DataFrame({t: {k: str(v) for k, v in s.items()} for t, s in training.STUDY_SETTINGS.items()}).T
display(settings)

# %% [markdown]
# How often the most frequent target value occurs in each augmented training set — a pile of
# copies would show here (a SMOGN row is either a galaxy of the training set, kept once, or a new
# point, so values should repeat only where the catalogue itself has ties).

# %%
display(result.augmented.groupby("target")["value"].agg(lambda v: int(v.value_counts().max()))
        .rename("largest number of equal target values").to_frame())

# %% [markdown]
# (appendix-a)=
# ## Appendix A: the augmented training sets
#
# Each target in the training set, after SMOGN as its authors published it, and after SMOGN as
# the `smogn` 0.1.2 package does it (what the study most likely ran): rare regions gain weight,
# common ones lose it. The package's version also piles tied targets at $y_i + y_j/2$, clips
# negative values of columns that have positive ones, and repeats the whole table once per
# under-sampled bin.

# %%
package = run.train(paths=("smogn",), smogn_compat="smogn-0.1.2", models=("LGBM",))  # shared with Predictions
train_rows = catalogue.iloc[split(catalogue, run.config.training_seed).train]

# %% mystnb={"figure": {"caption": "**Appendix A.** Each target in the training set (grey) and after SMOGN: the published algorithm, as hgtools implements it, and the `smogn` 0.1.2 package."}}
fig = plots.augmented_distributions(
    train_rows, {"published SMOGN": result.augmented, "smogn 0.1.2": package.augmented}, meta)

# %%
with pd.option_context("display.max_colwidth", None):
    display(pd.Series(package.notes, name="smogn 0.1.2 behaviour: relevance used").to_frame())
