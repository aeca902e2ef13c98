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
# # What we found
#
# The book in one page, computed by the same run as every chapter (the numbers below are this
# build's, never typed in): how well the study's models predict galaxies from their haloes here,
# which of the study's claims hold on these data, and what learning the whole conditional
# distribution adds. The box below names the data; on the embedded universe none of this is a
# TNG300 result.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
from IPython.display import Markdown, display

from hgtools import claims, evaluation
from hgtools.book import bench_results
from hgtools.pipeline import density_scores, headline, open_run, project_root

run = open_run(config)
display(run)  # the banner naming the data source
run.fit_models()  # every model of the book, side by side in one pool (the chapters read them from the cache)
found = headline(run)

# %% [markdown]
# ## Predictions from the halo
#
# Pearson r between true and predicted properties on the test split: the study's raw and SMOGN
# stacks here, the study's published TNG300 values, and — on the embedded universe — the oracle,
# the best any model of the five halo features can do (details: {doc}`03_predictions`,
# {doc}`06_discussion`).

# %%
comparison = found["comparison"]
display(comparison[comparison.index.str.startswith("PCC ")])

# %% [markdown]
# ## How much of it is the seed
#
# The recorded seed benchmark (`bench/seeds.py`: three universe seeds and three training seeds at
# full size; {doc}`06_discussion` shows it whole): the differences from the study's published
# numbers that are larger than the scores' spread over the seeds.

# %%
for _, caption, runs in bench_results(project_root(), ["seeds"]):
    display(Markdown(caption))
    if runs is not None:
        spread = evaluation.seed_spread(runs)
        beyond = spread[spread["exceeds the spread"]]
        display(Markdown(f"**{len(beyond)} of {len(spread)}** differences from the study exceed the seed spread; "
                         f"within it: {', '.join(spread.loc[~spread['exceeds the spread'], 'quantity']) or 'none'}."))

# %% [markdown]
# ## The study's claims, tested here
#
# Verdicts of the claims table of {doc}`06_discussion` (each with its evidence there).

# %%
table = found["claims"]
counts = table["verdict"].value_counts()
display(Markdown(", ".join(f"**{n}** {verdict}" for verdict, n in counts.items())
                 + f" — of {len(table)} claims."))
differ = table[table["verdict"].isin([claims.FAILS, claims.PARTLY])]
display(Markdown("\n".join(f"- *{row['claim of the study']}* — **{row['verdict']}**"
                           + (f": {row['why']}" if row["why"] else "") for _, row in differ.iterrows())
                 or "Every testable claim holds on this run."))

# %% [markdown]
# ## Beyond the conditional mean
#
# A conditional mean paints every halo with its average galaxy, so populations come out too
# narrow. Models of the whole distribution p(M*, sSFR, R, colour | halo), scored against the
# truth ({doc}`08_beyond_mean`; the goal column is what a good model should reach, the true-law
# column — the law itself, scored with independent draws — how far noise alone takes each score;
# "vs law": measured against many draws of the law per halo, where most of that noise is gone):

# %%
summary = density_scores(run)["summary"]
rows = ["1D KS, largest", "2D KS, largest", "conditional std, largest relative error",
        "coverage error, largest [points]", "coverage vs law, largest error [points]",
        "energy distance / noise floor"]
display(summary.loc[[r for r in rows if r in summary.index]].round(3).astype(object).where(
    summary.loc[[r for r in rows if r in summary.index]].notna(), "—"))
