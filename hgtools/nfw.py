"""The NFW profile: concentration from V_max / V_vir, and from a fit to particle radii.

c = R_vir / r_s; radii in any consistent unit (hgtools passes ckpc/h).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

#: r / r_s at which the NFW circular velocity peaks.
X_VMAX = 2.1625815870646097


def enclosed_mass_shape(x: np.ndarray) -> np.ndarray:
    """mu(x) = ln(1 + x) - x / (1 + x): NFW mass inside r = x r_s, in units of 4 pi rho_s r_s^3."""
    x = np.asarray(x, dtype=float)
    return np.log1p(x) - x / (1.0 + x)


def vmax_over_vvir(c: np.ndarray) -> np.ndarray:
    """V_max / V_vir of an NFW halo of concentration c (valid for c >= 2.163, where V_max lies inside R_vir)."""
    c = np.asarray(c, dtype=float)
    return np.sqrt(c / X_VMAX * enclosed_mass_shape(X_VMAX) / enclosed_mass_shape(c))


def concentration_from_vmax(ratio: np.ndarray, c_max: float = 1000.0) -> np.ndarray:
    """Invert :func:`vmax_over_vvir` by bisection (to double precision).

    Parameters
    ----------
    ratio : array_like
        V_max / V_vir.  Ratios below 1 (no NFW halo has V_max < V_vir inside
        R_vir) and above ``vmax_over_vvir(c_max)`` give NaN.

    Returns
    -------
    numpy.ndarray
        Concentration c_vir.
    """
    ratio = np.asarray(ratio, dtype=float)
    lo = np.full(ratio.shape, np.log(X_VMAX))
    hi = np.full(ratio.shape, np.log(c_max))
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        above = vmax_over_vvir(np.exp(mid)) > ratio
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    c = np.exp(0.5 * (lo + hi))
    bad = ~np.isfinite(ratio) | (ratio < 1.0) | (ratio > vmax_over_vvir(c_max))
    return np.where(bad, np.nan, c)


def sample_radii(n: int, c: float, r_vir: float, rng: np.random.Generator) -> np.ndarray:
    """Radii of ``n`` equal-mass particles of an NFW halo truncated at ``r_vir``."""
    x = np.geomspace(1e-6, 1.0, 20001)
    cdf = enclosed_mass_shape(c * x) / enclosed_mass_shape(c)
    return np.interp(rng.random(n), cdf, x) * r_vir


def fit_concentration(radii: np.ndarray, r_vir: float, n_bins: int = 20,
                      r_min_fraction: float = 0.05) -> float:
    """Concentration from a fit of the NFW density profile to particle radii.

    Equal-mass particles are counted in ``n_bins`` logarithmic shells between
    ``r_min_fraction * r_vir`` and ``r_vir``; log density is fitted with
    rho_s / [x (1 + x)^2], x = r / r_s, weighting each shell by its Poisson
    error.  The inner cut avoids the force-softening core.

    Returns
    -------
    float
        R_vir / r_s (NaN when fewer than 100 particles lie in the fitted range).
    """
    r = np.asarray(radii, dtype=float)
    edges = np.geomspace(r_min_fraction * r_vir, r_vir, n_bins + 1)
    counts, _ = np.histogram(r, bins=edges)
    if counts.sum() < 100:
        return float("nan")
    used = counts > 0
    centres = np.sqrt(edges[1:] * edges[:-1])[used]
    volume = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)[used]
    log_rho = np.log(counts[used] / volume)
    weight = np.sqrt(counts[used])  # 1 / sigma(ln rho) for Poisson counts

    def residual(p):
        log_rho_s, log_rs = p
        x = centres / np.exp(log_rs)
        return weight * (log_rho_s - np.log(x * (1.0 + x) ** 2) - log_rho)

    start = [log_rho[len(log_rho) // 2], np.log(r_vir / 8.0)]
    fit = optimize.least_squares(residual, start)
    return float(r_vir / np.exp(fit.x[1]))
