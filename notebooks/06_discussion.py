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
# # Discussion
#
# Two closing questions. First, how much better could the predictions be if the inputs included
# the other galaxy properties, not only the halo's? Second, how does this run compare, number by
# number, with what the study published — and with the best any model could do?

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import pandas as pd
from IPython.display import Markdown, display

from hgtools import artefacts, claims, evaluation, plots
from hgtools.book import bench_results
from hgtools.pipeline import headline, open_run, project_root

run = open_run(config)
meta = run.meta
display(run)  # the banner naming the data source
found = headline(run)  # the chapters' numbers: scores, chi2, oracle, Fig. 10, Tables 3 and 4
scores, chi2, best = found["scores"], found["chi2"], found["oracle"]

# %% [markdown]
# ## Galaxy properties as inputs (Fig. 10)
#
# For each target, a network with that target's architecture learns it from the five halo
# features **and the three other galaxy properties**, on the same training, validation and test
# split. The box in each panel gives the Pearson r, and the r of the raw stack that saw halo
# features only.

# %%
raw_stack = scores[(scores["model"] == "stack") & (scores["path"] == "raw")].set_index("target")

# %% mystnb={"figure": {"caption": "**Fig. 10.** True against predicted values for networks given the five halo features and the three other galaxy properties (colour: galaxies per hexagon, log scale). Each box gives the Pearson r and, in brackets, the raw stack's r from halo features alone.", "name": "fig-10"}}
fig = plots.galaxy_inputs(found["informed"], meta, raw_stack["PCC"].to_dict())

# %%
display(pd.concat({"halo + galaxy inputs (NN)": found["informed_scores"][["MSE", "PCC"]],
                   "halo inputs (raw stack)": raw_stack[["MSE", "PCC"]]}, axis=1).round(3))

# %% [markdown]
# (table-comparison)=
# ## This run against the study
#
# The headline numbers of every chapter: Pearson r and MSE of the stacks (Table B1), the 2D KS
# distances of the joint relations (Table 1), and the χ² and relative accuracy of the power
# spectra (Section 4.3). "study" columns are the published TNG300 values; "oracle" is the best
# possible prediction from the halo features (the embedded universe only).

# %%
display(Markdown(f"**This run**: {plots.source_label(meta)[6:]}."))
display(found["comparison"])

# %% [markdown]
# ## What differs, and why
#
# - **The data.** Unless the banner at the top names IllustrisTNG, the numbers above come from
#   the embedded universe, not from TNG300. Its galaxy law is a smooth function of the five halo
#   features plus a joint scatter, fitted to TNG300-1's law tables (conditional means, secondary
#   dependences, scatter, residual correlations and quenched fractions per halo-mass bin); the
#   study's values are set beside it for orientation only, and agreement or disagreement with
#   them says how TNG-like the synthetic law is, not how well a method works on TNG. The oracle's
#   Pearson r is an outcome of that law (the scatter was fitted, not the r), so comparing it with
#   the study's stacked r is a genuine check of the scatter tables, though not of TNG300 itself.
# - **The ceiling.** On the embedded universe the oracle is the best any model of the halo
#   features can do; the stacks' Pearson r and MSE are measured against it. The study could not
#   know its ceiling; where its r values come close to the oracle's here, TNG300's galaxies may be,
#   to a similar degree, set by these five halo properties plus scatter.
# - **SMOGN.** The published algorithm is used here; the study ran the `smogn` 0.1.2 package, whose
#   behaviour differs (Methods, Appendix A); the Predictions chapter measures what that changes.
# - **Clustering.** The Eq. (6) errors shrink with the volume and with the number of galaxies in
#   a bin, so χ² depends on box size and split size as much as on the predictions; a χ² well above
#   the 22 bandpowers marks a bin whose predicted population clusters differently — typically a
#   sparse extreme bin (massive, large or red galaxies), where regression to the mean moves
#   galaxies across the edge. Where the oracle's χ² is as large as the stacks', the mismatch
#   comes from predicting a conditional mean — a prediction without the intrinsic scatter — and
#   not from the models: no model of the halo features alone can do better. The list below is
#   computed from this run.

# %%
high = chi2[chi2["chi2"] > chi2["bandpowers"]]
lines = [f"- {prop}, bin {b}, {sample}: χ² = {row['chi2']:.1f} over {int(row['bandpowers'])} bandpowers"
         for (prop, b, sample), row in high.iterrows()]
if best is not None:
    gap = {t: best.loc[t, "PCC"] - raw_stack.loc[t, "PCC"] for t in best.index}
    lines.insert(0, "Gap between the oracle's r and the raw stack's: "
                 + ", ".join(f"{t} {g:+.3f}" for t, g in gap.items()) + ".\n")
display(Markdown("\n".join(lines) if lines else "Every predicted spectrum has χ² below its number of bandpowers."))

# %% [markdown]
# ## How much the numbers move with the seed
#
# Bootstrap intervals (Table B1) resample the test set only. `bench/seeds.py` reruns the whole
# pipeline — universe, split, training, stacks, Table 1 and Fig. 9's spectra — for three universe
# seeds (each trained with its own seed) and, on universe 0, for two more training seeds (the
# same galaxies, another split and other fits), at the full size of the default run. Its recorded
# results, then each quantity the study gives a number for, with the difference between the mean
# over the seeds and the study's value against the larger of the two seed ranges. A difference
# inside the spread is not a difference this book can claim; one outside it is a property of the
# embedded universe or of the methods, not of the seed.

# %%
for _, caption, runs in bench_results(project_root(), ["seeds"]):
    display(Markdown(caption))
    if runs is not None:
        display(runs.set_index("quantity"))
        spread = evaluation.seed_spread(runs)
        display(spread.set_index("quantity").round(4))
        beyond = spread[spread["exceeds the spread"]]
        display(Markdown(f"**{len(beyond)} of {len(spread)}** differences from the study exceed the seed spread"
                         + (": " + ", ".join(beyond["quantity"]) + "." if len(beyond) else ".")))

# %% [markdown]
# (table-claims)=
# ## The study's claims, tested here
#
# Each claim of the study, the evidence on this run (computed from the tables of the earlier
# chapters, never typed in), and a verdict: *holds*, *holds partly*, *does not hold*, or *not
# testable here* for a statement about TNG300 itself. On the embedded universe, agreement in the
# Pearson r is calibrated in — the law's scatter is fitted to TNG300-1's law tables — and says
# nothing about the method; the other claims are about the methods and hold or fail on their own.

# %%
display(Markdown(claims.claims_markdown(found["claims"], {a.key: a.number for a in artefacts.ARTEFACTS})))
