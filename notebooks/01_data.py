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
# # The data
#
# Every model in this book learns one mapping: from five properties of a dark-matter halo to
# four properties of the central galaxy it hosts. This chapter builds the table that mapping is
# learned from and looks at it before any model does.
#
# **Halo features** (inputs): virial mass $M_{\rm vir}$ (mass inside the radius enclosing 200
# times the critical density), NFW concentration $c_{\rm vir}$ {cite:p}`Navarro1997`, Bullock spin
# $\lambda$ {cite:p}`Bullock2001`, formation
# redshift $z_{1/2}$ (when the main progenitor first held half of today's mass) and the
# overdensity $\delta_3$ (subhaloes within $3\,h^{-1}$Mpc over the mean number in such a sphere).
#
# **Galaxy targets** (outputs): stellar mass $M_*$, specific star formation rate
# ${\rm sSFR} = {\rm SFR}/M_*$, stellar half-mass radius $R_{1/2}^{(*)}$ and $g-i$ colour.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import pandas as pd
from IPython.display import display

from hgtools import plots
from hgtools.catalogue import FEATURES, LOG_HALO_MASS_MIN, LOG_STELLAR_MASS_MIN, TARGETS, split
from hgtools.pipeline import open_run

run = open_run(config)
catalogue, meta = run.catalogue.table, run.meta
display(run)  # the banner naming the data source

# %% [markdown]
# (table-cuts)=
# ## Selecting the sample
#
# Only central galaxies enter: one row per halo. Two cuts remove objects too small to be
# resolved reliably in TNG300 — haloes below $10^{10.5}\,h^{-1}M_\odot$ (about 500 dark-matter
# particles) and galaxies below $10^{8.75}\,h^{-1}M_\odot$ in stars (about 50 star particles).
# The table counts the objects that survive each step.

# %%
display(pd.DataFrame(meta["cuts"], columns=["step", "objects"]).set_index("step"))
print(f"cuts: log10 M_vir >= {LOG_HALO_MASS_MIN} and log10 M* >= {LOG_STELLAR_MASS_MIN} [Msun/h]; "
      f"{len(catalogue)} central galaxies remain")

# %% [markdown]
# ## Training, validation and test sets
#
# The sample is split at random (seeded) into 48 % for training, 12 % for validation (early
# stopping, hyper-parameters and the stacking model) and 40 % for testing. The large test set
# keeps shot noise low in the clustering measurements of the later chapters.

# %%
parts = split(catalogue, run.config.training_seed)
sizes = pd.Series(parts.sizes(), name="galaxies").to_frame()
sizes["fraction"] = (sizes["galaxies"] / len(catalogue)).round(4)
display(sizes)

# %% [markdown]
# ## The halo features

# %%
display(plots.describe(catalogue, FEATURES).round(3))

# %% mystnb={"figure": {"caption": "**Fig. D1.** Distributions of the five halo features of the catalogue: virial mass, concentration, spin, formation redshift, and the overdensity $\\delta_3$ (drawn as $\\log_{10}(\\delta_3 + 0.1)$).", "name": "fig-features"}}
fig = plots.distributions(catalogue, FEATURES, meta)

# %% [markdown]
# Halo mass falls steeply, as the mass function does above the stellar-mass cut; concentration
# and spin are close to lognormal; $\delta_3$ spans more than two decades, from haloes in voids
# to haloes in clusters.
#
# ## The galaxy targets

# %%
display(plots.describe(catalogue, TARGETS).round(3))

# %% mystnb={"figure": {"caption": "**Fig. D2.** Distributions of the four galaxy properties the models learn.", "name": "fig-targets"}}
fig = plots.distributions(catalogue, TARGETS, meta)

# %% [markdown]
# Stellar mass has a single peak; sSFR and colour are bimodal — a star-forming population and a
# quiescent one — and the size distribution is narrow. These shapes are what the models must
# reproduce, not just the means.
#
# ## How the properties correlate

# %% mystnb={"figure": {"caption": "**Fig. D3.** Pearson correlation of every pair of halo features and galaxy properties (value in each cell).", "name": "fig-correlations"}}
fig = plots.correlation_matrix(catalogue, meta)

# %% [markdown]
# ## Galaxies with no star formation
#
# A galaxy whose gas has no star-forming cell has SFR exactly zero, and $\log_{10}$ sSFR is then
# undefined. Following the study, such galaxies get a value drawn (seeded) from
# $\mathcal{N}(\mu=-13.5, \sigma=0.5)$ and keep a flag, `sfr_zero`, so that every later chapter
# can tell them apart.

# %%
print(f"{catalogue['sfr_zero'].sum()} galaxies ({catalogue['sfr_zero'].mean():.1%}) had SFR = 0")
fig = plots.zero_sfr(catalogue, meta)

# %% [markdown]
# ## How close the embedded universe is to TNG300
#
# When the data come from the embedded universe, the table below compares it with the numbers
# of the TNG300-1 sample; the universe's law is fitted to TNG300-1's law tables and these
# one- and two-point numbers follow from it (the appendix on the embedded universe explains how). The last rows give the Pearson $r$ of the *oracle* — the exact conditional mean of each
# target given the five halo features — which bounds what any model can reach on these data.

# %%
if run.catalogue.source.synthetic:
    from hgtools.diagnostics import calibration_table

    display(calibration_table(catalogue, meta).round(4))
else:
    print("Data from a simulation: no calibration table applies.")

# %% [markdown]
# ## Building the catalogue from IllustrisTNG files
#
# With a TNG run on disk (TNG300-1, TNG100, TNG50 or any run in TNG's layout), one command
# builds the same catalogue from the simulation itself:
#
# ```bash
# hgtools catalogue --source tng --base-path TNG300-1/output --snapshot 99 --out data/tng300.parquet
# ```
#
# It reads the chunked group catalogues (`groups_099/fof_subhalo_tab_099.N.hdf5`), the SubLink
# merger trees (`../postprocessing/trees/SubLink/tree_extended.N.hdf5`, or wherever the official
# reader finds them) and the offsets file
# (`../postprocessing/offsets/offsets_099.hdf5`) with the official `illustris_python` reader.
# For every central galaxy (the first subhalo of a FoF group, with `SubhaloFlag` = 1):
#
# - $M_h$ and $R_{\rm vir}$ from `Group_M_Crit200` and `Group_R_Crit200`, and
#   $V_{\rm vir}=\sqrt{GM_{\rm vir}/R_{\rm vir}}$;
# - the Bullock spin $\lambda = |J|/(\sqrt2 M_{\rm vir}V_{\rm vir}R_{\rm vir})$ with $J = M_{\rm vir}\,|j|$,
#   $j$ the central subhalo's specific angular momentum `SubhaloSpin` (the group catalogue holds
#   no angular momentum of the halo itself);
# - $c_{\rm vir}$ by inverting the NFW relation $V_{\max}/V_{\rm vir}(c)$ with `SubhaloVmax`, or,
#   with `--concentration nfw` and particle data, from a fit of the NFW profile to the halo's
#   dark-matter particles — the study's definition;
# - $z_{1/2}$ from the main progenitor branch, extracted for all galaxies at once from the
#   depth-first tree layout (a branch is the contiguous rows from the galaxy to its main leaf):
#   the first redshift, followed back to $z = 6$ at most and interpolated between snapshots, at
#   which the branch held half of its final mass;
# - $\delta_3$ from the positions of all subhaloes; $M_*$, sSFR, $g-i$ and the half-mass radius
#   from the subhalo fields.
#
# A summary gives the objects left after every step and the time of every stage; `--download`
# with a TNG API key first fetches the group-catalogue chunks that are missing.
#
# The cell below runs the builder on a **miniature run that hgtools writes in TNG's exact file
# layout, with made-up values** — it shows how the builder works; it is not TNG data.

# %%
import tempfile

from hgtools.sources.tng import tng_catalogue
from hgtools.sources.tng_mini import write_mini_run

with tempfile.TemporaryDirectory() as tmp:
    mini = write_mini_run(f"{tmp}/TNG-mini", n_random=200, seed=run.config.seed)
    tng_cat, tng_meta = tng_catalogue(mini.base_path, 99, seed=run.config.seed)
display(tng_cat.head().round(3).T)  # one column per galaxy
