"""The galaxy law of the embedded universe: how a central galaxy depends on its halo.

Every galaxy property is driven by the halo's mass and by four *drivers* at fixed
mass, each a standard-normal number computed exactly from the five features:

- ``u_c`` concentration, ``u_s`` spin, ``u_z`` age (z_1/2): the halo latents of
  :mod:`hgtools.universe.haloes`, recovered by inverting their marginal laws;
- ``u_d`` environment: log10(delta_3 + 0.5), standardised at fixed mass.

At fixed halo, the galaxy belongs to one of three populations:

========  =====================================================  ==================================
``sf``    star-forming: blue cloud, main-sequence sSFR            probability 1 - p_q
``q``     quenched with SFR > 0: red sequence, low sSFR           p_q (1 - p_0)
``q0``    quenched with SFR = 0 (sSFR from the catalogue's        p_q p_0
          zero-SFR recipe, independent of everything)
========  =====================================================  ==================================

with ``logit p_q = quench + quench_c u_c + quench_s u_s + quench_z u_z + quench_d u_d`` and
``logit p_0 = zero_sfr``.  Inside a population the four properties (log M*, log sSFR,
log R, g - i) are jointly Gaussian: mean

    mean_<population>_<property>(M_h) + sum over drivers of slope_<property>_<driver>(M_h) x driver

(stellar mass and radius have one mean for all populations), standard deviations
``scatter_*`` and one correlation matrix ``corr_*`` (six pairs) shared by the
populations.  Every parameter is given at the calibration knots in log10 M_h and
interpolated linearly between them (held constant outside), so the law is smooth
in mass and its secondary dependences may change with mass.

The law is exact in closed form: :mod:`hgtools.universe.oracle` gives the mean,
the covariance, draws and the log-density of the galaxies of a halo after the
study's selection log10 M* >= 8.75.

Units: M_h and M* log10 [Msun/h]; sSFR log10 [h/yr]; radius log10 [kpc/h]; colour [mag].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hgtools.catalogue import TARGETS, ZERO_SFR_MEAN, ZERO_SFR_SIGMA
from hgtools.universe.haloes import HaloModel, latents_of

#: The four drivers at fixed mass, in the order of the slope parameters.
DRIVERS = ("u_c", "u_s", "u_z", "u_d")
#: The three populations, in the order of :func:`components`.
POPULATIONS = ("sf", "q", "q0")
#: Pairs of properties, in the order of the correlation parameters.
PAIRS = tuple((a, b) for i, a in enumerate(TARGETS) for b in TARGETS[i + 1:])
#: Properties whose mean and scatter differ between star-forming and quenched galaxies.
BIMODAL = ("sSFR", "color")


def parameter_names() -> tuple[str, ...]:
    """Names of the per-knot parameters of the law, in file order."""
    names = ["env_mean", "env_std", "quench", *(f"quench_{d[2:]}" for d in DRIVERS), "zero_sfr",
             "mean_stellar_mass", "mean_radius"]
    names += [f"mean_{p}_{t}" for t in BIMODAL for p in ("sf", "q")]
    names += [f"slope_{t}_{d[2:]}" for t in TARGETS for d in DRIVERS]
    names += ["scatter_stellar_mass", "scatter_radius"]
    names += [f"scatter_{p}_{t}" for t in BIMODAL for p in ("sf", "q")]
    names += [f"corr_{a}_{b}" for a, b in PAIRS]
    return tuple(names)


#: What each parameter means and its unit (shown by the appendix and checked by the loader).
PARAMETER_DOCS: dict[str, str] = {
    "env_mean": "mean of log10(delta_3 + 0.5) at fixed mass (defines u_d)",
    "env_std": "standard deviation of log10(delta_3 + 0.5) at fixed mass (defines u_d)",
    "quench": "logit of the quenched probability for a typical halo (all drivers 0)",
    **{f"quench_{d[2:]}": f"change of that logit per unit {d}" for d in DRIVERS},
    "zero_sfr": "logit of the probability that a quenched galaxy has SFR = 0",
    "mean_stellar_mass": "log10 M* [Msun/h] of a typical halo, before the selection",
    "mean_radius": "log10 R [kpc/h] of a typical halo",
    **{f"mean_{p}_{t}": f"{t} of {'star-forming' if p == 'sf' else 'quenched'} galaxies of a typical halo "
       f"[{'log10 h/yr' if t == 'sSFR' else 'mag'}]" for t in BIMODAL for p in ("sf", "q")},
    **{f"slope_{t}_{d[2:]}": f"change of {t} per unit {d} (all populations)" for t in TARGETS for d in DRIVERS},
    "scatter_stellar_mass": "standard deviation of log10 M* at fixed halo [dex]",
    "scatter_radius": "standard deviation of log10 R at fixed halo [dex]",
    **{f"scatter_{p}_{t}": f"standard deviation of {t} of {'star-forming' if p == 'sf' else 'quenched'} "
       "galaxies at fixed halo" for t in BIMODAL for p in ("sf", "q")},
    **{f"corr_{a}_{b}": f"correlation of {a} and {b} at fixed halo, inside a population" for a, b in PAIRS},
}


class ParameterError(ValueError):
    """A parameter of the universe is missing, malformed or out of its range."""


@dataclass(frozen=True)
class GalaxyLaw:
    """The galaxy law: per-knot parameters (see :data:`PARAMETER_DOCS`) at the knots ``knots``."""

    knots: tuple[float, ...]
    """log10 M_h [Msun/h] of the calibration knots (increasing)."""
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """One value per knot for every name of :func:`parameter_names`."""

    def __post_init__(self):
        knots = np.asarray(self.knots, float)
        if knots.ndim != 1 or knots.size < 1 or not np.all(np.isfinite(knots)) or np.any(np.diff(knots) <= 0):
            raise ParameterError(f"law knots must be finite and increasing, got {list(self.knots)}")
        missing = [n for n in parameter_names() if n not in self.values]
        unknown = [n for n in self.values if n not in PARAMETER_DOCS]
        if missing or unknown:
            raise ParameterError(f"law parameters: missing {missing}, unknown {unknown}")
        for name, value in self.values.items():
            v = np.asarray(value, float)
            if v.shape != knots.shape or not np.all(np.isfinite(v)):
                raise ParameterError(f"law parameter {name!r} needs {knots.size} finite values, got {list(value)}")
            if (name.startswith("scatter_") or name == "env_std") and np.any(v <= 0):
                raise ParameterError(f"law parameter {name!r} must be positive, got {list(value)}")
            if name.startswith("corr_") and np.any(np.abs(v) >= 1):
                raise ParameterError(f"law parameter {name!r} must lie in (-1, 1), got {list(value)}")
        eig = np.linalg.eigvalsh(self._correlation(knots))
        if np.any(eig <= 1e-6):
            bad = [float(k) for k, e in zip(knots, eig.min(axis=1)) if e <= 1e-6]
            raise ParameterError(f"law correlations corr_* are not a valid correlation matrix at knots {bad}")

    def at(self, name: str, log_mass: np.ndarray) -> np.ndarray:
        """Parameter ``name`` at the masses ``log_mass`` (linear interpolation between knots)."""
        return np.interp(np.asarray(log_mass, float), self.knots, self.values[name])

    def _correlation(self, log_mass: np.ndarray) -> np.ndarray:
        corr = np.broadcast_to(np.eye(len(TARGETS)), np.shape(log_mass) + (len(TARGETS),) * 2).copy()
        for a, b in PAIRS:
            i, j = TARGETS.index(a), TARGETS.index(b)
            corr[..., i, j] = corr[..., j, i] = self.at(f"corr_{a}_{b}", log_mass)
        return corr

    def to_dict(self) -> dict:
        """Plain data (for the parameter file and the catalogue's metadata)."""
        return {"knots": [float(k) for k in self.knots],
                "values": {n: [float(v) for v in self.values[n]] for n in parameter_names()}}

    @classmethod
    def from_dict(cls, data: dict) -> GalaxyLaw:
        """Inverse of :meth:`to_dict`; a :class:`ParameterError` names what is wrong."""
        if not isinstance(data, dict) or "knots" not in data or "values" not in data:
            raise ParameterError("the law needs 'knots' and 'values'")
        return cls(knots=tuple(data["knots"]), values={k: tuple(v) for k, v in dict(data["values"]).items()})


def drivers(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel) -> np.ndarray:
    """The four drivers (u_c, u_s, u_z, u_d) of each halo, shape (N, 4), from the five features."""
    m = features["M_h"].to_numpy(float)
    env = np.log10(features["Delta3_h"].to_numpy(float) + 0.5)
    u_d = (env - law.at("env_mean", m)) / law.at("env_std", m)
    return np.column_stack([latents_of(features, halos), u_d])


@dataclass(frozen=True)
class Components:
    """The law's Gaussian mixture for N haloes, before the selection on stellar mass.

    ``weights`` (N, 3): probability of each population (:data:`POPULATIONS`);
    ``means`` (N, 3, 4) and ``covariances`` (N, 3, 4, 4) of (M*, sSFR, R, colour) in each,
    in catalogue units (the SFR = 0 population carries the zero-SFR recipe's sSFR).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def mixture(log_mass: np.ndarray, u: np.ndarray, at) -> Components:
    """The mixture for haloes of mass ``log_mass`` and drivers ``u`` (N, 4).

    ``at(name, log_mass)`` gives a law parameter at each mass (e.g. :meth:`GalaxyLaw.at`).
    """
    m = np.asarray(log_mass, float)
    n = len(m)
    logit = at("quench", m) + sum(at(f"quench_{d[2:]}", m) * u[:, i] for i, d in enumerate(DRIVERS))
    p_q = 1.0 / (1.0 + np.exp(-logit))
    p_0 = 1.0 / (1.0 + np.exp(-at("zero_sfr", m)))
    weights = np.column_stack([1.0 - p_q, p_q * (1.0 - p_0), p_q * p_0])
    means = np.empty((n, 3, 4))
    scatter = np.empty((n, 3, 4))
    for j, t in enumerate(TARGETS):
        shift = sum(at(f"slope_{t}_{d[2:]}", m) * u[:, i] for i, d in enumerate(DRIVERS))
        for k, pop in enumerate(POPULATIONS):
            key = t if t not in BIMODAL else f"{'sf' if pop == 'sf' else 'q'}_{t}"
            means[:, k, j] = at(f"mean_{key}", m) + shift
            scatter[:, k, j] = at(f"scatter_{key}", m)
    corr = np.zeros((n, 3, 4, 4))
    corr[..., range(4), range(4)] = 1.0
    for a, b in PAIRS:
        i, j = TARGETS.index(a), TARGETS.index(b)
        corr[..., i, j] = corr[..., j, i] = at(f"corr_{a}_{b}", m)[:, None]
    s = TARGETS.index("sSFR")
    means[:, 2, s] = ZERO_SFR_MEAN
    scatter[:, 2, s] = ZERO_SFR_SIGMA
    corr[:, 2, s, :] = corr[:, 2, :, s] = 0.0
    corr[:, 2, s, s] = 1.0
    return Components(weights, means, corr * scatter[..., :, None] * scatter[..., None, :])


def components(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel) -> Components:
    """The mixture of each halo's galaxy (see the module docstring)."""
    return mixture(features["M_h"].to_numpy(float), drivers(features, law, halos), law.at)


def sample_galaxies(features: pd.DataFrame, law: GalaxyLaw, halos: HaloModel,
                    rng: np.random.Generator) -> pd.DataFrame:
    """One galaxy per halo from the law, before any selection.

    Returns ``stellar_mass``, ``sSFR`` (``-inf`` where SFR = 0: the catalogue's
    recipe gives those their value), ``sfr_zero``, ``radius`` and ``color``.
    """
    comp = components(features, law, halos)
    n = len(features)
    pick = (rng.random(n)[:, None] > np.cumsum(comp.weights, axis=1)).sum(axis=1).clip(0, 2)
    rows = np.arange(n)
    chol = np.linalg.cholesky(comp.covariances[rows, pick])
    y = comp.means[rows, pick] + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, 4)))
    zero = pick == 2
    y[zero, TARGETS.index("sSFR")] = -np.inf
    out = pd.DataFrame(y, columns=list(TARGETS), index=features.index)
    out.insert(2, "sfr_zero", zero)
    return out


__all__ = ["BIMODAL", "Components", "DRIVERS", "GalaxyLaw", "PAIRS", "PARAMETER_DOCS", "POPULATIONS",
           "ParameterError", "components", "drivers", "mixture", "parameter_names", "sample_galaxies"]
