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
# # Painting a larger universe
#
# What a halo–galaxy model is for: giving galaxies to the haloes of a dark-matter-only simulation
# far larger than the hydrodynamical box it learned from. `hgtools populate` does it on Dask —
# a halo table of any size (parquet, CSV or Rockstar/consistent-trees `hlist` files) is read in
# partitions of bounded size, painted by a saved model set on a cluster of worker processes
# (a local one, or any running dask-distributed cluster), and written as a parquet dataset that
# a failed or interrupted run never leaves half-written (the same command finishes it):
#
# ```bash
# hgtools populate --models data/cache/models/<key>/models/raw --halos hlist_1.00000.list --out painted/
# ```
#
# Here the haloes come from the embedded universe's halo generator in a box larger than the
# training one (every halo down to $10^{10}\,h^{-1}M_\odot$, positions and the four intrinsic
# features, no $\delta_3$); `populate` counts $\delta_3$ itself and paints the haloes above
# $10^{10.5}\,h^{-1}M_\odot$ with the LightGBM models of this run's raw stacks (`--base-model LGBM`:
# the study's model of choice, the one its authors released, and, compiled to machine code with
# lleaves, far faster than the four-model stack — see the throughput table). The universe's law
# gives the same haloes
# their true galaxies, so the clustering of the painted populations can be compared with the truth
# in a volume the models never saw.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
from IPython.display import Markdown, display

from hgtools import clustering, plots, populate, reference
from hgtools.book import bench_results
from hgtools.pipeline import open_run, project_root

run = open_run(config)
meta = run.meta
display(run)  # the banner naming the data source
painted_meta = {**meta, "box_size": run.config.sizes.painting_box}  # figures name the painted box

# %% [markdown]
# (table-painting)=
# ## The painted universe
#
# $\delta_3$ is counted on slabs of the box with 3 Mpc/h ghost zones, one Dask task per slab; it
# equals the direct count over the whole box (the maximum difference is in the table). The
# tracers are every halo of the box, as in the catalogue the models were trained on.

# %%
if run.catalogue.has_oracle:
    summary = run.artefact("table-painting")
    display(summary.set_index("quantity"))
else:
    display(Markdown("This run's models were trained on a catalogue without a known law (source "
                     f"`{meta.get('source')}`): the painted universe has no true galaxies to compare with, "
                     "so this chapter shows the throughput only."))

# %% [markdown]
# ## Clustering of the painted galaxies
#
# The study's two-bin splits (Table 2, Fig. 9) in the larger box, at the haloes' positions. Solid:
# the true galaxies with $\log M_* \geq 8.75$ (band: Eq. 6 error). Dashed: the painted properties of
# the *same* haloes — the study's comparison, where the selection is made with the true stellar
# mass. Dotted: what painting a dark-matter-only catalogue actually gives — every halo painted,
# the population selected by its *painted* stellar mass. Lower panels: Eq. (7) residuals.
#
# The two painted samples differ for a reason worth knowing before painting any simulation: the
# models were trained on galaxies selected by $\log M_* \geq 8.75$, so for a low-mass halo they
# predict the mean stellar mass *of the haloes that host such a galaxy*, never a value below the
# cut. Painted with it, every halo above $10^{10.5}\,h^{-1}M_\odot$ gets a galaxy above the cut,
# and the low-mass bin fills with galaxies the truth does not have (the table above counts both).
# A model meant for dark-matter-only catalogues must also learn the occupation — the probability
# that a halo hosts a galaxy above the cut — which needs the haloes without such a galaxy as well;
# the study's catalogue, and this book's, leaves them out.

# %% mystnb={"figure": {"caption": "**Fig. P1.** Power spectra of the two-bin splits in the larger box (blue: low bin, red: high bin): true galaxies (solid; band: Eq. 6 error), the painted properties of the same haloes (dashed), and every halo painted and selected by its painted stellar mass (dotted). Lower panels: Eq. (7) residuals.", "name": "fig-painting"}}
if run.catalogue.has_oracle:
    spectra = run.artefact("fig-painting")
    chi2 = clustering.chi2_table(spectra)
    fig = plots.power_spectra(spectra, chi2, reference.STUDY_BIN_CENTRES, painted_meta)

# %%
if run.catalogue.has_oracle:
    display(chi2.round(3))

# %% [markdown]
# ## $\delta_3$ and the objects counted
#
# $\delta_3$ counts objects within 3 Mpc/h relative to the mean count, so it depends on the
# smallest objects a catalogue resolves: the fewer the tracers, the noisier each count (the band
# widens), and massive tracers, being more clustered, weigh the crowded surroundings of massive
# haloes more. The models learned $\delta_3$ counted with every halo down to $10^{10}\,h^{-1}M_\odot$
# (the embedded universe's tracers; in TNG300 every subhalo); a dark-matter-only catalogue that
# resolves less must not be fed a $\delta_3$ counted another way. `hgtools populate` counts
# objects from `--delta3-min-mass` (default 10, in $\log_{10} h^{-1}M_\odot$, the embedded
# universe's tracer density) — below, the same haloes with three thresholds.

# %% mystnb={"figure": {"caption": "**Fig. P2.** $\\delta_3$ against halo mass when the objects counted start at three masses (median and 16–84 % band); the legend gives each threshold's tracer density.", "name": "fig-delta3-threshold"}}
if run.catalogue.has_oracle:
    thresholds = run.artefact("fig-delta3-threshold")
    fig = plots.delta3_thresholds(thresholds, painted_meta)

# %% [markdown]
# (table-throughput)=
# ## Throughput
#
# `bench/populate.py` on this 2-core machine: a LocalCluster of two worker processes paints tiled
# copies of the embedded universe's haloes; the time includes reading and writing parquet, and is
# compared with the same models' prediction on an in-memory array of the same rows, on both cores
# (LightGBM: half of the rows per thread; the flow: its sampler's chunks on two threads). "LightGBM"
# paints with one LightGBM model per property, "flow" draws one galaxy per halo from the
# conditional normalizing flow (its architecture, trained for 3 epochs only: speed is measured
# here), "stack" with the study's four models and their linear stack. "First run" is a run on
# fresh workers, which import hgtools and load the models (and compile the flow's sampler with
# XLA); "populate" is the same run again on the same workers, as on a cluster that stays up
# between runs — the median of the "warm runs" where there are several (at $10^6$ haloes, where a
# run takes seconds and this machine's noise is large), and so is the in-memory prediction. The
# command and the date are those of the recorded run.

# %%
for _, caption, table in bench_results(project_root(), ["populate"]):
    display(Markdown(caption))
    if table is not None:
        display(table)
display(Markdown(f"Default partition size: {populate.ROWS_PER_PARTITION:,} rows; "
                 f"delta_3 tracers from log M_h = {populate.DELTA3_MIN_MASS:g}."))
