"""Calibrate the embedded universe to TNG300-1's law tables.

>>> from hgtools.universe.calibration import calibrate
>>> result = calibrate()                 # doctest: +SKIP  (35-45 minutes at full size on 2 cores)
>>> result.report                        # doctest: +SKIP  (every target: TNG300 vs fit)

Steps, all seeded and deterministic:

1. **Knots**: the mean log10 M_h of each M_h bin of the reference tables.
2. **Haloes**: the Spearman correlations of C_h, S_h and z_h at fixed mass
   (``halo_feature_correlations``) are turned into the Pearson correlations of the
   Gaussian latents (r = 2 sin(pi rho / 6), exact for a Gaussian copula: each feature is
   a monotonic function of its latent); the baryonic mass shift is set so that the mass
   range where every halo hosts a selected galaxy (:data:`COMPLETE_RANGE`) holds TNG300-1's
   number of galaxies there.
3. **Haloes**: the universe's haloes are generated with those correlations (the same
   draws as the default universe of that seed), and the environment driver is
   standardised per bin (mean and deviation of log10(delta_3 + 0.5)).
4. **Law**: :func:`scipy.optimize.least_squares` fits every per-knot parameter of
   :class:`~hgtools.universe.law.GalaxyLaw` so that the law's *exact* conditional
   moments (:mod:`hgtools.universe.oracle`), averaged over the haloes of each bin with
   their selection probabilities, reproduce per bin: the number of selected galaxies and the
   Spearman correlations of the selected haloes' four secondary features (both in the bins
   below :data:`COMPLETE_RANGE`, where the selection removes haloes), the mean of each
   property, its quartile slopes on the four secondary features, the intrinsic scatter
   (except where the reference measures its own treatment of SFR = 0:
   :func:`hgtools.reference.beyond_zero_sfr_recipe`), the residual correlations and the
   quenched fraction — and, over the whole sample, TNG300's 14 % of galaxies with SFR = 0 and
   the standard deviations and correlations of the four properties in the study's catalogue
   (:data:`hgtools.reference.TNG300_SAMPLE`, :data:`hgtools.reference.TNG300_CORRELATIONS`:
   the tables alone imply a sample a few hundredths away from them, :func:`sample_spreads`).
   Residuals are in units of the goals of the calibration (:data:`TOLERANCE`); parameters
   stay in physical ranges (:data:`RANGES`) and a light smoothness penalty across knots
   keeps the law readable.  The Jacobian is exact where it matters
   (:meth:`_Problem.jacobian`): a parameter moves the bins next to its knot only, and the
   whole-sample rows follow from the bins' moments by the chain rule.
5. **Rounds**: steps 3 and 4 are repeated with the latent correlations and the
   concentration assembly bias moved by what the selection changed (:func:`calibrate`).

The result is the parameter file the generator reads
(:data:`hgtools.universe.parameters.PARAMETERS_FILE`) and a report of every target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats

from hgtools.catalogue import LOG_STELLAR_MASS_MIN, TARGETS
from hgtools.config import DEFAULT_SEED, TNG300_BOX_SIZE
from hgtools.diagnostics import QUENCHED_SSFR, SECONDARY, pooled_moments  # SECONDARY follows the order of DRIVERS
from hgtools.reference import (TNG300_CORRELATIONS, TNG300_N_GALAXIES, TNG300_SAMPLE, TNG300_ZERO_SFR_FRACTION,
                               beyond_zero_sfr_recipe, tng300_law)
from hgtools.universe.haloes import HaloModel, expected_counts, generate_halos, latents_of
from hgtools.universe.law import DRIVERS, PAIRS, GalaxyLaw, mixture, parameter_names
from hgtools.universe.oracle import mixture_moments

#: What one unit of a residual means, per family of targets (the calibration's goals, tightened).
TOLERANCE = {"mean": 0.02, "slope": 0.03, "scatter": 0.03, "corr": 0.03, "quenched": 0.01, "count": 0.02,
             "zero": 0.005, "halo": 0.03, "sample": 0.0075}
#: Standard deviations of the four properties in the study's TNG300-1 sample (units of TARGETS).
_SAMPLE_STD = np.array([TNG300_SAMPLE[t][1] for t in TARGETS])
#: Physical ranges of the fitted parameters (the populations must stay what they are named: a
#: main sequence and blue cloud, a quenched sequence between the zero-SFR recipe and the
#: sSFR cut, a red sequence).  Units as in :data:`hgtools.universe.law.PARAMETER_DOCS`.
RANGES = {"quench": (-12.0, 12.0), "quench_": (-4.0, 4.0), "zero_sfr": (-3.0, 5.0),
          "mean_sf_sSFR": (-11.0, -9.5), "mean_q_sSFR": (-12.8, -11.2),
          "scatter_sf_sSFR": (0.15, 0.7), "scatter_q_sSFR": (0.15, 1.0),
          "mean_sf_color": (0.2, 0.9), "mean_q_color": (0.95, 1.3),
          "scatter_sf_color": (0.03, 0.3), "scatter_q_color": (0.02, 0.12),
          "scatter_": (0.02, 0.5), "corr_": (-0.9, 0.9),
          "slope_stellar_mass_": (-0.3, 0.3), "slope_sSFR_": (-0.2, 0.2), "slope_radius_": (-0.2, 0.2),
          "slope_color_": (-0.15, 0.15)}
#: Pairs of secondary halo features whose Spearman correlations are targets, in the order of the tables.
HALO_PAIRS = tuple(f"{a}~{b}" for a, b in combinations(SECONDARY, 2))
#: The pairs of halo latents whose correlations the haloes take from the tables (u_c, u_s, u_z).
LATENT_PAIRS = {"C_h~S_h": "corr_c_s", "C_h~z_h": "corr_c_z", "S_h~z_h": "corr_s_z"}
#: Range of the concentration assembly bias (fractional change of the bias per unit u_c) the
#: rounds may set.
ASSEMBLY_BIAS_RANGE = (0.0, 0.3)
#: Largest enlargement of a bin's subsample in the fit (where few of its haloes are selected).
MAX_SUBSAMPLE_FACTOR = 10.0
#: Parameters fixed during the least-squares fit (set by step 3).
FIXED = ("env_mean", "env_std")
#: log10 M_h [Msun/h] range where every halo hosts a selected galaxy: its TNG300-1 galaxy count
#: (the study's total less the tables' counts of the lighter bins) fixes the baryonic mass shift
#: (the mass function, not the law).
COMPLETE_RANGE = (11.5, 15.5)
#: Per-knot parameters that the lightest knot shares with its neighbour (no scatter table there).
TIED_AT_FIRST_KNOT = ("scatter_radius", "scatter_sf_sSFR", "scatter_sf_color",
                      *(f"corr_{a}_{b}" for a, b in PAIRS))


def spearman_to_pearson(rho: np.ndarray) -> np.ndarray:
    """Pearson correlation of a bivariate Gaussian with Spearman correlation ``rho``."""
    return 2.0 * np.sin(np.pi * np.asarray(rho, float) / 6.0)


def _bins(labels) -> list[tuple[str, float, float]]:
    out = sorted({str(b) for b in labels}, key=lambda b: float(b.split("-")[0]))
    return [(b, float(b.split("-")[0]), float(b.split("-")[1])) for b in out]


@dataclass(frozen=True)
class Targets:
    """The reference figures per M_h bin, as arrays (bins in increasing mass)."""

    bins: list[tuple[str, float, float]]
    knots: np.ndarray
    mean: np.ndarray            # (B, 4)
    slope: np.ndarray           # (B, 4 features, 4 targets), per unit of the feature
    scatter: np.ndarray         # (B, 4), NaN where the table has no entry
    fitted_scatter: np.ndarray  # (B, 4) bool: False beyond the zero-SFR recipe (reference.beyond_zero_sfr_recipe)
    corr: np.ndarray            # (B, 6)
    quenched: np.ndarray        # (B,)
    count: np.ndarray           # (B,) selected galaxies per TNG300-1 volume
    halo_corr: dict[str, np.ndarray]  # Spearman correlation per bin, for each pair of HALO_PAIRS


def reference_targets() -> Targets:
    """Read the shipped TNG300-1 law tables into :class:`Targets`."""
    means = tng300_law("law_means")
    bins = _bins(means["M_h_bin"])
    allrows = means[(means["feature"] == "all") & (means["target"] == TARGETS[0])].set_index("M_h_bin")
    knots = np.array([allrows.loc[b, "feature_mean"] for b, _, _ in bins])
    scat, resid = tng300_law("scatter"), tng300_law("residual_correlations")
    hcorr = tng300_law("halo_feature_correlations")
    B = len(bins)
    mean, scatter = np.full((B, 4), np.nan), np.full((B, 4), np.nan)
    fitted_scatter = np.ones((B, 4), bool)
    scat = scat.assign(beyond=beyond_zero_sfr_recipe(scat))
    slope, corr, quenched = np.full((B, 4, 4), np.nan), np.full((B, 6), np.nan), np.full(B, np.nan)
    for i, (b, _, _) in enumerate(bins):
        cell = means[means["M_h_bin"] == b]
        for j, t in enumerate(TARGETS):
            mean[i, j] = cell[(cell["feature"] == "all") & (cell["target"] == t)]["mean_lgbm"].iloc[0]
            for f, feat in enumerate(SECONDARY):
                q = cell[(cell["feature"] == feat) & (cell["target"] == t)].set_index("quartile")
                slope[i, f, j] = ((q.loc[4, "mean_lgbm"] - q.loc[1, "mean_lgbm"])
                                  / (q.loc[4, "feature_mean"] - q.loc[1, "feature_mean"]))
            s = scat[(scat["M_h_bin"] == b) & (scat["target"] == t)]
            if len(s):
                scatter[i, j] = s["std_intrinsic"].iloc[0]
                fitted_scatter[i, j] = not s["beyond"].iloc[0]
                if t == "sSFR":
                    quenched[i] = s["quenched_fraction"].iloc[0]
        for p, (a, c) in enumerate(PAIRS):
            r = resid[(resid["M_h_bin"] == b) & (resid["pair"] == f"{a}~{c}")]
            if len(r):
                corr[i, p] = r["resid_corr"].iloc[0]
    haloes = tng300_law("halo_features")
    haloes = haloes[haloes["feature"] == "C_h"].set_index("M_h_bin")
    count = np.array([haloes.loc[b, "fraction"] for b, _, _ in bins]) * TNG300_N_GALAXIES
    halo_corr = {}
    for pair in HALO_PAIRS:
        rows = hcorr[hcorr["pair"] == pair].set_index("M_h_bin")
        halo_corr[pair] = np.array([rows.loc[b, "spearman"] for b, _, _ in bins])
    return Targets(bins, knots, mean, slope, scatter, fitted_scatter, corr, quenched, count, halo_corr)


def halo_model(targets: Targets, base: HaloModel | None = None,
               corrections: dict[str, np.ndarray] | None = None) -> HaloModel:
    """The halo model calibrated to the reference (fields not calibrated come from ``base``).

    The latent correlations follow TNG300-1's Spearman correlations at each knot, plus
    ``corrections`` (per pair of :data:`LATENT_PAIRS`, per knot, in units of the latent
    correlation: what the selection of the galaxies takes away, see :func:`calibrate`); the
    baryonic mass shift is the one that puts TNG300-1's number of galaxies (per TNG300-1
    volume) in :data:`COMPLETE_RANGE` (a root find on the mass function's expected counts).
    """
    corrections = corrections or {}
    r = {pair: tuple(float(v) for v in np.clip(spearman_to_pearson(targets.halo_corr[pair])
                                               + corrections.get(pair, 0.0), -0.95, 0.95))
         for pair in LATENT_PAIRS}
    knots = tuple(float(k) for k in targets.knots)
    fields = {"knots": knots, **{name: r[pair] for pair, name in LATENT_PAIRS.items()}}
    model = HaloModel(**fields) if base is None else replace(base, **fields)
    complete = [i for i, (_, lo, hi) in enumerate(targets.bins) if lo >= COMPLETE_RANGE[0] and hi <= COMPLETE_RANGE[1]]
    edges = np.array([targets.bins[complete[0]][1], targets.bins[complete[-1]][2]])
    wanted = targets.count[complete].sum()

    def excess(shift):
        return expected_counts(replace(model, baryon_shift=shift), TNG300_BOX_SIZE**3, edges)[0] - wanted

    return replace(model, baryon_shift=round(float(optimize.brentq(excess, -0.4, 0.2, xtol=1e-5)), 5))


def weighted_rank_correlations(features: np.ndarray, weights: np.ndarray,
                               orders: list[np.ndarray] | None = None) -> np.ndarray:
    """Spearman correlations of every pair of columns of ``features`` in a weighted sample.

    Each row counts ``weights`` times (here: its probability of being selected), so the
    result is the Spearman correlation the selected galaxies' haloes will show.  Ranks are
    weighted mid-ranks (the weight below a row plus half its own); with equal weights this
    is :func:`scipy.stats.spearmanr` (no ties).

    Parameters
    ----------
    features : numpy.ndarray
        Shape (N, F).
    weights : numpy.ndarray
        Shape (N,), non-negative, not all zero.
    orders : list of numpy.ndarray, optional
        ``argsort`` of each column (given when the same features are ranked many times).

    Returns
    -------
    numpy.ndarray
        The F (F - 1) / 2 correlations, pairs in the order of :func:`itertools.combinations`.
    """
    total = weights.sum()
    ranks = np.empty(features.shape, float)
    for f in range(features.shape[1]):
        order = np.argsort(features[:, f], kind="stable") if orders is None else orders[f]
        ranks[order, f] = (np.cumsum(weights[order]) - 0.5 * weights[order]) / total
    centred = ranks - weights @ ranks / total
    cov = np.einsum("n,ni,nj->ij", weights, centred, centred) / total
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    return np.array([corr[a, b] for a, b in combinations(range(features.shape[1]), 2)])


def sample_spreads(statistics: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations of the four properties over the whole selected sample, and their correlations.

    Pools the bins of :meth:`_Problem.statistics` (each bin's selected galaxies, mean and
    total covariance: the law's scatter plus the spread of its conditional means), exactly.

    Returns
    -------
    spread : numpy.ndarray
        Shape (4,), in the units of :data:`hgtools.catalogue.TARGETS`.
    corr : numpy.ndarray
        The Pearson correlations of the pairs of :data:`hgtools.reference.TNG300_CORRELATIONS`, in that order.
    """
    cov = pooled_moments(statistics["weight"], statistics["mean"], statistics["total"])[1]
    spread = np.sqrt(np.diag(cov))
    corr = np.array([cov[TARGETS.index(a), TARGETS.index(b)] / (spread[TARGETS.index(a)] * spread[TARGETS.index(b)])
                     for a, b in TNG300_CORRELATIONS])
    return spread, corr


# ---------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------

class _Problem:
    """Haloes of the fit (a per-bin subsample) and the map between parameter vectors and laws."""

    def __init__(self, halos: pd.DataFrame, model: HaloModel, targets: Targets, fixed: dict[str, np.ndarray],
                 per_bin: int | np.ndarray, seed: int, box_size: float = TNG300_BOX_SIZE):
        rng = np.random.default_rng(seed)
        self.targets = targets
        self.volume_ratio = (float(box_size) / TNG300_BOX_SIZE) ** 3
        # galaxy counts constrain the law only where the selection removes haloes
        self.incomplete = np.array([hi <= COMPLETE_RANGE[0] for _, _, hi in targets.bins], float)
        m = halos["M_h"].to_numpy()
        chosen, self.bin_of, self.haloes_per_row = [], [], []
        sizes = np.broadcast_to(np.asarray(per_bin, int), (len(targets.bins),))
        for i, (_, lo, hi) in enumerate(targets.bins):
            inside = np.flatnonzero((m >= lo) & (m < hi))
            self.haloes_per_row.append(inside.size / max(min(inside.size, sizes[i]), 1))
            if inside.size > sizes[i]:
                inside = np.sort(rng.choice(inside, sizes[i], replace=False))
            chosen.append(inside)
            self.bin_of.append(np.full(inside.size, i))
        rows = np.concatenate(chosen)
        self.bin_of = np.concatenate(self.bin_of)
        sub = halos.iloc[rows]
        self.m = sub["M_h"].to_numpy()
        self.features = sub[list(SECONDARY)].to_numpy()
        env = np.log10(sub["Delta3_h"].to_numpy() + 0.5)
        knots = targets.knots
        u_d = (env - np.interp(self.m, knots, fixed["env_mean"])) / np.interp(self.m, knots, fixed["env_std"])
        self.u = np.column_stack([latents_of(sub, model), u_d])
        # hat functions of the knots: value at each halo = H @ per-knot values
        K = len(knots)
        self.H = np.stack([np.interp(self.m, knots, np.eye(K)[k]) for k in range(K)], axis=1)
        self.order = [[np.argsort(self.features[self.bin_of == i, f]) for f in range(4)]
                      for i in range(len(targets.bins))]
        self.halo_targets = np.column_stack([targets.halo_corr[pair] for pair in HALO_PAIRS])
        #: Variance of a rank correlation of the subsample's selected galaxies (1 / effective number),
        #: per bin; set from a starting law by :func:`calibrate` (zero: no noise allowance).
        self.halo_noise = np.zeros(len(targets.bins))
        self.fixed = fixed
        self.free = [n for n in parameter_names() if n not in FIXED]
        self.layout: list[tuple[str, int]] = [(n, k) for n in self.free for k in range(K)
                                              if not (k == 0 and n in TIED_AT_FIRST_KNOT)]

    # --- parameter vectors ------------------------------------------------
    def values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-knot values of every law parameter for the vector ``x``."""
        K = len(self.targets.knots)
        out = {n: np.array(v, float) for n, v in self.fixed.items()}
        for n in self.free:
            out[n] = np.zeros(K)
        for (n, k), v in zip(self.layout, x):
            out[n][k] = v
        for n in TIED_AT_FIRST_KNOT:
            out[n][0] = out[n][1]
        return _valid_correlations(out)

    def vector(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`values`."""
        return np.array([values[n][k] for n, k in self.layout])

    # --- statistics ---------------------------------------------------------
    def statistics(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per bin: mean, quartile differences, scatter, residual correlations, quenched and zero-SFR fractions."""
        def at(name, _m):
            return self.H @ values[name]

        comp = mixture(self.m, self.u, at)
        log_keep, means, covs, w, mean, cov = mixture_moments(comp, LOG_STELLAR_MASS_MIN)
        keep = np.exp(special.logsumexp(log_keep, b=comp.weights, axis=1))
        s = TARGETS.index("sSFR")
        below = stats.norm.cdf((QUENCHED_SSFR - means[..., s]) / np.sqrt(covs[..., s, s]))
        quenched = (w * below).sum(axis=1)
        B = len(self.targets.bins)
        out = {"mean": np.zeros((B, 4)), "delta": np.zeros((B, 4, 4)), "dfeature": np.zeros((B, 4)),
               "scatter": np.zeros((B, 4)), "corr": np.zeros((B, 6)), "quenched": np.zeros(B),
               "zero": np.zeros(B), "weight": np.zeros(B), "halo_corr": np.zeros((B, len(HALO_PAIRS))),
               "ess": np.zeros(B), "total": np.zeros((B, 4, 4))}
        for i in range(B):
            inside = self.bin_of == i
            k, e, c = keep[inside], mean[inside], cov[inside]
            total = k.sum()
            out["weight"][i] = total * self.haloes_per_row[i]  # selected galaxies in the whole bin
            out["ess"][i] = total**2 / (k @ k)  # selected galaxies the fit's subsample stands for
            out["mean"][i] = k @ e / total
            var = np.einsum("n,nij->ij", k, c) / total
            out["scatter"][i] = np.sqrt(np.diag(var))
            spread = e - out["mean"][i]
            out["total"][i] = var + np.einsum("n,ni,nj->ij", k, spread, spread) / total
            out["corr"][i] = [var[TARGETS.index(a), TARGETS.index(b)]
                              / np.sqrt(var[TARGETS.index(a), TARGETS.index(a)] * var[TARGETS.index(b), TARGETS.index(b)])
                              for a, b in PAIRS]
            out["quenched"][i] = k @ quenched[inside] / total
            out["zero"][i] = k @ w[inside, 2] / total
            feats = self.features[inside]
            out["halo_corr"][i] = weighted_rank_correlations(feats, k, self.order[i])
            for f in range(4):
                order = self.order[i][f]
                cw = np.cumsum(k[order]) / total
                low, high = order[cw <= 0.25], order[cw > 0.75]
                kl, kh = k[low], k[high]
                out["delta"][i, f] = kh @ e[high] / kh.sum() - kl @ e[low] / kl.sum()
                out["dfeature"][i, f] = kh @ feats[high, f] / kh.sum() - kl @ feats[low, f] / kl.sum()
        return out

    def _local(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The residuals of each bin and of the parameters' smoothness; and each bin's selected galaxies, SFR = 0
        fraction, mean and total covariance (upper triangle), for :meth:`_sample`."""
        values = self.values(x)
        st, tg = self.statistics(values), self.targets
        parts = [((st["mean"] - tg.mean) / _SAMPLE_STD / TOLERANCE["mean"]).ravel(),
                 ((st["delta"] - tg.slope * st["dfeature"][:, :, None]) / _SAMPLE_STD / TOLERANCE["slope"]).ravel(),
                 (np.nan_to_num((st["scatter"] / tg.scatter - 1.0) / TOLERANCE["scatter"])
                  * tg.fitted_scatter).ravel(),
                 np.nan_to_num((st["corr"] - tg.corr) / TOLERANCE["corr"]).ravel(),
                 np.nan_to_num((st["quenched"] - tg.quenched) / TOLERANCE["quenched"]),
                 np.log(st["weight"] / (tg.count * self.volume_ratio)) / TOLERANCE["count"] * self.incomplete,
                 ((st["halo_corr"] - self.halo_targets) * self.incomplete[:, None]
                  / np.sqrt(TOLERANCE["halo"]**2 + self.halo_noise[:, None])).ravel()]
        # light smoothness across knots and a ridge on the quenching slopes
        for n in self.free:
            parts.append(np.diff(values[n], 2) / _smoothness_scale(n))
        parts.append(np.concatenate([values[f"quench_{d[2:]}"] for d in DRIVERS]) / 2.0)
        upper = np.triu_indices(len(TARGETS))
        moments = np.concatenate([st["weight"], st["zero"], st["mean"].ravel(),
                                  st["total"][:, upper[0], upper[1]].ravel()])
        return np.concatenate(parts), moments

    def _sample(self, moments: np.ndarray) -> np.ndarray:
        """The residuals of the whole sample (SFR = 0 fraction, spreads, correlations) from the bins' moments."""
        B, T = len(self.targets.bins), len(TARGETS)
        weight, zero = moments[:B], moments[B:2 * B]
        upper = np.triu_indices(T)
        total = np.zeros((B, T, T))
        total[:, upper[0], upper[1]] = moments[2 * B + B * T:].reshape(B, -1)
        total = total + np.swapaxes(np.triu(total, 1), 1, 2)
        spread, corr = sample_spreads({"weight": weight, "mean": moments[2 * B:2 * B + B * T].reshape(B, T),
                                       "total": total})
        return np.concatenate([[(np.average(zero, weights=weight) - TNG300_ZERO_SFR_FRACTION) / TOLERANCE["zero"]],
                               (spread / _SAMPLE_STD - 1.0) / TOLERANCE["sample"],
                               (corr - np.array(list(TNG300_CORRELATIONS.values()))) / TOLERANCE["sample"]])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        local, moments = self._local(x)
        return np.concatenate([local, self._sample(moments)])

    def jacobian(self, x: np.ndarray) -> sparse.csr_matrix:
        """The Jacobian of :meth:`residuals` by forward differences, exact in its sparsity.

        A parameter moves the rows of the bins next to its knot only, so columns
        that share no row share one evaluation (:meth:`sparsity`); the
        whole-sample rows, which every parameter moves, follow from the bins'
        moments by the chain rule (their derivatives by the moments are cheap).
        """
        hi = self.bounds()[1]
        local, moments = self._local(x)
        base = np.concatenate([local, moments])
        pattern = self.sparsity()
        rows, cols, values = [], [], []
        for group in _column_groups(pattern):
            h = 1e-7 * np.maximum(1.0, np.abs(x[group]))
            h = np.where(x[group] + h > hi[group], -h, h)  # stay inside the bounds
            step = np.zeros_like(x)
            step[group] = h
            diff = np.concatenate(self._local(x + step)) - base
            for col, hc in zip(group, h):
                touched = pattern.indices[pattern.indptr[col]:pattern.indptr[col + 1]]
                rows.append(touched)
                cols.append(np.full(touched.size, col))
                values.append(diff[touched] / hc)
        jac = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                                shape=pattern.shape)
        n_local = len(local)
        sample = self._sample(moments)
        by_moment = np.empty((len(sample), len(moments)))
        for j in range(len(moments)):
            dm = 1e-7 * max(1.0, abs(moments[j]))
            bumped = moments.copy()
            bumped[j] += dm
            by_moment[:, j] = (self._sample(bumped) - sample) / dm
        return sparse.vstack([jac[:n_local], sparse.csr_matrix(by_moment @ jac[n_local:].toarray())]).tocsr()

    def sparsity(self) -> sparse.csc_matrix:
        """Which of :meth:`_local`'s rows (residuals, then moments) each parameter moves: the bins next to its knot."""
        B, K = len(self.targets.bins), len(self.targets.knots)
        T = len(TARGETS)
        rows_of_bin = [[] for _ in range(B)]

        def blocks(start, sizes):
            for size in sizes:
                for i in range(B):
                    rows_of_bin[i].extend(range(start + i * size, start + (i + 1) * size))
                start += B * size
            return start

        smooth_start = blocks(0, [4, 16, 4, 6, 1, 1, len(HALO_PAIRS)])
        smooth_rows = {n: list(range(smooth_start + j * (K - 2), smooth_start + (j + 1) * (K - 2)))
                       for j, n in enumerate(self.free)}
        ridge_start = smooth_start + len(self.free) * (K - 2)
        end = blocks(ridge_start + 4 * K, [1, 1, T, T * (T + 1) // 2])  # the moments of :meth:`_local`
        mat = sparse.lil_matrix((end, len(self.layout)), dtype=np.int8)
        for col, (n, k) in enumerate(self.layout):
            knots = [0, 1] if (k == 1 and n in TIED_AT_FIRST_KNOT) else [k]
            for kk in knots:
                for i in range(max(kk - 1, 0), min(kk + 2, B)):
                    for r in rows_of_bin[i]:
                        mat[r, col] = 1
                # row j of the second differences involves knots j, j + 1, j + 2
                for j in range(max(kk - 2, 0), min(kk, K - 3) + 1):
                    mat[smooth_rows[n][j], col] = 1
            if n.startswith("quench_"):
                d = [f"quench_{d[2:]}" for d in DRIVERS].index(n)
                mat[ridge_start + d * K + k, col] = 1
        return mat.tocsc()

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the vector (:data:`RANGES`; exact names before prefixes)."""
        def limits(name):
            if name in RANGES:
                return RANGES[name]
            return next((r for prefix, r in RANGES.items() if prefix.endswith("_") and name.startswith(prefix)),
                        (-np.inf, np.inf))

        lo, hi = np.array([limits(n) for n, _ in self.layout]).T
        return lo, hi


def _column_groups(pattern: sparse.csc_matrix) -> list[np.ndarray]:
    """Columns of a sparsity pattern in groups that share no row (greedy, in column order)."""
    groups, used = [], []
    for col in range(pattern.shape[1]):
        rows = set(pattern.indices[pattern.indptr[col]:pattern.indptr[col + 1]])
        for g, taken in enumerate(used):
            if not rows & taken:
                groups[g].append(col)
                taken |= rows
                break
        else:
            groups.append([col])
            used.append(rows)
    return [np.array(g) for g in groups]


def _valid_correlations(values: dict[str, np.ndarray], floor: float = 0.02) -> dict[str, np.ndarray]:
    """Replace, knot by knot, a set of ``corr_*`` that is not a correlation matrix by the nearest one.

    Eigenvalues below ``floor`` are raised to it and the diagonal rescaled to one (Higham's
    projection, one step), so every law the fit evaluates can be sampled.
    """
    index = {t: i for i, t in enumerate(TARGETS)}
    for k in range(len(next(iter(values.values())))):
        corr = np.eye(4)
        for a, b in PAIRS:
            corr[index[a], index[b]] = corr[index[b], index[a]] = values[f"corr_{a}_{b}"][k]
        eig, vec = np.linalg.eigh(corr)
        if eig.min() >= floor:
            continue
        fixed = vec @ np.diag(np.maximum(eig, floor)) @ vec.T
        scale = np.sqrt(np.diag(fixed))
        fixed = fixed / scale[:, None] / scale[None, :]
        for a, b in PAIRS:
            values[f"corr_{a}_{b}"][k] = fixed[index[a], index[b]]
    return values


def _smoothness_scale(name: str) -> float:
    """Change of a parameter across knots that costs one unit of the smoothness penalty."""
    if name.startswith(("quench", "zero_sfr")):
        return 2.0
    if name.startswith("corr_"):
        return 1.0
    target = next(t for t in TARGETS if name.endswith(t) or f"_{t}_" in name)
    return TNG300_SAMPLE[target][1]


def initial_values(targets: Targets, fixed: dict[str, np.ndarray],
                   selected_fraction: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A starting law read straight off the tables (no secondary dependence yet).

    ``selected_fraction`` (per bin: TNG300-1's selected galaxies over this universe's haloes)
    sets the stellar-mass law before the selection: a normal whose upper tail above the cut
    holds that fraction and has TNG300-1's mean.
    """
    K = len(targets.knots)
    filled = pd.DataFrame(targets.scatter).bfill().ffill().to_numpy()
    corr = pd.DataFrame(targets.corr).bfill().ffill().to_numpy()
    quenched = pd.Series(targets.quenched).bfill().ffill().clip(0.01, 0.99).to_numpy()
    v = {n: np.zeros(K) for n in parameter_names()}
    v.update({k: np.array(x, float) for k, x in fixed.items()})
    v["quench"] = special.logit(quenched)
    v["zero_sfr"] = np.full(K, 1.0)
    v["mean_stellar_mass"], v["mean_radius"] = targets.mean[:, 0].copy(), targets.mean[:, 2]
    v["scatter_stellar_mass"] = filled[:, 0].copy()
    if selected_fraction is not None:
        for i, f in enumerate(np.clip(selected_fraction, 1e-4, 1.0)):
            if f > 0.95:
                continue
            alpha = stats.norm.isf(f)                               # the cut, in units of sigma
            excess = np.exp(stats.norm.logpdf(alpha) - stats.norm.logsf(alpha)) - alpha
            sigma = np.clip((targets.mean[i, 0] - LOG_STELLAR_MASS_MIN) / excess, 0.05, 0.5)
            v["scatter_stellar_mass"][i] = sigma
            v["mean_stellar_mass"][i] = LOG_STELLAR_MASS_MIN - alpha * sigma
    v["mean_sf_sSFR"], v["mean_q_sSFR"] = np.full(K, -9.9), np.full(K, -12.0)
    v["mean_sf_color"], v["mean_q_color"] = np.full(K, 0.6), np.full(K, 1.11)
    v["scatter_radius"] = filled[:, 2]
    v["scatter_sf_sSFR"], v["scatter_q_sSFR"] = np.full(K, 0.35), np.full(K, 0.5)
    v["scatter_sf_color"], v["scatter_q_color"] = np.full(K, 0.15), np.full(K, 0.06)
    for p, (a, b) in enumerate(PAIRS):
        v[f"corr_{a}_{b}"] = np.clip(corr[:, p], -0.8, 0.8)
    return v


@dataclass(frozen=True)
class CalibrationResult:
    """The calibrated models, the targets and the report (target vs fit per bin and statistic)."""

    halos: HaloModel
    law: GalaxyLaw
    report: pd.DataFrame
    seconds: float


def _report(problem: _Problem, values: dict[str, np.ndarray]) -> pd.DataFrame:
    st, tg = problem.statistics(values), problem.targets
    rows = []
    for i, (b, _, _) in enumerate(tg.bins):
        for j, t in enumerate(TARGETS):
            rows.append((b, "mean", t, tg.mean[i, j], st["mean"][i, j]))
            rows.append((b, "intrinsic scatter" if tg.fitted_scatter[i, j] else "intrinsic scatter (not fitted: "
                         "beyond the zero-SFR recipe)", t, tg.scatter[i, j], st["scatter"][i, j]))
            for f, feat in enumerate(SECONDARY):
                rows.append((b, f"quartile difference on {feat}", t, tg.slope[i, f, j] * st["dfeature"][i, f],
                             st["delta"][i, f, j]))
        for p, (a, c) in enumerate(PAIRS):
            rows.append((b, "residual correlation", f"{a}~{c}", tg.corr[i, p], st["corr"][i, p]))
        rows.append((b, "quenched fraction", "sSFR < -11", tg.quenched[i], st["quenched"][i]))
        for p, pair in enumerate(HALO_PAIRS):
            rows.append((b, "halo-feature correlation", pair, tg.halo_corr[pair][i], st["halo_corr"][i, p]))
        if problem.incomplete[i]:
            rows.append((b, "selected galaxies", "count", tg.count[i] * problem.volume_ratio, st["weight"][i]))
    spread, corr = sample_spreads(st)
    rows.extend(("all", "sample spread", t, TNG300_SAMPLE[t][1], spread[j]) for j, t in enumerate(TARGETS))
    rows.extend(("all", "sample correlation", f"{a}~{c}", r, corr[p])
                for p, ((a, c), r) in enumerate(TNG300_CORRELATIONS.items()))
    rows.append(("all", "fraction with SFR = 0", "sSFR", TNG300_ZERO_SFR_FRACTION,
                 np.average(st["zero"], weights=st["weight"])))
    table = pd.DataFrame(rows, columns=["M_h_bin", "statistic", "of", "TNG300", "fit"])
    return table.dropna(subset=["TNG300"]).reset_index(drop=True)


def summary(report: pd.DataFrame) -> pd.DataFrame:
    """The largest miss of the fit per statistic and property, in the units of the calibration's goals.

    Means and quartile differences: |fit - TNG300| over the property's total standard deviation;
    intrinsic scatter, galaxy counts and the whole sample's spreads: |fit / TNG300 - 1|; correlations
    and fractions: |fit - TNG300|.
    """
    family = report["statistic"].str.replace(r" on .*", "", regex=True)
    std = report["of"].map(lambda t: TNG300_SAMPLE[t][1] if t in TNG300_SAMPLE else 1.0)
    miss = (report["fit"] - report["TNG300"]).abs()
    miss = miss.where(~family.isin(["mean", "quartile difference"]), miss / std)
    relative = family.str.startswith("intrinsic scatter") | family.isin(["selected galaxies", "sample spread"])
    miss = miss.where(~relative, (report["fit"] / report["TNG300"] - 1).abs())
    table = pd.DataFrame({"statistic": family, "of": report["of"], "largest miss": miss})
    return table.groupby(["statistic", "of"], sort=False)["largest miss"].max().reset_index()


def _environment(halos: pd.DataFrame, targets: Targets) -> dict[str, np.ndarray]:
    """Per bin: mean and standard deviation of log10(delta_3 + 0.5) (the law's ``env_*``, step 3)."""
    env = np.log10(halos["Delta3_h"].to_numpy() + 0.5)
    m = halos["M_h"].to_numpy()
    inside = [(m >= lo) & (m < hi) for _, lo, hi in targets.bins]
    return {"env_mean": np.array([env[s].mean() for s in inside]),
            "env_std": np.array([env[s].std() for s in inside])}


def calibrate(seed: int = DEFAULT_SEED, box_size: float = TNG300_BOX_SIZE, per_bin: int = 3000,
              base: HaloModel | None = None, max_nfev: int = 40, rounds: int = 3,
              verbose: bool = False) -> CalibrationResult:
    """Fit the universe's parameters to the TNG300-1 law tables (steps in the module docstring).

    The tables describe *selected* galaxies: below :data:`COMPLETE_RANGE` the selection
    log M* >= 8.75 keeps the haloes whose features favour a massive galaxy, which changes the
    correlations among their features.  So the fit runs in ``rounds``: after each, the latent
    correlations of the lighter bins are moved by what the selection took away (target minus
    achieved, in latent units, shrunk where the fit's subsample holds few selected galaxies),
    and the concentration assembly bias — the only link between concentration and
    environment — by the mean miss of their concentration–delta_3 correlation; the haloes are
    drawn again and the law is refitted from where it was.  The selected
    correlations' residuals allow for that sampling noise too (1 / effective number of
    selected galaxies, added to the tolerance in quadrature).

    Parameters
    ----------
    seed : int
        Seed of the haloes fitted on and of the per-bin subsample.
    box_size : float
        Side of the box of those haloes [Mpc/h].
    per_bin : int
        Haloes per M_h bin in the fit (a random subsample of the bin); where the starting law
        selects few of them, up to :data:`MAX_SUBSAMPLE_FACTOR` times more, so that the bin's
        effective number of selected galaxies reaches ``per_bin``.
    base : HaloModel, optional
        Halo parameters other than the latent correlations (default: the dataclass's).
    max_nfev : int
        Least-squares iterations per round.
    rounds : int
        Rounds of (haloes, law fit); at least 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    t0 = time.perf_counter()
    targets = reference_targets()
    corrections = {pair: np.zeros(len(targets.knots)) for pair in LATENT_PAIRS}
    values = None
    for step in range(rounds):
        model = halo_model(targets, base, corrections)
        halos, _ = generate_halos(model, float(box_size), np.random.default_rng(seed), verbose=verbose)
        fixed = _environment(halos, targets)
        problem = _Problem(halos, model, targets, fixed, per_bin, seed, box_size)
        if values is None:
            counts = np.histogram(halos["M_h"], [lo for _, lo, _ in targets.bins] + [targets.bins[-1][2]])[0]
            values = initial_values(targets, fixed, targets.count * problem.volume_ratio / counts)
        start = {**values, **fixed}
        # where few haloes of a bin are selected, a subsample of per_bin haloes holds few selected
        # galaxies: take more haloes there, so that each bin's effective number reaches per_bin
        ess = problem.statistics(start)["ess"]
        sizes = np.round(per_bin * np.clip(per_bin / ess, 1.0, MAX_SUBSAMPLE_FACTOR)).astype(int)
        if (sizes > per_bin).any():
            problem = _Problem(halos, model, targets, fixed, sizes, seed, box_size)
            ess = problem.statistics(start)["ess"]
        problem.halo_noise = 1.0 / ess
        lo, hi = problem.bounds()
        x = np.clip(problem.vector(start), lo + 1e-9, hi - 1e-9)
        fit = optimize.least_squares(problem.residuals, x, jac=problem.jacobian, bounds=(lo, hi),
                                     x_scale="jac", max_nfev=max_nfev, verbose=2 if verbose else 0)
        values = problem.values(fit.x)
        achieved = problem.statistics(values)
        # a correction measured on few selected galaxies is mostly noise: shrink it (prior width 0.1)
        trust = problem.incomplete * achieved["ess"] / (achieved["ess"] + 1.0 / 0.1**2)
        if verbose:
            print(f"calibration round {step + 1}/{rounds}: cost {fit.cost:.1f} ({time.perf_counter() - t0:.0f} s); "
                  f"selected galaxies per bin in the subsample (effective): {np.round(achieved['ess']).astype(int)}")
        for pair in LATENT_PAIRS:
            miss = (spearman_to_pearson(targets.halo_corr[pair])
                    - spearman_to_pearson(achieved["halo_corr"][:, HALO_PAIRS.index(pair)]))
            corrections[pair] = corrections[pair] + trust * miss
        # concentration meets environment only through assembly bias: its strength is the lever
        # for the selected haloes' C_h - delta_3 correlation of the lighter bins (on average)
        column = HALO_PAIRS.index("C_h~Delta3_h")
        miss = np.average(targets.halo_corr["C_h~Delta3_h"] - achieved["halo_corr"][:, column], weights=trust)
        base = replace(model, assembly_bias_concentration=float(np.clip(
            round(model.assembly_bias_concentration + miss, 4), *ASSEMBLY_BIAS_RANGE)))
    law = GalaxyLaw(knots=tuple(float(k) for k in targets.knots),
                    values={n: tuple(float(v) for v in values[n]) for n in parameter_names()})
    return CalibrationResult(model, law, _report(problem, values), time.perf_counter() - t0)


__all__ = ["CalibrationResult", "HALO_PAIRS", "LATENT_PAIRS", "SECONDARY", "TOLERANCE", "Targets", "calibrate",
           "halo_model", "initial_values", "reference_targets", "spearman_to_pearson", "summary",
           "weighted_rank_correlations"]
