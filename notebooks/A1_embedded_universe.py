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
# # The embedded universe
#
# The IllustrisTNG300 catalogues live on a server that not every machine can reach. So that
# this book builds anywhere, `hgtools` generates its own universe, with the same schema and
# calibrated to the summary statistics of the TNG300-1 sample. It is **synthetic**: it shares
# TNG300's cosmology, volume and one- and two-point statistics, not its galaxies. Nothing on a
# page built from it is a TNG300 result.
#
# The generator has one advantage over a simulation: it knows its own law. For every galaxy it
# can give $E[y \mid \text{halo features}]$, the *oracle*, the best prediction any model can
# make from the five halo features.

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import pandas as pd
from IPython.display import display

from hgtools import plots
from hgtools.config import RunConfig
from hgtools.pipeline import open_run
from hgtools.sources import mock

run = open_run(RunConfig.from_dict(config).with_source("mock"))  # this appendix is about the embedded universe
catalogue, meta = run.catalogue.table, run.meta
universe = mock.config_from_metadata(meta)
display(run)  # the banner naming the data source

# %% [markdown]
# ## Ingredients
#
# **Cosmology.** Flat ΛCDM with the Planck-2015 parameters of IllustrisTNG
# ($\Omega_m=0.3089$, $\Omega_b=0.0486$, $h=0.6774$, $\sigma_8=0.8159$, $n_s=0.9667$), through
# `colossus`.
#
# **Halo masses.** Dark-matter-only masses are drawn (Poisson number, inverse CDF) from the
# Tinker et al. (2008) mass function $dn/d\ln M_{200c}$ down to $10^{10}\,h^{-1}M_\odot$, well
# below the selection, so that $\delta_3$ counts a realistic population of neighbours. Feedback
# in a hydrodynamical run expels gas and lowers the mass of small haloes; the recorded mass is
#
# $$\log M_h = \log M_{\rm DMO} + \Delta_b\,\tfrac12\left[1-\tanh\frac{\log M_{\rm DMO}-p_b}{0.5}\right].$$
#
# **Concentration, age and spin.** Two correlated standard-normal latents $u_z$ (age) and $u_c$
# (concentration), with correlation $\rho_{zc}$, and an independent $u_s$ give
#
# $$\log c = \log c_{\rm L16}(M_h) + \Delta_c + \sigma_c u_c,\qquad \lambda = \lambda_0\, e^{\sigma_\lambda u_s},$$
#
# with $c_{\rm L16}$ the Ludlow et al. (2016) relation. The formation redshift follows the
# extended Press–Schechter distribution of Lacey & Cole (1993): the scaled time
# $\omega = [\delta_c/D(z_{1/2}) - \delta_c]/\sqrt{S(M/2)-S(M)}$ has density
# $2\omega\,{\rm erfc}(\omega/\sqrt2)$, and a halo's $\omega$ is the quantile $\Phi(u_z)$ of it.
# Merger trees form haloes earlier than EPS does, so $(1+z_{1/2})$ is stretched by a factor $s_z$.
# Because $u_z$ and $u_c$ correlate, older haloes are more concentrated at fixed mass.
#
# **Positions.** A Gaussian field $G$ with the linear power spectrum of the cosmology is drawn
# on a mesh of about $0.8\,h^{-1}$Mpc cells. A halo of bias $b$ falls in a cell with probability
# $\propto \exp(b\,G_R - b^2\sigma_{G_R}^2/2)$, a lognormal density whose cross-correlation
# with $G$ is exactly $b$ times that of $G$ itself. $G_R$ is $G$ smoothed on the larger of
# $R_0$ and a fraction of the halo's Lagrangian radius. The bias has mass and assembly terms:
#
# $$b = b_{\rm T10}(M_h)\,\left[1 + A(M_h)\,u_z\right],$$
#
# with $b_{\rm T10}$ from Tinker et al. (2010) and $A$ fading above $10^{12.5}\,h^{-1}M_\odot$.
#
# **Environment.** $\delta_3$ is *measured*: the periodic count of all haloes drawn (each the central subhalo of its group; satellites are not modelled) within
# $3\,h^{-1}$Mpc (scipy's `cKDTree` with `boxsize`), over the mean count in such a sphere.
#
# **Galaxies.** With $m=\log M_h$ and $d = \log_{10}(\delta_3+0.5)-\log_{10}3.5$:
#
# - stellar mass: a double power law (Moster et al. 2013 form), older and more concentrated
#   haloes hosting more stars, plus scatter,
#   $\log M_* = m + \log\frac{2N}{(M/M_1)^{-\beta}+(M/M_1)^{\gamma}} + a_z u_z + a_c u_c + \sigma_* \epsilon$;
# - quenching: $P(\text{quenched}) = \sigma\!\left(\frac{m-m_q}{w_q} + q_z u_z + q_c u_c + q_d d\right)$,
#   rising with halo mass, age, concentration and density; a quenched galaxy has SFR exactly
#   0 with a probability that grows with mass, otherwise a low sSFR;
# - star-forming galaxies lie on a sequence $\log{\rm sSFR} = s_0 + s_1(\log M_*^{\rm law}-10) + s_z u_z + \epsilon_{\rm sf}$;
# - colour: red sequence $r_0 + \epsilon_r$ for quenched galaxies; blue cloud
#   $b_0 + b_1(\log M_*^{\rm law}-10) + b_2\,\epsilon_{\rm sf} + \epsilon_b$, so that colour
#   follows the sSFR offset;
# - size: $\log R = r_0 + r_1(m-11.5) + r_2\,{\rm softplus}(m-12) + r_\lambda u_s + r_c u_c + r_z u_z + r_q[\text{quenched}] + \epsilon_R$,
#   tied to the virial radius (through mass), to spin and to concentration.
#
# Every latent is an exact function of the five features, so the oracle is known in closed
# form: a mixture over the quenched and star-forming states, the zero-SFR recipe's mean for
# galaxies with SFR = 0, and the mean of a truncated normal for $\log M_*$ (the sample keeps
# only $\log M_* \ge 8.75$). The values of all parameters:

# %%
params = pd.concat({
    "halo model": pd.Series(universe.to_dict()["halos"]),
    "galaxy law": pd.Series(universe.to_dict()["law"]),
}).to_frame("value")
display(params)

# %% [markdown]
# (table-calibration)=
# ## Calibration: target against achieved
#
# The parameters were tuned so that, after the study's cuts, the sample matches the TNG300-1
# numbers in the first column, and the oracle's Pearson $r$ sits at or just above the $r$ the
# study's stacked models reached on TNG300 — so the models of this book face a problem of the
# same difficulty.

# $\delta_3$ is the least stable of these numbers: a count in $3\,h^{-1}$Mpc spheres divided by
# the box's own mean, it depends on the few largest modes of one box, so its mean and spread move
# by several per cent from one seed to another — and it is lower in a box smaller than TNG300's.

# %%
calibration = mock.calibration_table(catalogue, meta)
display(calibration.round(4))
print(f"generated in {meta['generation_seconds']} s (box {meta['box_size']:g} Mpc/h)")

# %% [markdown]
# (fig-law)=
# ## The relations it contains

# %%
fig = plots.law_relations(catalogue, meta)

# %% [markdown]
# (fig-bias)=
# ## Clustering: halo bias and assembly bias
#
# Large-scale bias is measured from counts in cells of about $12\,h^{-1}$Mpc, each mass bin
# against all haloes outside it, relative to the lowest-mass bin (so shot noise cancels), with
# jackknife errors over the eight octants of the box. The right panel compares the oldest and
# youngest quartiles in $z_{1/2}$ at fixed mass.

# %%
bias = mock.bias_table(catalogue, meta["box_size"])
assembly = mock.assembly_bias_table(catalogue, meta["box_size"])
display(bias.round(3))
display(assembly.round(3))
fig = plots.bias_by_mass(
    bias["M_h"].to_numpy(), bias["measured"].to_numpy(), bias["error"].to_numpy(),
    {name: bias[name].to_numpy() for name in ("tinker10", "sheth01", "cole89")}, meta,
    assembly=(assembly["M_h"].to_numpy(), assembly["old/young"].to_numpy(), assembly["error"].to_numpy()))

# %% [markdown]
# (fig-oracle)=
# ## The oracle
#
# The best any model can do from halo properties alone: each galaxy's true property against
# its conditional mean given the five halo features.

# %%
orc = mock.catalogue_oracle(catalogue, meta)
fig = plots.oracle_vs_truth(catalogue, orc, meta)

# %% [markdown]
# (table-law)=
# ## Against TNG300's law
#
# The calibration above matches one- and two-point summaries. How galaxies depend on their haloes
# is a finer test: the table compares this universe with TNG300-1 law tables that ship with
# hgtools (`hgtools/data/tng300_law/`, derived from models that the study's authors and their
# group trained on the real TNG300-1 centrals and released: the study's LightGBM models for the
# conditional means, the conditional normalizing flow of Rodrigues et al. 2025 for the scatter).
# Differences of properties are in units of each property's standard deviation in the TNG300-1
# sample; the two released models agree on TNG300's conditional mean only to 0.06, 0.15, 0.22 and
# 0.16 of those units (stellar mass, sSFR, radius, colour), so nothing finer is meaningful.

# %%
from hgtools.diagnostics import law_comparison, law_summary

law = law_comparison(catalogue, orc)
display(law_summary(law).set_index(["comparison", "of"]).round(3))
display(law["secondary dependence"].pivot_table(index=["feature", "M_h_bin"], columns="target",
                                                values="difference / std", sort=False).round(2))
