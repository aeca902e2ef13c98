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
# # Beyond the conditional mean
#
# Every model of the study predicts the *mean* galaxy of a halo, E[property | halo]. A mean carries
# no scatter, so predicted populations are narrower than real ones, and a galaxy near a bin edge
# lands on the side its mean falls on — the reason the extreme bins of Fig. 9 are the hardest to
# reproduce. The study's own group went on to learn the whole conditional distribution
# p(M*, sSFR, R, colour | halo) {cite:p}`Rodrigues2025`, on TNG300, where nobody knows the true
# law, so it could not be told how close the learned distribution was. The embedded universe
# knows its law exactly: here the learned distributions are measured against it, halo by halo.
#
# Three conditional density models (`hgtools.density`), fitted on the training split with early
# stopping on the validation split, scored on the test split:
#
# - **flow**: a conditional normalizing flow {cite:p}`Papamakarios2017,Durkan2019` — two masked
#   autoregressive layers of monotonic rational-quadratic splines (16 bins over ±8 standard
#   deviations: the radii of cluster galaxies reach 7 standard deviations) whose knots a masked
#   network computes from the five halo features (and the hinges $\max(0, \log M_h - k)$ for
#   $k = 11, 11.5, \dots, 14$, so that the spreads can turn with halo mass) and the properties
#   before it, the second layer taking the properties in reverse order (TensorFlow Probability);
#   the weights kept are a moving average of those of every training step (decay 0.995), which
#   fits the validation split better and moves less from one fit to another than the last step's;
#   it models $\log M_*$ through $t = 8.75 + w \ln(e^{(\log M_* - 8.75)/w} - 1)$ ($w$ = 0.1 dex),
#   which is $\log M_*$ itself a few $w$ above the selection $\log M_* \geq 8.75$ and covers the
#   whole line below it, so that, like the catalogue, it has no galaxy below the selection;
#   haloes above $10^{12.5}\,M_\odot/h$ weigh more in its likelihood, up to 4 times from
#   $10^{13}\,M_\odot/h$ (repeated in each epoch): they are a few per cent of the training split,
#   and unweighted, the flow drew the galaxies of the most massive haloes with the scatter and the
#   correlations of those of $10^{13}\,M_\odot/h$ haloes;
# - **gaussian**: a network giving each halo a mean and a full 4 × 4 covariance;
# - **residual**: a cheap baseline — LightGBM's mean of each property plus the four residuals
#   (out of fold) of one of the 50 nearest training haloes.
#
# Beside them, the study's raw and SMOGN stacks, whose "population" is their predictions.
#
# ```bash
# hgtools train-density --catalogue data/catalogue.parquet --model flow --out flow/
# hgtools predict --models flow/ --halos haloes.parquet --out galaxies.parquet --draws 20 --seed 1
# ```

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
from IPython.display import Markdown, display

import pandas as pd

from hgtools import plots, reference, sampling
from hgtools.book import bench_results
from hgtools.density_scores import bin_errors, worst_cases
from hgtools.pipeline import density_scores, open_run, project_root

run = open_run(config)
meta = run.meta
display(run)  # the banner naming the data source
models = run.density_models
pred = run.predictions
scores = density_scores(run)
one_draw = {name: draws[0] for name, draws in sampling.draw_all(models, pred, 1, run.config.training_seed + 7).items()}
stacks = {label: sampling.stack_values(pred, path) for label, path in sampling.STACKS.items()}
display(Markdown(f"{len(pred):,} test haloes; the models' validation mean log-density (nats, catalogue units): "
                 + ", ".join(f"{name} {getattr(m, 'validation_log_prob_', float('nan')):.3f}"
                             for name, m in models.items() if m.has_log_prob) + "."))

# %% [markdown]
# (table-density)=
# ## The scores (Table J1)
#
# The worst case of each score, per model, beside the goal a good conditional density should reach
# on this universe. Sample-based scores (any source): the 1D KS distance of each property (every
# draw pooled), the 2D KS distance of the study's five Table 1 relations (one draw), and — per
# halo-mass bin with at least 1,000 test haloes — the standard deviation of the residuals about
# the true conditional mean and the correlations between the residuals of two properties. Scores
# only a known law allows: the coverage of central 68 % and 95 % intervals (per property and mass
# bin, from the rank of the truth among the draws), the conditional energy distance between the
# model's and the true galaxies of the same haloes {cite:p}`Szekely2013` (200 draws each, properties in units of their
# spread) divided by its noise floor (true draws against independent true draws, 1 for a perfect
# model), and the mean of log p_true − log p_model over the true galaxies, an estimate of the
# Kullback–Leibler divergence (0 for a perfect model). The stacks are scored as a population of
# one galaxy per halo: they have no intervals and no density. Where the source knows its law, the
# law itself is scored last, as a model whose draws are independent of the true galaxies (column
# "true law"): a perfect model, so its scores are each score's noise floor on this test split —
# how far from zero finite test haloes and draws leave even the truth. That floor is not small: with
# one true galaxy per halo, a 68 % coverage in a bin of 1,300 haloes is uncertain by 1.3 points, and
# a correlation by 0.03. So, where the law is known, the three per-bin scores are measured a second
# time against as many draws of the law per test halo as the models draw (rows "vs law"): the same
# quantities, with most of that noise taken out, so that what remains is the model's own error.

# %%
summary = scores["summary"]
scored = [m for m in (*models, sampling.TRUE_LAW) if m in summary.columns]  # the density models and the law
display(summary.round(4).astype(object).where(summary.notna(), "—"))

# %% [markdown]
# ## The populations (Fig. J1)
#
# One draw of each model for every test halo (lines) against the true galaxies (grey), and the
# stacks' predictions (dashed). A conditional mean piles galaxies up where the truth has a spread:
# the bimodal sSFR and colour collapse towards the middle; a draw restores the spread.

# %% mystnb={"figure": {"caption": "**Fig. J1.** Distributions of the four properties: true test galaxies (grey), one draw of each density model per halo (lines), and the stacks' predictions (dashed).", "name": "fig-density-marginals"}}
fig = plots.sampled_distributions(pred, {**one_draw, **stacks}, meta)

# %% [markdown]
# ## Joint relations (Fig. J2)
#
# The relations of the study's Fig. 6 and Table 1 for one draw of the flow and of the Gaussian
# network and for the raw stack (colour: density of the population; contours: the true galaxies).

# %% mystnb={"figure": {"caption": "**Fig. J2.** Joint relations of one draw of the flow, one of the Gaussian network, and the raw stack's predictions (colour: galaxies per hexagon, log scale), against the true galaxies (contours).", "name": "fig-density-joint"}}
fig = plots.sampled_joint(pred, {"flow": one_draw["flow"], "gaussian": one_draw["gaussian"],
                                 "raw stack": stacks["raw stack"]}, meta, reference.JOINT_RELATIONS)

# %%
display(scores["joint"].pivot(index="relation", columns="model", values="2D KS").round(4))

# %% [markdown]
# ## Calibration (Fig. J3)
#
# Left: the PIT — the rank of the true galaxy among the model's draws for its halo, per property.
# A calibrated model gives a flat histogram at 1; a U shape means draws too narrow, a hump too
# wide, a slope a biased centre. Right: how often the truth falls in the model's central 68 %
# (circles) and 95 % (squares) interval, minus the nominal fraction, per halo-mass bin (grey band:
# ±2 points, the goal) — where the source knows its law, counted over draws of the law (Table J1's
# "vs law"), whose points are not scattered by the noise of one true galaxy per halo.

# %% mystnb={"figure": {"caption": "**Fig. J3.** Left: PIT histograms per property (flat at 1 when calibrated; a U: draws too narrow; a hump: too wide). Right: coverage of the central 68 % (circles) and 95 % (squares) intervals minus the nominal fraction, per halo-mass bin (grey band: ±2 points, the goal), counted over draws of the true law where the source knows it, else over the true galaxies.", "name": "fig-density-calibration"}}
if "coverage" in scores:
    fig = plots.density_calibration(scores.get("coverage vs law", scores["coverage"]), scores["pit"], meta)

# %% [markdown]
# (table-density-spread)=
# ## Scatter and its correlations at fixed halo (Table J2)
#
# Per halo-mass bin: the standard deviation of the residuals about the true conditional mean
# (the oracle on a universe that has one, else the raw stack), and the correlation of the
# residuals of each pair of properties — the truth's column beside each model's.

# %%
spread = scores["spread"]
wide = spread.pivot_table(index=["M_h_bin", "quantity"], columns="model", values="value", sort=False)
wide.insert(0, "truth", spread.drop_duplicates(["M_h_bin", "quantity"]).set_index(["M_h_bin", "quantity"])["truth"])
display(wide.round(3))

# %% [markdown]
# (table-density-width)=
# ## Width at fixed halo and the error of the halo means (Table J3)
#
# A model's spread about the true conditional mean (Table J2) has two parts: how widely it draws
# for one halo, and how far the mean of its draws for that halo lies from the true mean. Per
# halo-mass bin: the width at fixed halo (the root mean of the draws' variance per halo) and the
# rms error of the halo means, with the draws' own noise taken out — the true law's column shows
# what is left of that noise. A model too wide in Table J2 is too wide for each halo, off in its
# means, or both; on a source without a known law the reference is the raw stack, and the second
# part is the distance from it.

# %%
if "decomposition" in scores:
    parts = scores["decomposition"].melt(id_vars=["M_h_bin", "property", "model"], var_name="part",
                                         value_vars=["width at fixed halo", "halo-mean error (rms)"])
    display(parts.pivot_table(index=["M_h_bin", "property", "part"], columns="model", values="value",
                              sort=False).round(3))

# %% [markdown]
# ## Clustering of sampled galaxies (Fig. J4)
#
# The study's two-bin splits (Table 2, Fig. 9) for populations drawn from the flow, against the
# truth and the raw stack; the table gives the χ² per bandpower with the Eq. 6 errors (bins with
# more than 1,000 true galaxies). A drawn galaxy lands in a bin with the right
# probability, so the extreme bins, which the stacks empty or fill wrongly, keep their clustering.
# Where the source knows its law, as many populations are drawn from the law itself (column
# "true law"): the χ² a perfect model gets, since a population drawn anew puts other galaxies in
# a bin than the one true population does.

# %%
spectra = run.artefact("fig-density-pk")

# %% mystnb={"figure": {"caption": "**Fig. J4.** Power spectra of the two-bin splits (blue: low bin, red: high bin): the truth (solid; band: Eq. 6 error), the mean of independent populations drawn from the flow (dash-dotted; band: the spread of the draws) and the raw stack (dashed). Lower panels: ratio to the truth. χ² per bandpower in the table below.", "name": "fig-density-pk"}}
fig = plots.sampled_power_spectra(spectra, reference.STUDY_BIN_CENTRES, meta)

# %%
chi2 = (spectra[spectra["sample"] != "true"].drop_duplicates(["property", "bin", "sample"])
        .pivot(index=["property", "bin"], columns="sample", values="chi2 per bandpower"))
display(chi2.round(2))

# %% [markdown]
# ## Galaxy assembly bias (Fig. J5)
#
# At fixed halo mass, do galaxies with a high value of a property cluster differently from those
# with a low value? In the truth they can, only through the halo properties the galaxy depends on
# (formation time, concentration...), which carry halo assembly bias (purple: the haloes' own
# split by z_1/2 and by concentration). The relative large-scale bias of the top over the bottom
# quartile, per property, from counts in cells: truth, sampled galaxies (mean and spread of the
# draws) and the raw stack. The study named this test as future work. A mean ranks galaxies by
# their haloes' properties only, so it can exaggerate the split; draws dilute it as the truth does.

# %%
assembly = run.artefact("fig-galaxy-assembly")
if not len(assembly):
    display(Markdown("Too few test galaxies in these halo-mass bins for counts in cells (this is a small run)."))

# %% mystnb={"figure": {"caption": "**Fig. J5.** Galaxy assembly bias at fixed halo mass: large-scale bias of the top over the bottom quartile of each split, for the haloes, the true galaxies, sampled galaxies (mean and spread of the draws) and the raw stack.", "name": "fig-galaxy-assembly"}}
if len(assembly):
    fig = plots.galaxy_assembly_bias(assembly, meta)

# %% [markdown]
# ## What it means for painting galaxies on haloes
#
# A point model paints every halo with its mean galaxy: right on average, wrong in every
# statistic that depends on the spread — the width of the distributions, the tails, the joint
# relations, the counts in a bin and, through them, the clustering of a selected sample. A
# conditional density paints each halo with a galaxy drawn from the law it learned; the scores
# above say how close that law is to the truth, halo by halo, and which model to trust.
# `hgtools predict --draws N` draws galaxies from a saved density model.

# %%
verdicts = []
for name in scored:
    column = summary[name]
    met = [score for score, goal in summary["goal"].dropna().items() if column[score] <= goal]
    missed = [score for score, goal in summary["goal"].dropna().items() if column[score] > goal]
    verdicts.append(f"- **{name}**: meets {len(met)} of {len(met) + len(missed)} goals"
                    + (f"; misses {', '.join(missed)}" if missed else ""))
display(Markdown("\n".join(verdicts)))

# %% [markdown]
# Where each model's per-bin scores are worst: the halo-mass bin, the property (or pair of
# properties), the model's value beside the true one (for the coverage, the nominal level) and the
# number of test haloes in the bin (the fewer the haloes of a bin, the fewer trained the model there);
# the true law's rows say how large each score gets from noise alone. Then the same against draws of
# the law, where the source knows it.

# %%
worst = pd.concat({name: worst_cases(scores["spread"], scores.get("coverage"), model=name) for name in scored},
                  names=["density model", "score"])
display(worst.round(3))
if "spread vs law" in scores:
    display(pd.concat({name: worst_cases(scores["spread vs law"], scores["coverage vs law"], model=name)
                       for name in scored}, names=["density model", "score vs law"]).round(3))

# %% [markdown]
# (table-training-noise)=
# ## How precisely the training galaxies fix the scatter (Table J4)
#
# A model learns how widely galaxies scatter at fixed halo, and how their properties vary together,
# from the training galaxies — in the top halo-mass bins, a few thousand or fewer. Where the law is
# known, the precision they allow can be measured: sets of one galaxy per training halo, drawn anew
# from the law, are scored as a model against draws of the law, like Table J1's rows "vs law".
# Their errors come from their finite number alone: a model that learned each bin from its own
# training galaxies would be about this far off (one that borrows from neighbouring halo masses
# can do better). Per bin: the training haloes, the error of this run's training galaxies
# themselves, the median and 90th percentile over the sets, and the flow's error on the test
# split against the law (Table J1's "vs law"), beside the goal.

# %%
noise = run.artefact("table-training-noise")
if not len(noise):
    display(Markdown("This source has no known law: the precision of its training galaxies cannot be measured."))
else:
    if "spread vs law" in scores:
        flow_law = bin_errors(scores["spread vs law"][scores["spread vs law"]["model"] == "flow"])
        noise = noise.merge(flow_law[["M_h_bin", "score", "error"]].rename(columns={"error": "flow vs law"}),
                            how="left", on=["M_h_bin", "score"])
    noise["goal"] = noise["score"].map(summary["goal"])
    display(noise.rename(columns={"n": "training haloes", "p50": "sets: median", "p90": "sets: 90th percentile"})
            .set_index(["M_h_bin", "score"]).round(3))
    by_bin = noise[noise["M_h_bin"] != "all"]
    above = by_bin[by_bin["p90"] > by_bin["goal"]]
    display(Markdown(
        "Bins where one set in ten of the training galaxies drawn anew misses a goal by itself: "
        + (", ".join(f"{b} ({s.split(',')[0]}: {p:.3f} against {g:g})"
                     for b, s, p, g in above[["M_h_bin", "score", "p90", "goal"]].itertuples(index=False))
           if len(above) else "none") + "."))

# %% [markdown]
# ## Cost, and the scores at full size
#
# `bench/density.py` fits each model on the training split of the full-size default run
# (205 Mpc/h, seed 0; early stopping on the validation split), draws 10^6 galaxies, checks that the
# same seed gives the same galaxies, and records the score table above at that size.
# `bench/density_seeds.py` refits the flow on the same training split with other seeds of its
# initial weights and batch order and scores every fit the same way: how far its scores move from
# one fit to another, beside the goals they are judged by and the true law's noise floor.
# `bench/density_truths.py` asks how much of the per-bin scores "against the one true galaxy" is
# the luck of that galaxy, which is a single draw of the law: it keeps the draws of the score table
# and scores them again against fresh sets of one galaxy per test halo drawn from the true law. The
# law's own row says how often a perfect model meets those goals on this test split; the rows
# "vs law" of the score table, measured against many draws of the law per halo, do not carry that
# luck. The command, date and machine are those of the recorded runs, not necessarily of this page's.

# %%
for _, caption, table in bench_results(project_root(), ["density", "density_scores", "density_seeds",
                                                        "density_truths"]):
    display(Markdown(caption))
    if table is not None:
        display(table)
