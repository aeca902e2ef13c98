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
# # Feature importance
#
# Which halo properties do the models lean on? The *permutation importance* of a feature is how
# much the mean squared error on the test set grows when that feature's values are shuffled
# among the galaxies, breaking its link with the target while keeping its distribution. It is
# measured for every model of both paths with scikit-learn's `permutation_importance` (the study
# used eli5, which computes the same quantity), seeded, with several shuffles per feature whose
# spread is drawn as error bars. As in the study, each importance is shown as a percentage of
# that of halo mass, the dominant feature.
#
# On the embedded universe the answer is known: the galaxy law that generated the data is a
# function of the five halo features, and its conditional mean (the oracle) can be put through
# exactly the same measurement. The black outlines in Fig. 7 are that truth.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
from IPython.display import Markdown, display

from hgtools import importance, plots
from hgtools.pipeline import importances, open_run
from hgtools.reference import tng300_law

run = open_run(config)
meta = run.meta
display(run)  # the banner naming the data source
features, stacks = importances(run)
features = importance.relative(features, "M_h")
stacks = importance.relative(stacks, "LGBM", by=("target", "path"))
display(Markdown(f"Halo-feature importances: {features['rows'].iloc[0]:,} randomly chosen test galaxies; "
                 f"stack importances: all {stacks['rows'].iloc[0]:,} test galaxies; "
                 f"{features['repeats'].iloc[0]} shuffles per feature."))

# %% [markdown]
# ## Importance of the halo features (Fig. 7)

# %% mystnb={"figure": {"caption": "**Fig. 7.** Permutation importance of each halo feature in per cent of halo mass's (symmetric log scale), per model (bars: mean and spread of the shuffles), raw path (left) and SMOGN path (right). Black outlines: the embedded universe's own law (the oracle scored like a model); gold stars: TNG300-1's law measured on the study's released LightGBM models (reference table, not this run).", "name": "fig-7"}}
fig = plots.feature_importances(features, meta, tng300_law("law_importance"))

# %% [markdown]
# The same numbers as a table (per cent of halo mass's importance; mean over the shuffles).

# %%
display(features.pivot_table(index=["target", "feature"], columns=["path", "model"],
                             values="relative %", sort=False).round(2))

# %% [markdown]
# ### Does the measurement recover the law?
#
# For the embedded universe, the table below sets each model's importance beside the oracle's,
# and lists which features the generator's law depends on at all: a feature is *used* when
# changing it (by one per cent of its spread) moves the law's conditional mean.

# %%
if run.catalogue.has_oracle:
    from hgtools.diagnostics import law_dependencies

    display(law_dependencies(run.predictions, meta))
    truth = features[features["model"] == "oracle"].set_index(["target", "feature"])["relative %"]
    learnt = (features[features["model"] != "oracle"]
              .groupby(["target", "feature"], sort=False)["relative %"].agg(["min", "max"]))
    display(learnt.assign(oracle=truth).round(2))
else:
    display(Markdown("The data are not from the embedded universe: the true law is unknown."))

# %% [markdown]
# ## Importance of each model inside the stacks (Fig. 8)
#
# The stack is a linear regression on the four models' predictions; shuffling one model's
# predictions shows how much the stack relies on it. The figure gives each model's share of its
# stack's importance beside the stack's weights; the table, the same importances in per cent of
# LightGBM's (the study's normalisation).

# %% mystnb={"figure": {"caption": "**Fig. 8.** Left: each model's share of its stack's permutation importance (the four importances of a stack normalised to 100 %). Right: the stack's linear coefficients. The four inputs predict the same quantity and are strongly collinear, so weight and importance can move between them without changing the stack's predictions: the shares say which models a stack leans on, not which model is better.", "name": "fig-8"}}
fig = plots.stack_importances(stacks, meta, run.models.coefficients)

# %%
display(stacks.pivot_table(index="target", columns=["path", "feature"], values="relative %", sort=False).round(1))
