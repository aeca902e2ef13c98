"""The embedded universe's exact conditional law of the galaxies given their haloes.

A galaxy of the catalogue passed the study's selection log10 M* >= 8.75, so its law
given the halo is the law's Gaussian mixture (:func:`hgtools.universe.law.components`)
truncated to M* >= 8.75.  A Gaussian truncated in one coordinate has closed-form
moments (the other coordinates follow their regression on M*), so everything here is
exact:

- :func:`conditional_moments`: E[Y | halo] and Cov[Y | halo];
- :func:`oracle`: E[Y | halo], the best any point model can do from the five features;
- :func:`sample_conditional`: new galaxies for the same haloes;
- :func:`log_prob`: log p(Y | halo), the density of catalogue values (zero-SFR galaxies
  carry the recipe's sSFR, which the law models as an independent Gaussian).

Y = (log10 M* [Msun/h], log10 sSFR [h/yr], log10 R [kpc/h], g - i [mag]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from hgtools.catalogue import LOG_STELLAR_MASS_MIN, TARGETS
from hgtools.universe.haloes import HaloModel
from hgtools.universe.law import Components, GalaxyLaw, components

_M = TARGETS.index("stellar_mass")


def _truncation(comp: Components, stellar_mass_min: float):
    """Per population: log P(M* >= min), the truncated mean and the truncated covariance."""
    sigma_m = np.sqrt(comp.covariances[..., _M, _M])
    alpha = (stellar_mass_min - comp.means[..., _M]) / sigma_m
    log_keep = stats.norm.logsf(alpha)
    lam = np.exp(stats.norm.logpdf(alpha) - log_keep)            # inverse Mills ratio
    v = 1.0 + alpha * lam - lam**2                                # variance factor of the truncated M*
    reg = comp.covariances[..., :, _M] / sigma_m[..., None]       # Cov(Y, M*) / sigma_M
    means = comp.means + reg * lam[..., None]
    covs = comp.covariances - (1.0 - v)[..., None, None] * reg[..., :, None] * reg[..., None, :]
    return log_keep, means, covs


def _population_weights(comp: Components, log_keep: np.ndarray) -> np.ndarray:
    """Probability of each population among selected galaxies, (N, 3)."""
    with np.errstate(divide="ignore"):
        log_w = np.log(comp.weights) + log_keep
    log_w -= special.logsumexp(log_w, axis=1, keepdims=True)
    return np.exp(log_w)


def selection_probability(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel,
                          stellar_mass_min: float = LOG_STELLAR_MASS_MIN) -> np.ndarray:
    """P(log10 M* >= stellar_mass_min | halo) for each halo."""
    comp = components(features, law, halos)
    log_keep, _, _ = _truncation(comp, stellar_mass_min)
    return np.exp(special.logsumexp(log_keep, b=comp.weights, axis=1))


def mixture_moments(comp: Components, stellar_mass_min: float = LOG_STELLAR_MASS_MIN):
    """Moments of a mixture after the selection, from its :class:`Components`.

    Returns the per-population log P(selected), truncated means and covariances, the
    post-selection population weights, and the mixture's mean (N, 4) and covariance (N, 4, 4).
    """
    log_keep, means, covs = _truncation(comp, stellar_mass_min)
    w = _population_weights(comp, log_keep)
    mean = np.einsum("nk,nkj->nj", w, means)
    second = np.einsum("nk,nkij->nij", w, covs + means[..., :, None] * means[..., None, :])
    return log_keep, means, covs, w, mean, second - mean[:, :, None] * mean[:, None, :]


def conditional_moments(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel,
                        stellar_mass_min: float = LOG_STELLAR_MASS_MIN) -> tuple[np.ndarray, np.ndarray]:
    """E[Y | halo, selected] (N, 4) and Cov[Y | halo, selected] (N, 4, 4), exactly."""
    return mixture_moments(components(features, law, halos), stellar_mass_min)[4:]


def oracle(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel,
           stellar_mass_min: float = LOG_STELLAR_MASS_MIN) -> pd.DataFrame:
    """E[target | the five halo features] for galaxies of the selected catalogue.

    Parameters
    ----------
    features : pandas.DataFrame
        Columns ``M_h, C_h, S_h, z_h, Delta3_h``.
    law, halos : GalaxyLaw, HaloModel
        The laws that generated the universe.
    stellar_mass_min : float
        Selection threshold in log10 M* [Msun/h].

    Returns
    -------
    pandas.DataFrame
        Columns ``stellar_mass, sSFR, radius, color`` with the conditional means.
    """
    comp = components(features, law, halos)
    log_keep, means, _ = _truncation(comp, stellar_mass_min)
    mean = np.einsum("nk,nkj->nj", _population_weights(comp, log_keep), means)
    return pd.DataFrame(mean, columns=list(TARGETS), index=features.index)


def sample_conditional(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel, n_draws: int = 1,
                       seed: int = 0, stellar_mass_min: float = LOG_STELLAR_MASS_MIN) -> np.ndarray:
    """New selected galaxies for the same haloes: an array (n_draws, N, 4) of catalogue values.

    Each draw picks a population with its post-selection probability, draws M*
    from the truncated normal by inverting its survival function, then the other
    three properties from their Gaussian law given M*.
    """
    if int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws}")
    rng = np.random.default_rng(seed)
    comp = components(features, law, halos)
    log_keep, _, _ = _truncation(comp, stellar_mass_min)
    w = _population_weights(comp, log_keep)
    n = len(features)
    rows = np.arange(n)
    rest = [j for j in range(4) if j != _M]
    cov = comp.covariances
    reg = cov[..., rest, _M] / cov[..., _M, _M][..., None]                      # (N, 3, 3)
    cond = cov[..., rest, :][..., :, rest] - reg[..., :, None] * cov[..., _M, rest][..., None, :]
    chol = np.linalg.cholesky(cond)
    out = np.empty((int(n_draws), n, 4))
    for d in range(int(n_draws)):
        pick = (rng.random(n)[:, None] > np.cumsum(w, axis=1)).sum(axis=1).clip(0, 2)
        mu, sigma = comp.means[rows, pick], np.sqrt(cov[rows, pick, _M, _M])
        # P(M* > y) = P(keep) U  =>  y = mu + sigma isf(P(keep) U), stable far in the tail
        log_u = np.log(rng.random(n)) + log_keep[rows, pick]
        y_m = mu[:, _M] + sigma * -special.ndtri_exp(log_u)
        y_m = np.maximum(y_m, stellar_mass_min)
        other = (mu[:, rest] + reg[rows, pick] * (y_m - mu[:, _M])[:, None]
                 + np.einsum("nij,nj->ni", chol[rows, pick], rng.standard_normal((n, 3))))
        out[d, :, _M] = y_m
        out[d][:, rest] = other
    return out


def log_prob(features: pd.DataFrame, values: pd.DataFrame | np.ndarray, law: GalaxyLaw, halos: HaloModel,
             stellar_mass_min: float = LOG_STELLAR_MASS_MIN) -> np.ndarray:
    """log p(Y | halo, selected) of catalogue values Y (N, 4) or a table with the four targets.

    Values below the selection have log-density ``-inf``.
    """
    y = values[list(TARGETS)].to_numpy(float) if isinstance(values, pd.DataFrame) else np.asarray(values, float)
    comp = components(features, law, halos)
    log_keep, _, _ = _truncation(comp, stellar_mass_min)
    diff = y[:, None, :] - comp.means
    chol = np.linalg.cholesky(comp.covariances)
    z = np.linalg.solve(chol, diff[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    log_gauss = -0.5 * (z**2).sum(axis=-1) - 0.5 * log_det - 2.0 * np.log(2.0 * np.pi)
    with np.errstate(divide="ignore"):
        log_num = special.logsumexp(np.log(comp.weights) + log_gauss, axis=1)
        log_den = special.logsumexp(np.log(comp.weights) + log_keep, axis=1)
    out = log_num - log_den
    out[y[:, _M] < stellar_mass_min] = -np.inf
    return out


__all__ = ["conditional_moments", "log_prob", "mixture_moments", "oracle", "sample_conditional", "selection_probability"]
