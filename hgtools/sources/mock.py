"""The embedded default source: a synthetic, TNG300-calibrated universe.

IllustrisTNG300 cannot be downloaded everywhere, so hgtools generates a universe
that behaves like it, from the field's standard ingredients (see the book page
"The embedded universe" for the equations and the calibration table):

1. haloes drawn from the Tinker et al. (2008) M_200c mass function of the TNG
   cosmology (colossus), down below the selection limit, with a baryonic
   correction that lowers hydrodynamical halo masses below ~10^12.5 Msun/h;
2. concentrations from the Ludlow et al. (2016) c(M) relation with lognormal
   scatter; formation redshifts z_1/2 from the extended Press-Schechter
   distribution of Lacey & Cole (1993), rank-correlated with concentration;
   lognormal Bullock spins;
3. positions from a lognormal field built on the linear P(k), with the
   Tinker et al. (2010) large-scale bias and an assembly-bias term (older haloes
   at fixed mass cluster more strongly);
4. the overdensity delta_3 measured from those positions (periodic counts of
   all haloes drawn, i.e. central subhaloes, within 3 Mpc/h);
5. galaxy properties from physically motivated laws of the five halo features
   with intrinsic scatter (:class:`GalaxyLaw`), whose conditional expectation
   given the features is known exactly: the *oracle* (:func:`oracle`).

Units: masses log10 [Msun/h]; positions comoving [Mpc/h]; sSFR log10 [h/yr];
radius log10 [kpc/h]; colour g - i [mag].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats
from tqdm.auto import tqdm

from hgtools.catalogue import FEATURES, LOG_STELLAR_MASS_MIN, ZERO_SFR_MEAN, build_catalogue
from hgtools.config import DEFAULT_SEED, TNG300_BOX_SIZE
from hgtools.cosmology import RHO_CRIT0, cosmology_metadata, tng_cosmology, virial_radius
from hgtools.overdensity import delta3
from hgtools.sources.lognormal import field_from_modes, gaussian_modes, sample_biased_positions

#: delta_c, the linear collapse threshold used for formation times.
DELTA_C = 1.686


@dataclass(frozen=True)
class HaloModel:
    """Parameters of the halo population (masses log10 [Msun/h], lengths [Mpc/h])."""

    log_mass_min: float = 10.0
    """Lowest DMO halo mass drawn; haloes below the selection still count in delta_3."""
    log_mass_max: float = 15.6
    baryon_shift: float = -0.12
    """Hydro-minus-DMO log M_200c for low-mass haloes (feedback expels gas)."""
    baryon_shift_pivot: float = 12.5
    """log mass above which the baryonic shift fades (tanh of width 0.5 dex)."""
    concentration_offset: float = 0.045
    """Added to log10 c of the Ludlow16 relation (NFW fits to TNG haloes run higher) [dex]."""
    concentration_scatter: float = 0.15
    """Scatter of log10 c_vir at fixed mass [dex]."""
    age_concentration_corr: float = 0.6
    """Correlation of the Gaussian latents of z_1/2 and of c at fixed mass."""
    formation_stretch: float = 1.105
    """EPS half-mass times come later than those of N-body merger trees (SubLink main
    branches); (1 + z_1/2) of the Lacey-Cole law is multiplied by this factor."""
    spin_median: float = 0.042
    spin_log_scatter: float = 0.55
    """Scatter of ln(lambda)."""
    assembly_bias: float = 0.08
    """Fractional change of the bias per unit age latent at low mass."""
    assembly_bias_pivot: float = 12.5
    """log mass above which assembly bias fades."""
    field_smoothing: float = 1.5
    """Smallest Gaussian smoothing of the lognormal field [Mpc/h]."""
    lagrangian_smoothing: float = 0.64
    """Haloes sample the field smoothed on this fraction of their Lagrangian radius
    (if larger than ``field_smoothing``), so massive haloes follow the smooth field."""
    cell_size: float = 0.8
    """Target mesh spacing of the lognormal field [Mpc/h]."""
    delta3_radius: float = 3.0
    """Radius of the delta_3 sphere [Mpc/h]."""


@dataclass(frozen=True)
class GalaxyLaw:
    """How galaxy properties depend on the halo features.

    Notation: m = M_h, and three standard-normal latents recovered exactly from
    the features: u_z (age: the Lacey-Cole quantile of z_1/2 at fixed mass),
    u_c (concentration residual at fixed mass), u_s (ln spin residual);
    d = log10(Delta3_h + 0.5) - log10(3.5).
    """

    # stellar-to-halo mass relation (double power law, Moster et al. 2013 form)
    shmr_log_m1: float = 11.74
    shmr_log_norm: float = -1.68
    shmr_beta: float = 1.49
    shmr_gamma: float = 0.6
    ms_age: float = 0.09
    ms_conc: float = 0.03
    ms_scatter: float = 0.11
    # quenching: logit P(quenched) = (m - q_mass)/q_width + q_age u_z + q_conc u_c + q_env d
    q_mass: float = 11.95
    q_width: float = 0.11
    q_age: float = 2.2
    q_conc: float = 0.2
    q_env: float = 0.3
    # fraction of quenched galaxies whose SFR is exactly zero
    zero_logit: float = 0.6
    zero_mass_slope: float = 0.5
    # sSFR of the star-forming sequence and of quenched galaxies with SFR > 0
    sf_ssfr0: float = -9.9
    sf_ssfr_mass: float = -0.1
    sf_ssfr_age: float = -0.12
    sf_ssfr_scatter: float = 0.28
    q_ssfr0: float = -11.7
    q_ssfr_mass: float = -0.2
    q_ssfr_scatter: float = 0.45
    # colour: blue cloud tied to M* and to the sSFR offset; red sequence tied to M*
    blue0: float = 0.62
    blue_mass: float = 0.035
    blue_ssfr: float = -0.3
    blue_scatter: float = 0.11
    red0: float = 1.1
    red_mass: float = 0.0
    red_scatter: float = 0.06
    # size: log R = r0 + r_mass (m - 11.5) + r_high softplus + spin, conc, age, quenched terms
    r0: float = 0.51
    r_mass: float = 0.16
    r_high: float = 0.17
    r_spin: float = 0.035
    r_conc: float = -0.035
    r_age: float = -0.03
    r_quenched: float = -0.06
    r_scatter: float = 0.105


@dataclass(frozen=True)
class MockConfig:
    """What to generate: box, seed and the two models."""

    box_size: float = TNG300_BOX_SIZE
    """Side of the periodic box [Mpc/h]."""
    seed: int = DEFAULT_SEED
    halos: HaloModel = field(default_factory=HaloModel)
    law: GalaxyLaw = field(default_factory=GalaxyLaw)

    def __post_init__(self):
        if not np.isfinite(self.box_size) or self.box_size <= 0:
            raise ValueError(f"box_size must be a positive length in Mpc/h, got {self.box_size}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")

    def to_dict(self) -> dict:
        """Plain-data form, for metadata."""
        return asdict(self)


# ---------------------------------------------------------------------------
# halo population
# ---------------------------------------------------------------------------

def _mass_grid(model: HaloModel) -> np.ndarray:
    return np.linspace(model.log_mass_min, model.log_mass_max, 2241)


def sample_dmo_masses(model: HaloModel, volume: float, rng: np.random.Generator) -> np.ndarray:
    """Draw DMO halo masses log10 M_200c [Msun/h] from the Tinker08 mass function.

    The number is Poisson with the mass function's mean for ``volume``
    [(Mpc/h)^3]; masses are drawn by inverting the cumulative distribution.
    """
    from colossus.lss import mass_function

    tng_cosmology()
    grid = _mass_grid(model)
    dndlog = mass_function.massFunction(10**grid, 0.0, mdef="200c", model="tinker08",
                                        q_out="dndlnM") * np.log(10.0)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dndlog[1:] + dndlog[:-1]) * np.diff(grid))])
    n = rng.poisson(cum[-1] * volume)
    return np.interp(rng.random(n) * cum[-1], cum, grid)


def baryonic_mass(log_mass_dmo: np.ndarray, model: HaloModel) -> np.ndarray:
    """Hydrodynamical log10 M_200c [Msun/h] from the DMO mass."""
    fade = 0.5 * (1.0 - np.tanh((log_mass_dmo - model.baryon_shift_pivot) / 0.5))
    return log_mass_dmo + model.baryon_shift * fade


#: log10 M [Msun/h] grid on which colossus quantities are tabulated, then interpolated.
_LOG_MASS_GRID = np.linspace(7.5, 16.5, 181)


def _per_mass(quantity: Callable[[np.ndarray], np.ndarray], log_mass: np.ndarray) -> np.ndarray:
    """Evaluate ``quantity(M [Msun/h])`` on the tabulation grid and interpolate to ``log_mass``."""
    tng_cosmology()
    return np.interp(log_mass, _LOG_MASS_GRID, quantity(10**_LOG_MASS_GRID))


def mean_log_concentration(log_mass: np.ndarray) -> np.ndarray:
    """log10 c_200c of the Ludlow et al. (2016) relation at z = 0."""
    from colossus.halo import concentration

    return _per_mass(lambda m: np.log10(concentration.concentration(m, "200c", 0.0, model="ludlow16")),
                     log_mass)


def _variance_step(log_mass: np.ndarray) -> np.ndarray:
    """sqrt(S(M/2) - S(M)), with S = sigma^2 of the linear field at z = 0."""
    from colossus.lss import peaks

    def variance(m):
        return tng_cosmology().sigma(peaks.lagrangianR(m), 0.0) ** 2

    return np.sqrt(_per_mass(variance, log_mass - np.log10(2.0)) - _per_mass(variance, log_mass))


def _redshift_of_growth(growth: np.ndarray) -> np.ndarray:
    """Invert the linear growth factor D(z) (D(0) = 1)."""
    zgrid = np.linspace(0.0, 20.0, 4001)
    return np.interp(-growth, -tng_cosmology().growthFactor(zgrid), zgrid)


def _omega_cdf() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative distribution of omega for the half-mass density 2 omega erfc(omega / sqrt 2)."""
    omega = np.linspace(0.0, 12.0, 6001)
    density = 2.0 * omega * special.erfc(omega / np.sqrt(2.0))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(omega))])
    return omega, cdf / cdf[-1]


_OMEGA, _OMEGA_CDF = _omega_cdf()


def formation_redshift(log_mass: np.ndarray, age_latent: np.ndarray,
                       stretch: float = 1.0) -> np.ndarray:
    """z_1/2 from the Lacey & Cole (1993) half-mass formation distribution.

    The scaled formation time omega = (delta_c/D(z_1/2) - delta_c) /
    sqrt(S(M/2) - S(M)) has density 2 omega erfc(omega / sqrt 2); the halo's
    omega is the quantile Phi(age_latent) of that law, so larger latents mean
    older haloes.

    Parameters
    ----------
    log_mass : array_like
        log10 M_200c [Msun/h].
    age_latent : array_like
        Standard-normal age latent u_z.
    stretch : float
        Factor applied to (1 + z_1/2) (see :attr:`HaloModel.formation_stretch`).
    """
    omega = np.interp(stats.norm.cdf(age_latent), _OMEGA_CDF, _OMEGA)
    dsig = _variance_step(np.asarray(log_mass, float))
    return stretch * (1.0 + _redshift_of_growth(DELTA_C / (DELTA_C + omega * dsig))) - 1.0


def age_latent(log_mass: np.ndarray, z_half: np.ndarray, stretch: float = 1.0) -> np.ndarray:
    """Inverse of :func:`formation_redshift`: u_z from (M_h, z_1/2)."""
    dsig = _variance_step(np.asarray(log_mass, float))
    z_eps = np.maximum((1.0 + np.asarray(z_half, float)) / stretch - 1.0, 0.0)
    omega = (DELTA_C / tng_cosmology().growthFactor(z_eps) - DELTA_C) / dsig
    p = np.interp(omega, _OMEGA, _OMEGA_CDF)
    return stats.norm.ppf(np.clip(p, 1e-12, 1 - 1e-12))


def lagrangian_radius(log_mass: np.ndarray) -> np.ndarray:
    """Radius [Mpc/h] of a sphere of mean matter density holding mass 10^log_mass [Msun/h]."""
    cosmo = tng_cosmology()
    rho_m = cosmo.Om0 * RHO_CRIT0
    return (3.0 * 10 ** np.asarray(log_mass, float) / (4.0 * np.pi * rho_m)) ** (1.0 / 3.0)


def _smoothing_groups(smoothing: np.ndarray, ratio: float = 1.6) -> list[tuple[float, float]]:
    """Edges of smoothing-radius groups, each spanning a factor ``ratio``."""
    lo = float(smoothing.min())
    edges = [lo]
    while edges[-1] * ratio <= smoothing.max():
        edges.append(edges[-1] * ratio)
    edges.append(np.inf)
    return list(zip(edges[:-1], edges[1:]))


def halo_bias(log_mass: np.ndarray, u_age: np.ndarray, model: HaloModel) -> np.ndarray:
    """Large-scale bias: Tinker et al. (2010) b(M) times (1 + A(M) u_z)."""
    from colossus.lss import bias

    b = _per_mass(lambda m: bias.haloBias(m, 0.0, "200c", model="tinker10"), log_mass)
    amp = model.assembly_bias * 0.5 * (1 - np.tanh((log_mass - model.assembly_bias_pivot) / 0.5))
    return np.clip(b * (1.0 + amp * u_age), 0.2, None)


def generate_halos(config: MockConfig, rng: np.random.Generator,
                   verbose: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """All haloes of the box with their features, and the delta_3 tracers.

    Returns
    -------
    halos : pandas.DataFrame
        Haloes above M_h = 10^10.5 Msun/h: ``M_h, C_h, S_h, z_h, Delta3_h,
        X_h, Y_h, Z_h`` plus the latents ``u_z, u_c, u_s``.
    tracers : numpy.ndarray
        Positions [Mpc/h] of every halo drawn (down to ``log_mass_min``): the
        objects counted in delta_3.  Each halo stands for its central subhalo;
        satellite subhaloes are not modelled (they make the delta_3 tail far
        heavier than TNG300's).
    """
    hm = config.halos
    box = float(config.box_size)
    t0 = time.perf_counter()
    log_mdmo = sample_dmo_masses(hm, box**3, rng)
    log_m = baryonic_mass(log_mdmo, hm)
    n = log_m.size
    u_z = rng.standard_normal(n)
    u_c = hm.age_concentration_corr * u_z + np.sqrt(1 - hm.age_concentration_corr**2) * rng.standard_normal(n)
    u_s = rng.standard_normal(n)
    z_half = formation_redshift(log_m, u_z, hm.formation_stretch)
    log_c = mean_log_concentration(log_m) + hm.concentration_offset + hm.concentration_scatter * u_c
    spin = hm.spin_median * np.exp(hm.spin_log_scatter * u_s)
    t1 = time.perf_counter()

    n_mesh = max(16, 2 * int(round(box / hm.cell_size / 2)))
    cosmo = tng_cosmology()
    modes = gaussian_modes(lambda k: cosmo.matterPowerSpectrum(k, 0.0), n_mesh, box, rng)
    bias = halo_bias(log_m, u_z, hm)
    pos = np.empty((n, 3))
    smoothing = np.maximum(hm.field_smoothing, hm.lagrangian_smoothing * lagrangian_radius(log_mdmo))
    groups = _smoothing_groups(smoothing)
    for lo, hi in tqdm(groups, desc="placing haloes (lognormal field)", unit="group",
                       disable=not verbose, leave=False):
        members = np.flatnonzero((smoothing >= lo) & (smoothing < hi))
        if members.size:
            g = field_from_modes(modes, box, smoothing=float(np.median(smoothing[members])))
            pos[members] = sample_biased_positions(g, box, bias[members], rng)
    del modes
    t2 = time.perf_counter()

    keep = log_m >= 10.5
    d3 = delta3(pos[keep], pos, box, radius=hm.delta3_radius)
    t3 = time.perf_counter()
    if verbose:
        print(f"haloes: {n} drawn ({t1 - t0:.1f} s); positions on a {n_mesh}^3 mesh ({t2 - t1:.1f} s); "
              f"delta_3 for {keep.sum()} ({t3 - t2:.1f} s)")
    halos = pd.DataFrame({
        "M_h": log_m[keep], "C_h": log_c[keep], "S_h": spin[keep], "z_h": z_half[keep],
        "Delta3_h": d3, "X_h": pos[keep, 0], "Y_h": pos[keep, 1], "Z_h": pos[keep, 2],
        "u_z": u_z[keep], "u_c": u_c[keep], "u_s": u_s[keep],
    })
    return halos, pos


# ---------------------------------------------------------------------------
# galaxies and the oracle
# ---------------------------------------------------------------------------

def halo_latents(features: pd.DataFrame, model: HaloModel | None = None) -> dict[str, np.ndarray]:
    """Recover the standard-normal latents (u_z, u_c, u_s) and d from the five features.

    The generator's galaxy law is written in terms of these, so it is an exact
    function of the features.
    """
    model = HaloModel() if model is None else model
    m = features["M_h"].to_numpy(float)
    u_c = (features["C_h"].to_numpy(float) - mean_log_concentration(m)
           - model.concentration_offset) / model.concentration_scatter
    u_z = age_latent(m, features["z_h"].to_numpy(float), model.formation_stretch)
    u_s = np.log(features["S_h"].to_numpy(float) / model.spin_median) / model.spin_log_scatter
    d = np.log10(features["Delta3_h"].to_numpy(float) + 0.5) - np.log10(3.5)
    return {"m": m, "u_z": u_z, "u_c": u_c, "u_s": u_s, "d": d}


def _logistic(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


def galaxy_law_terms(features: pd.DataFrame, law: GalaxyLaw, model: HaloModel | None = None) -> dict[str, np.ndarray]:
    """Deterministic parts of the galaxy law for each halo.

    Returns means and probabilities: ``ms_mean`` (log M* before scatter),
    ``p_q`` (quenched), ``p_zero`` (SFR = 0 given quenched), ``sf_mean``,
    ``q_mean`` (log sSFR of the two sequences), ``blue_mean``, ``red_mean``
    (colour of the two populations), ``r_sf``, ``r_q`` (log radius of star-forming
    and quenched galaxies).
    """
    v = halo_latents(features, model)
    m, u_z, u_c, u_s, d = v["m"], v["u_z"], v["u_c"], v["u_s"], v["d"]
    x = 10.0 ** (m - law.shmr_log_m1)
    ms = (m + np.log10(2 * 10**law.shmr_log_norm / (x**-law.shmr_beta + x**law.shmr_gamma))
          + law.ms_age * u_z + law.ms_conc * u_c)
    p_q = _logistic((m - law.q_mass) / law.q_width + law.q_age * u_z + law.q_conc * u_c + law.q_env * d)
    p_zero = _logistic(law.zero_logit + law.zero_mass_slope * (m - 12.0))
    sf_mean = law.sf_ssfr0 + law.sf_ssfr_mass * (ms - 10.0) + law.sf_ssfr_age * u_z
    q_mean = law.q_ssfr0 + law.q_ssfr_mass * (ms - 10.0)
    blue = law.blue0 + law.blue_mass * (ms - 10.0)
    red = law.red0 + law.red_mass * (ms - 10.5)
    soft = 0.3 * np.logaddexp(0.0, (m - 12.0) / 0.3)
    r_sf = (law.r0 + law.r_mass * (m - 11.5) + law.r_high * soft + law.r_spin * u_s
            + law.r_conc * u_c + law.r_age * u_z)
    return {"ms_mean": ms, "p_q": p_q, "p_zero": p_zero, "sf_mean": sf_mean, "q_mean": q_mean,
            "blue_mean": blue, "red_mean": red, "r_sf": r_sf, "r_q": r_sf + law.r_quenched}


def sample_galaxies(features: pd.DataFrame, law: GalaxyLaw, rng: np.random.Generator,
                    model: HaloModel | None = None) -> pd.DataFrame:
    """Draw galaxy properties for each halo from the law plus intrinsic scatter.

    Returns a table with ``stellar_mass``, ``sSFR`` (``-inf`` where SFR = 0),
    ``sfr_zero``, ``radius`` and ``color``.
    """
    t = galaxy_law_terms(features, law, model)
    n = len(features)
    ms = t["ms_mean"] + law.ms_scatter * rng.standard_normal(n)
    quenched = rng.random(n) < t["p_q"]
    zero = quenched & (rng.random(n) < t["p_zero"])
    e_sf = law.sf_ssfr_scatter * rng.standard_normal(n)
    ssfr = np.where(quenched, t["q_mean"] + law.q_ssfr_scatter * rng.standard_normal(n),
                    t["sf_mean"] + e_sf)
    ssfr[zero] = -np.inf
    color = np.where(quenched, t["red_mean"] + law.red_scatter * rng.standard_normal(n),
                     t["blue_mean"] + law.blue_ssfr * e_sf + law.blue_scatter * rng.standard_normal(n))
    radius = np.where(quenched, t["r_q"], t["r_sf"]) + law.r_scatter * rng.standard_normal(n)
    return pd.DataFrame({"stellar_mass": ms, "sSFR": ssfr, "sfr_zero": zero,
                         "radius": radius, "color": color}, index=features.index)


def oracle(features: pd.DataFrame, law: GalaxyLaw | None = None, model: HaloModel | None = None,
           stellar_mass_min: float = LOG_STELLAR_MASS_MIN,
           zero_sfr_mean: float = ZERO_SFR_MEAN) -> pd.DataFrame:
    """E[target | the five halo features] for galaxies of the selected catalogue.

    The best prediction any model can make from the halo features alone.  It
    accounts for the selection ``stellar_mass >= stellar_mass_min`` (a
    truncated normal in log M*) and for the zero-SFR recipe, whose mean
    ``zero_sfr_mean`` replaces log sSFR where SFR = 0.

    Parameters
    ----------
    features : pandas.DataFrame
        Columns ``M_h, C_h, S_h, z_h, Delta3_h``.
    law, model : GalaxyLaw, HaloModel, optional
        The laws that generated the universe (defaults as in :class:`MockConfig`).
    stellar_mass_min : float
        Selection threshold in log10 M* [Msun/h].
    zero_sfr_mean : float
        Mean log sSFR [h/yr] the zero-SFR recipe assigns.

    Returns
    -------
    pandas.DataFrame
        Columns ``stellar_mass, sSFR, radius, color`` with the conditional means.
    """
    law = GalaxyLaw() if law is None else law
    t = galaxy_law_terms(features, law, model)
    alpha = (stellar_mass_min - t["ms_mean"]) / law.ms_scatter
    ms = t["ms_mean"] + law.ms_scatter * np.exp(stats.norm.logpdf(alpha) - stats.norm.logsf(alpha))
    p_q, p_z = t["p_q"], t["p_zero"]
    ssfr = (1 - p_q) * t["sf_mean"] + p_q * ((1 - p_z) * t["q_mean"] + p_z * zero_sfr_mean)
    color = (1 - p_q) * t["blue_mean"] + p_q * t["red_mean"]
    radius = (1 - p_q) * t["r_sf"] + p_q * t["r_q"]
    return pd.DataFrame({"stellar_mass": ms, "sSFR": ssfr, "radius": radius, "color": color},
                        index=features.index)


def generate_universe(config: MockConfig | None = None,
                      verbose: bool = False) -> tuple[pd.DataFrame, int]:
    """Generate the raw mock table: every halo above 10^10.5 Msun/h with its central galaxy.

    No galaxy cut and no zero-SFR recipe is applied here (``sSFR`` is ``-inf``
    where SFR = 0); :func:`hgtools.catalogue.build_catalogue` does both, as for
    every source.

    Parameters
    ----------
    config : MockConfig, optional
        Box size, seed and models; defaults to the full 205 Mpc/h TNG300 analogue.
    verbose : bool
        Print what each stage did and how long it took.

    Returns
    -------
    table : pandas.DataFrame
        The catalogue columns (``ID``, halo features, galaxy targets, ``sfr_zero``,
        halo and galaxy positions [Mpc/h]).
    n_drawn : int
        Number of haloes drawn in the box, down to ``HaloModel.log_mass_min``.
    """
    config = MockConfig() if config is None else config
    rng = np.random.default_rng(config.seed)
    halos, tracers = generate_halos(config, rng, verbose=verbose)
    gal = sample_galaxies(halos, config.law, rng, config.halos)
    # central galaxies sit at the potential minimum, a few kpc/h from the halo centre
    offset = 0.01 * virial_radius(halos["M_h"].to_numpy())[:, None] * rng.standard_normal((len(halos), 3))
    gpos = np.mod(halos[["X_h", "Y_h", "Z_h"]].to_numpy() + offset, config.box_size)
    out = pd.concat([halos[list(FEATURES)], gal], axis=1)
    out[["X_h", "Y_h", "Z_h"]] = halos[["X_h", "Y_h", "Z_h"]].to_numpy()
    out[["x_g", "y_g", "z_g"]] = gpos
    out.insert(0, "ID", np.arange(len(out), dtype=np.int64))
    return out.reset_index(drop=True), int(len(tracers))


def config_from_metadata(metadata: dict) -> MockConfig:
    """Rebuild the :class:`MockConfig` stored in a mock catalogue's metadata."""
    if metadata.get("source") != "mock" or "mock_config" not in metadata:
        raise ValueError("the oracle exists only for catalogues of the embedded (mock) universe; "
                         f"this catalogue's source is {metadata.get('source')!r}")
    cfg = dict(metadata["mock_config"])
    return MockConfig(box_size=cfg["box_size"], seed=cfg["seed"],
                      halos=HaloModel(**cfg["halos"]), law=GalaxyLaw(**cfg["law"]))


def catalogue_oracle(catalogue: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """The oracle (:func:`oracle`) for rows of a mock catalogue, from the laws in its metadata."""
    cfg = config_from_metadata(metadata)
    return oracle(catalogue[list(FEATURES)], cfg.law, cfg.halos)


def law_dependencies(catalogue: pd.DataFrame, metadata: dict, step: float = 0.01) -> pd.DataFrame:
    """Which halo features the generator's law uses, and how strongly, measured on the law itself.

    Each feature in turn is moved by ``step`` times its standard deviation and
    the oracle (the law's conditional mean) is recomputed; the table gives the
    mean absolute change of each target per standard deviation of the feature
    (a finite-difference sensitivity, in the target's units).  Zero means the
    law ignores that feature.
    """
    base = catalogue_oracle(catalogue, metadata)
    rows = {}
    for f in FEATURES:
        moved = catalogue[list(FEATURES)].copy()
        moved[f] = moved[f] + step * moved[f].std()
        change = (catalogue_oracle(moved, metadata) - base).abs().mean() / step
        rows[f] = change.where(change > 1e-9, 0.0)
    table = pd.DataFrame(rows).T
    table.index.name = "feature"
    table.columns = [f"{t}: change per 1 std" for t in table.columns]
    return table


def mock_catalogue(config: MockConfig | None = None, verbose: bool = False) -> tuple[pd.DataFrame, dict]:
    """Generate the embedded universe and turn it into the study's catalogue.

    Returns
    -------
    catalogue : pandas.DataFrame
        Cuts and zero-SFR recipe applied (seeded by ``config.seed``).
    metadata : dict
        Source ``"mock"``, box size, seed, cosmology, the full generator
        configuration (so the oracle can be rebuilt), cut counts, versions and
        the generation time [s].
    """
    config = MockConfig() if config is None else config
    t0 = time.perf_counter()
    raw, n_drawn = generate_universe(config, verbose=verbose)
    meta = {"source": "mock", "source_description":
            "hgtools embedded universe: synthetic, calibrated to TNG300-1 summary statistics",
            "box_size": float(config.box_size), "cosmology": cosmology_metadata(),
            "mock_config": config.to_dict(),
            "source_counts": [(f"haloes drawn, log M_DMO >= {config.halos.log_mass_min:g}",
                               n_drawn)]}
    catalogue, meta = build_catalogue(raw, seed=config.seed, metadata=meta)
    meta["generation_seconds"] = round(time.perf_counter() - t0, 2)
    return catalogue, meta


def model_bias_ratio(log_mass_a: np.ndarray, log_mass_b: np.ndarray) -> dict[str, float]:
    """b(A) / b(B) predicted by standard halo-bias models for two sets of halo masses.

    The mean bias of each set under Tinker et al. (2010), Sheth, Mo & Tormen
    (2001) and Mo & White / Cole & Kaiser (1989) from colossus.
    """
    from colossus.lss import bias

    out = {}
    for model in ("tinker10", "sheth01", "cole89"):
        def b(log_mass, model=model):
            return _per_mass(lambda m: bias.haloBias(m, 0.0, "200c", model=model), log_mass)
        out[model] = float(b(log_mass_a).mean() / b(log_mass_b).mean())
    return out


def calibration_table(catalogue: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """The embedded universe against the TNG300-1 numbers it is calibrated to.

    One row per calibrated quantity: the TNG300 value, the value achieved by
    ``catalogue``, and their relative difference.  For a box smaller than
    205 Mpc/h the galaxy count is rescaled to the TNG300 volume.
    """
    from hgtools import reference as ref
    from hgtools.catalogue import TARGETS

    rows = []
    scale = (TNG300_BOX_SIZE / float(metadata["box_size"])) ** 3
    rows.append(("N galaxies (per TNG300 volume)", ref.TNG300_N_GALAXIES, len(catalogue) * scale))
    for col, (mean, std) in ref.TNG300_SAMPLE.items():
        rows.append((f"mean {col}", mean, catalogue[col].mean()))
        rows.append((f"std {col}", std, catalogue[col].std()))
    for (a, b), r in ref.TNG300_CORRELATIONS.items():
        rows.append((f"corr({a}, {b})", r, catalogue[a].corr(catalogue[b])))
    rows.append(("fraction with SFR = 0", ref.TNG300_ZERO_SFR_FRACTION, catalogue["sfr_zero"].mean()))
    orc = catalogue_oracle(catalogue, metadata)
    for t in TARGETS:
        rows.append((f"oracle Pearson r, {t} (vs study's stacked r)", ref.STUDY_STACKED_PCC[t],
                     np.corrcoef(orc[t], catalogue[t])[0, 1]))
    table = pd.DataFrame(rows, columns=["quantity", "TNG300 / study", "embedded universe"])
    table["relative difference"] = table["embedded universe"] / table["TNG300 / study"] - 1.0
    return table


def _cells_for(box_size: float, cell: float = 12.0) -> int:
    """An even number of counting cells per side, each about ``cell`` Mpc/h."""
    return max(4, 2 * int(round(box_size / cell / 2)))


def bias_table(catalogue: pd.DataFrame, box_size: float, edges: np.ndarray | None = None) -> pd.DataFrame:
    """Measured large-scale bias per halo-mass bin (relative to the lowest bin) beside the models.

    Columns: ``M_h`` (mean log mass of the bin), ``measured``, ``error``
    (jackknife) and one column per bias model of :func:`model_bias_ratio`.
    """
    from hgtools.counts_in_cells import bias_by_mass

    m = catalogue["M_h"].to_numpy()
    if edges is None:
        edges = np.quantile(m, [0, 0.3, 0.6, 0.85, 0.97, 1.0])
        edges[-1] += 1e-9
    pos = catalogue[["X_h", "Y_h", "Z_h"]].to_numpy()
    centres, ratio, err = bias_by_mass(pos, m, box_size, edges, _cells_for(box_size))
    which = np.digitize(m, edges) - 1
    models = [model_bias_ratio(m[which == i], m[which == 0]) for i in range(len(edges) - 1)]
    table = pd.DataFrame({"M_h": centres, "measured": ratio, "error": err})
    for name in models[0]:
        table[name] = [mod[name] for mod in models]
    return table


def assembly_bias_table(catalogue: pd.DataFrame, box_size: float,
                        edges: tuple[float, ...] = (10.5, 11.0, 11.5, 12.0, 12.5)) -> pd.DataFrame:
    """Bias of the oldest quartile in z_1/2 over the youngest, per halo-mass bin.

    Each pair is measured against all haloes outside the bin.  Columns:
    ``M_h`` (bin centre), ``n`` (haloes in the bin), ``old/young``, ``error``.
    """
    from hgtools.counts_in_cells import relative_bias

    m, z = catalogue["M_h"].to_numpy(), catalogue["z_h"].to_numpy()
    pos = catalogue[["X_h", "Y_h", "Z_h"]].to_numpy()
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (m >= lo) & (m < hi)
        if inside.sum() < 40:
            continue
        q1, q3 = np.quantile(z[inside], [0.25, 0.75])
        old, young = inside & (z >= q3), inside & (z <= q1)
        r, e = relative_bias(pos[old], pos[young], pos[~inside], box_size, _cells_for(box_size))
        rows.append((0.5 * (lo + hi), int(inside.sum()), r, e))
    return pd.DataFrame(rows, columns=["M_h", "n", "old/young", "error"])
