"""The haloes of the embedded universe: masses, secondary properties, positions and delta_3.

1. masses from the Tinker et al. (2008) M_200c mass function of the TNG cosmology
   (colossus), drawn below the selection limit, with a baryonic correction that
   lowers hydrodynamical masses below ~10^12.5 Msun/h;
2. three standard-normal *latents* per halo, correlated at fixed mass as TNG300-1's
   concentration, spin and formation redshift are (correlations interpolated in
   log mass between the calibration knots), mapped to the features by their
   marginal laws: concentration from the Ludlow et al. (2016) c(M) relation with
   lognormal scatter, z_1/2 from the extended Press-Schechter half-mass law of
   Lacey & Cole (1993), spin lognormal (Bullock definition);
3. positions from a lognormal field built on the linear P(k) with fixed mode
   amplitudes (random phases only, Angulo & Pontzen 2016, which removes most of
   the box-to-box scatter of delta_3), its rare high peaks softened, the Tinker et
   al. (2010) bias and an assembly-bias term (older and more concentrated haloes
   cluster more at low mass); massive haloes, drawn from the field smoothed on their
   Lagrangian scale, then settle on the nearest high peak of the finest field;
4. delta_3 counted from those positions (periodic counts of every halo drawn,
   i.e. of central subhaloes, within 3 Mpc/h, over the mean number).

Every function here is a pure function of its inputs and a seeded generator.
Units: masses log10 [Msun/h]; positions and lengths comoving [Mpc/h].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from tqdm.auto import tqdm

from hgtools.cosmology import RHO_CRIT0, tng_cosmology
from hgtools.overdensity import delta3
from hgtools.sources.lognormal import (field_from_modes, gaussian_modes, sample_biased_positions, snap_to_peaks,
                                      soften_peaks)

#: delta_c, the linear collapse threshold used for formation times.
DELTA_C = 1.686
#: log10 M_h [Msun/h] of the lightest halo kept in the catalogue (the study's cut).
LOG_MASS_CUT = 10.5
#: Order of the three latents (concentration, spin, age).
LATENTS = ("u_c", "u_s", "u_z")


@dataclass(frozen=True)
class HaloModel:
    """Parameters of the halo population (masses log10 [Msun/h], lengths [Mpc/h]).

    The per-knot arrays are read from the universe's parameter file
    (:mod:`hgtools.universe.parameters`); ``knots`` holds the log10 M_h [Msun/h]
    where they are given, and values in between are interpolated linearly
    (held constant outside).
    """

    knots: tuple[float, ...]
    """log10 M_h [Msun/h] of the calibration knots."""
    corr_c_s: tuple[float, ...]
    """Correlation of the concentration and spin latents at fixed mass, per knot."""
    corr_c_z: tuple[float, ...]
    """Correlation of the concentration and age latents at fixed mass, per knot."""
    corr_s_z: tuple[float, ...]
    """Correlation of the spin and age latents at fixed mass, per knot."""
    log_mass_min: float = 10.0
    """Lowest DMO halo mass drawn; haloes below the selection still count in delta_3."""
    log_mass_max: float = 15.6
    """Heaviest DMO halo mass drawn."""
    baryon_shift: float = -0.12
    """Hydro-minus-DMO log M_200c of low-mass haloes (feedback expels gas) [dex]."""
    baryon_shift_pivot: float = 12.5
    """log mass above which the baryonic shift fades (tanh of width 0.5 dex)."""
    concentration_offset: float = 0.045
    """Added to log10 c of the Ludlow et al. (2016) relation (NFW fits to TNG haloes run higher) [dex]."""
    concentration_scatter: float = 0.15
    """Scatter of log10 c at fixed mass [dex]."""
    formation_stretch: float = 1.105
    """(1 + z_1/2) of the Lacey-Cole law is multiplied by this factor (EPS half-mass times come
    later than those of SubLink main branches)."""
    formation_scatter: float = 0.93
    """The age latent enters the Lacey-Cole law multiplied by this factor (below 1: a narrower
    spread of z_1/2 at fixed mass than the EPS law's, as TNG300-1's)."""
    spin_median: float = 0.042
    """Median Bullock spin."""
    spin_log_scatter: float = 0.55
    """Scatter of ln(spin)."""
    assembly_bias: float = 0.05
    """Fractional change of the large-scale bias per unit age latent u_z at low mass."""
    assembly_bias_concentration: float = 0.07
    """Fractional change of the large-scale bias per unit concentration latent u_c at low mass (set by
    the calibration: it ties concentration to delta_3)."""
    assembly_bias_pivot: float = 12.5
    """log mass above which assembly bias fades (tanh of width 0.5 dex)."""
    field_smoothing: float = 1.3
    """Smallest Gaussian smoothing of the lognormal field [Mpc/h]."""
    field_peak: float = 2.6
    """Peaks of the Gaussian field above this many standard deviations are softened before
    haloes are drawn (:func:`hgtools.sources.lognormal.soften_peaks`): the lognormal's rare
    spikes would gather hundreds of haloes in a few cells and make the tail of delta_3, and
    its spread from seed to seed, far heavier than TNG300-1's."""
    lagrangian_smoothing: float = 0.64
    """Haloes sample the field smoothed on this fraction of their Lagrangian radius (if larger
    than ``field_smoothing``), so massive haloes follow the smooth field."""
    peak_snapping: float = 1.0
    """Haloes drawn from a smoother field than ``field_smoothing`` then move to the highest cell
    of the finest field within this fraction of their smoothing radius: massive haloes sit on
    local density peaks, amid the small haloes (0: off)."""
    cell_size: float = 0.8
    """Target mesh spacing of the lognormal field [Mpc/h]."""
    fixed_amplitude: bool = True
    """Give every Fourier mode the mean amplitude sqrt(P(k)) (random phases only)."""
    delta3_radius: float = 3.0
    """Radius of the delta_3 sphere [Mpc/h]."""

    def latent_correlation(self, log_mass: np.ndarray) -> np.ndarray:
        """The 3 x 3 correlation matrix of (u_c, u_s, u_z) at each mass, shape (N, 3, 3)."""
        log_mass = np.asarray(log_mass, float)
        knots = np.asarray(self.knots)
        cs, cz, sz = (np.interp(log_mass, knots, np.asarray(v)) for v in (self.corr_c_s, self.corr_c_z,
                                                                           self.corr_s_z))
        out = np.empty(log_mass.shape + (3, 3))
        out[..., 0, 0] = out[..., 1, 1] = out[..., 2, 2] = 1.0
        out[..., 0, 1] = out[..., 1, 0] = cs
        out[..., 0, 2] = out[..., 2, 0] = cz
        out[..., 1, 2] = out[..., 2, 1] = sz
        return out


# ---------------------------------------------------------------------------
# masses
# ---------------------------------------------------------------------------

def _cumulative_mass_function(model: HaloModel) -> tuple[np.ndarray, np.ndarray]:
    """(log10 M_DMO grid [Msun/h], cumulative number density above log_mass_min [(h/Mpc)^3])."""
    from colossus.lss import mass_function

    tng_cosmology()
    grid = np.linspace(model.log_mass_min, model.log_mass_max, 2241)
    dndlog = mass_function.massFunction(10**grid, 0.0, mdef="200c", model="tinker08",
                                        q_out="dndlnM") * np.log(10.0)
    return grid, np.concatenate([[0.0], np.cumsum(0.5 * (dndlog[1:] + dndlog[:-1]) * np.diff(grid))])


def sample_dmo_masses(model: HaloModel, volume: float, rng: np.random.Generator) -> np.ndarray:
    """Draw DMO halo masses log10 M_200c [Msun/h] from the Tinker et al. (2008) mass function.

    The number is Poisson with the mass function's mean for ``volume``
    [(Mpc/h)^3]; masses are drawn by inverting the cumulative distribution.
    """
    grid, cum = _cumulative_mass_function(model)
    n = rng.poisson(cum[-1] * volume)
    return np.interp(rng.random(n) * cum[-1], cum, grid)


def expected_counts(model: HaloModel, volume: float, edges: np.ndarray) -> np.ndarray:
    """Mean number of haloes per bin of hydrodynamical log10 M_h [Msun/h] in ``volume`` [(Mpc/h)^3]."""
    grid, cum = _cumulative_mass_function(model)
    return volume * np.diff(np.interp(np.asarray(edges, float), baryonic_mass(grid, model), cum))


def baryonic_mass(log_mass_dmo: np.ndarray, model: HaloModel) -> np.ndarray:
    """Hydrodynamical log10 M_200c [Msun/h] from the DMO mass."""
    fade = 0.5 * (1.0 - np.tanh((log_mass_dmo - model.baryon_shift_pivot) / 0.5))
    return log_mass_dmo + model.baryon_shift * fade


#: log10 M [Msun/h] grid on which colossus quantities are tabulated, then interpolated.
_LOG_MASS_GRID = np.linspace(7.5, 16.5, 181)


def per_mass(quantity: Callable[[np.ndarray], np.ndarray], log_mass: np.ndarray) -> np.ndarray:
    """Evaluate ``quantity(M [Msun/h])`` on the tabulation grid and interpolate to ``log_mass``."""
    tng_cosmology()
    return np.interp(log_mass, _LOG_MASS_GRID, quantity(10**_LOG_MASS_GRID))


# ---------------------------------------------------------------------------
# concentration, formation redshift, spin
# ---------------------------------------------------------------------------

def mean_log_concentration(log_mass: np.ndarray) -> np.ndarray:
    """log10 c_200c of the Ludlow et al. (2016) relation at z = 0."""
    from colossus.halo import concentration

    return per_mass(lambda m: np.log10(concentration.concentration(m, "200c", 0.0, model="ludlow16")),
                    log_mass)


def _variance_step(log_mass: np.ndarray) -> np.ndarray:
    """sqrt(S(M/2) - S(M)), with S = sigma^2 of the linear field at z = 0."""
    from colossus.lss import peaks

    def variance(m):
        return tng_cosmology().sigma(peaks.lagrangianR(m), 0.0) ** 2

    return np.sqrt(per_mass(variance, log_mass - np.log10(2.0)) - per_mass(variance, log_mass))


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


def formation_redshift(log_mass: np.ndarray, age_latent: np.ndarray, stretch: float = 1.0,
                       scatter: float = 1.0) -> np.ndarray:
    """z_1/2 from the Lacey & Cole (1993) half-mass formation distribution.

    The scaled formation time omega = (delta_c/D(z_1/2) - delta_c) /
    sqrt(S(M/2) - S(M)) has density 2 omega erfc(omega / sqrt 2); the halo's
    omega is the quantile Phi(scatter * age_latent) of that law, so larger latents
    mean older haloes.

    Parameters
    ----------
    log_mass : array_like
        log10 M_200c [Msun/h].
    age_latent : array_like
        Standard-normal age latent u_z.
    stretch : float
        Factor applied to (1 + z_1/2) (see :attr:`HaloModel.formation_stretch`).
    scatter : float
        Factor applied to the latent (see :attr:`HaloModel.formation_scatter`).
    """
    omega = np.interp(stats.norm.cdf(scatter * np.asarray(age_latent, float)), _OMEGA_CDF, _OMEGA)
    dsig = _variance_step(np.asarray(log_mass, float))
    return stretch * (1.0 + _redshift_of_growth(DELTA_C / (DELTA_C + omega * dsig))) - 1.0


def age_latent(log_mass: np.ndarray, z_half: np.ndarray, stretch: float = 1.0,
               scatter: float = 1.0) -> np.ndarray:
    """Inverse of :func:`formation_redshift`: u_z from (M_h, z_1/2)."""
    dsig = _variance_step(np.asarray(log_mass, float))
    z_eps = np.maximum((1.0 + np.asarray(z_half, float)) / stretch - 1.0, 0.0)
    omega = (DELTA_C / tng_cosmology().growthFactor(z_eps) - DELTA_C) / dsig
    p = np.interp(omega, _OMEGA, _OMEGA_CDF)
    return stats.norm.ppf(np.clip(p, 1e-12, 1 - 1e-12)) / scatter


def secondary_features(log_mass: np.ndarray, latents: np.ndarray, model: HaloModel) -> dict[str, np.ndarray]:
    """C_h (log10 c), S_h (spin) and z_h (z_1/2) from the latents (u_c, u_s, u_z), shape (N, 3)."""
    u_c, u_s, u_z = latents.T
    return {"C_h": mean_log_concentration(log_mass) + model.concentration_offset + model.concentration_scatter * u_c,
            "S_h": model.spin_median * np.exp(model.spin_log_scatter * u_s),
            "z_h": formation_redshift(log_mass, u_z, model.formation_stretch, model.formation_scatter)}


def latents_of(features: pd.DataFrame, model: HaloModel) -> np.ndarray:
    """Inverse of :func:`secondary_features`: (u_c, u_s, u_z), shape (N, 3), from the halo features."""
    m = features["M_h"].to_numpy(float)
    u_c = (features["C_h"].to_numpy(float) - mean_log_concentration(m) - model.concentration_offset) \
        / model.concentration_scatter
    u_s = np.log(features["S_h"].to_numpy(float) / model.spin_median) / model.spin_log_scatter
    u_z = age_latent(m, features["z_h"].to_numpy(float), model.formation_stretch, model.formation_scatter)
    return np.stack([u_c, u_s, u_z], axis=1)


def sample_latents(log_mass: np.ndarray, model: HaloModel, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal latents (u_c, u_s, u_z) with the mass-dependent correlation of ``model``."""
    chol = np.linalg.cholesky(model.latent_correlation(log_mass))
    return np.einsum("nij,nj->ni", chol, rng.standard_normal((len(log_mass), 3)))


# ---------------------------------------------------------------------------
# positions and delta_3
# ---------------------------------------------------------------------------

def lagrangian_radius(log_mass: np.ndarray) -> np.ndarray:
    """Radius [Mpc/h] of a sphere of mean matter density holding mass 10^log_mass [Msun/h]."""
    rho_m = tng_cosmology().Om0 * RHO_CRIT0
    return (3.0 * 10 ** np.asarray(log_mass, float) / (4.0 * np.pi * rho_m)) ** (1.0 / 3.0)


def _smoothing_groups(smoothing: np.ndarray, ratio: float = 1.6) -> list[tuple[float, float]]:
    """Edges of smoothing-radius groups, each spanning a factor ``ratio``."""
    edges = [float(smoothing.min())]
    while edges[-1] * ratio <= smoothing.max():
        edges.append(edges[-1] * ratio)
    edges.append(np.inf)
    return list(zip(edges[:-1], edges[1:]))


def halo_bias(log_mass: np.ndarray, latents: np.ndarray, model: HaloModel) -> np.ndarray:
    """Large-scale bias: Tinker et al. (2010) b(M) times (1 + A(M) (a_z u_z + a_c u_c))."""
    from colossus.lss import bias

    b = per_mass(lambda m: bias.haloBias(m, 0.0, "200c", model="tinker10"), log_mass)
    fade = 0.5 * (1 - np.tanh((log_mass - model.assembly_bias_pivot) / 0.5))
    u_c, _, u_z = latents.T
    return np.clip(b * (1.0 + fade * (model.assembly_bias * u_z + model.assembly_bias_concentration * u_c)),
                   0.2, None)


def place_haloes(log_mass_dmo: np.ndarray, bias: np.ndarray, box_size: float, model: HaloModel,
                 rng: np.random.Generator, verbose: bool = False) -> np.ndarray:
    """Positions [Mpc/h] of haloes of the given DMO masses and biases in a periodic box."""
    n_mesh = max(16, 2 * int(round(box_size / model.cell_size / 2)))
    cosmo = tng_cosmology()
    modes = gaussian_modes(lambda k: cosmo.matterPowerSpectrum(k, 0.0), n_mesh, box_size, rng,
                           fixed_amplitude=model.fixed_amplitude)
    pos = np.empty((len(log_mass_dmo), 3))
    smoothing = np.maximum(model.field_smoothing, model.lagrangian_smoothing * lagrangian_radius(log_mass_dmo))
    finest = field_from_modes(modes, box_size, smoothing=model.field_smoothing)
    for lo, hi in tqdm(_smoothing_groups(smoothing), desc="placing haloes (lognormal field)", unit="group",
                       disable=not verbose, leave=False):
        members = np.flatnonzero((smoothing >= lo) & (smoothing < hi))
        if members.size:
            radius = float(np.median(smoothing[members]))
            g = finest if radius == model.field_smoothing else field_from_modes(modes, box_size, smoothing=radius)
            pos[members] = sample_biased_positions(soften_peaks(g, model.field_peak), box_size, bias[members], rng)
            if model.peak_snapping > 0 and radius > model.field_smoothing:
                pos[members] = snap_to_peaks(pos[members], finest, box_size,
                                             model.peak_snapping * smoothing[members], rng)
    return pos


def _draw(model: HaloModel, box_size: float, rng: np.random.Generator,
          verbose: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """log M_h [log10 Msun/h], latents (N, 3) and positions [Mpc/h] of every halo drawn; start time."""
    t0 = time.perf_counter()
    log_mdmo = sample_dmo_masses(model, box_size**3, rng)
    log_m = baryonic_mass(log_mdmo, model)
    latents = sample_latents(log_m, model, rng)
    t1 = time.perf_counter()
    pos = place_haloes(log_mdmo, halo_bias(log_m, latents, model), box_size, model, rng, verbose)
    if verbose:
        print(f"haloes: {log_m.size} drawn ({t1 - t0:.1f} s); positioned ({time.perf_counter() - t1:.1f} s)")
    return log_m, latents, pos, t0


def generate_halos(model: HaloModel, box_size: float, rng: np.random.Generator,
                   verbose: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """All haloes of the box with their features, and the delta_3 tracers.

    Returns
    -------
    halos : pandas.DataFrame
        Haloes above M_h = 10^10.5 Msun/h: ``M_h, C_h, S_h, z_h, Delta3_h, X_h, Y_h, Z_h``.
    tracers : numpy.ndarray
        Positions [Mpc/h] of every halo drawn (down to ``log_mass_min``): the
        objects counted in delta_3.  Each halo stands for its central subhalo;
        satellite subhaloes are not modelled (they make the delta_3 tail far
        heavier than TNG300's).
    """
    log_m, latents, pos, _ = _draw(model, box_size, rng, verbose)
    t2 = time.perf_counter()
    keep = log_m >= LOG_MASS_CUT
    d3 = delta3(pos[keep], pos, box_size, radius=model.delta3_radius)
    features = secondary_features(log_m[keep], latents[keep], model)
    if verbose:
        print(f"haloes: delta_3 for {keep.sum()} ({time.perf_counter() - t2:.1f} s)")
    halos = pd.DataFrame({"M_h": log_m[keep], **features, "Delta3_h": d3,
                          "X_h": pos[keep, 0], "Y_h": pos[keep, 1], "Z_h": pos[keep, 2]})
    return halos, pos


def dark_matter_haloes(model: HaloModel, box_size: float, rng: np.random.Generator,
                       verbose: bool = False) -> pd.DataFrame:
    """The box as a dark-matter-only halo catalogue: every halo drawn, without delta_3.

    The same haloes as :func:`generate_halos` with the same generator state.
    Columns ``ID, M_h`` [log10 Msun/h], ``C_h, S_h, z_h, X_h, Y_h, Z_h``
    [comoving Mpc/h] and ``paint`` (``M_h >= LOG_MASS_CUT``: the haloes a
    galaxy model is meant for; the others are delta_3 tracers only).
    """
    log_m, latents, pos, _ = _draw(model, box_size, rng, verbose)
    return pd.DataFrame({"ID": np.arange(log_m.size, dtype=np.int64), "M_h": log_m,
                         **secondary_features(log_m, latents, model),
                         "X_h": pos[:, 0], "Y_h": pos[:, 1], "Z_h": pos[:, 2], "paint": log_m >= LOG_MASS_CUT})


__all__ = ["DELTA_C", "HaloModel", "LATENTS", "LOG_MASS_CUT", "age_latent", "baryonic_mass", "dark_matter_haloes",
           "expected_counts",
           "formation_redshift", "generate_halos", "halo_bias", "lagrangian_radius", "latents_of",
           "mean_log_concentration", "per_mass", "place_haloes", "sample_dmo_masses", "sample_latents",
           "secondary_features"]
