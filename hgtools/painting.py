"""Painting a universe larger than the training box: haloes, galaxies painted on them, and their clustering.

The embedded universe's halo generator makes a dark-matter-only catalogue in
a box larger than TNG300 (:func:`larger_universe`: every halo down to
10^10 Msun/h, no delta_3); :func:`hgtools.populate.populate` counts delta_3 and
paints it with a saved model set; the universe's law draws the true galaxies
of the same haloes (:func:`true_galaxies`), so the clustering of painted and
true populations can be compared (:func:`painted_spectra`).
:func:`delta3_thresholds` shows how delta_3 depends on the smallest mass of
the objects counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hgtools.catalogue import FEATURES, HALO_POSITION, LOG_STELLAR_MASS_MIN, TARGETS, apply_zero_sfr_recipe
from hgtools.overdensity import delta3

#: Seed offset of the larger universe (independent of the training universe of the same seed).
SEED_STREAM = 7


def larger_universe(universe, box_size: float, seed: int) -> pd.DataFrame:
    """Every halo of a new box of the embedded universe, as a dark-matter-only catalogue.

    Parameters
    ----------
    universe : hgtools.universe.UniverseConfig
        Whose halo model is used.
    box_size : float
        Side of the new box [Mpc/h].
    seed : int
        Its seed (drawn from the stream ``[seed, SEED_STREAM]``).

    Returns
    -------
    pandas.DataFrame
        :func:`hgtools.universe.haloes.dark_matter_haloes`' columns.
    """
    from hgtools.universe.haloes import dark_matter_haloes

    return dark_matter_haloes(universe.halos, float(box_size), np.random.default_rng([int(seed), SEED_STREAM]))


def true_galaxies(painted: pd.DataFrame, universe, seed: int) -> pd.DataFrame:
    """The law's galaxies of the painted haloes (one each; zero-SFR recipe applied), before any cut."""
    from hgtools.universe.law import sample_galaxies

    rng = np.random.default_rng([int(seed), SEED_STREAM, 1])
    galaxies = sample_galaxies(painted[list(FEATURES)].reset_index(drop=True), universe.law, universe.halos, rng)
    return apply_zero_sfr_recipe(galaxies, seed)


#: The painted samples of :func:`painted_spectra`.
SAME_HALOES, OWN_CUT = "painted, same haloes", "painted, own M* cut"


def painted_spectra(painted: pd.DataFrame, truth: pd.DataFrame, box_size: float, n_mesh: int) -> pd.DataFrame:
    """Fig. 9's two-bin spectra of a painted universe: true galaxies against painted ones.

    Samples: ``"true"`` (the law's galaxies with log M* >= 8.75), ``SAME_HALOES``
    (the painted properties of the same haloes: the study's comparison, where
    the selection is the truth's) and ``OWN_CUT`` (the painted galaxies with
    painted log M* >= 8.75: what a dark-matter-only catalogue gives, with no
    true mass to select on).  Positions are the haloes'.  See
    :func:`hgtools.clustering.split_spectra`.
    """
    from hgtools.clustering import split_spectra

    pos = painted[list(HALO_POSITION)].to_numpy()
    selected = truth["stellar_mass"].to_numpy() >= LOG_STELLAR_MASS_MIN
    own = painted["stellar_mass"].to_numpy() >= LOG_STELLAR_MASS_MIN
    samples = {"true": (truth.loc[selected, list(TARGETS)].reset_index(drop=True), pos[selected]),
               SAME_HALOES: (painted.loc[selected, list(TARGETS)].reset_index(drop=True), pos[selected]),
               OWN_CUT: (painted.loc[own, list(TARGETS)].reset_index(drop=True), pos[own])}
    return split_spectra(samples, box_size, n_mesh=n_mesh, skip_empty=True)


def delta3_thresholds(haloes: pd.DataFrame, box_size: float, thresholds: tuple[float, ...],
                      mass_edges: tuple[float, ...] = (10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 14.0)) -> pd.DataFrame:
    """delta_3 of the haloes to paint, counted with tracers above each minimum mass [log10 Msun/h].

    Returns one row per threshold and M_h bin: the tracers' number density
    [(Mpc/h)^-3] and the median, 16th and 84th percentiles of delta_3.
    """
    pos = haloes[list(HALO_POSITION)].to_numpy()
    mass = haloes["M_h"].to_numpy()
    centres = haloes["paint"].to_numpy(dtype=bool) if "paint" in haloes else np.ones(len(haloes), dtype=bool)
    bins = np.digitize(mass[centres], mass_edges) - 1
    rows = []
    for threshold in thresholds:
        tracer = mass >= threshold
        counted = delta3(pos[centres], pos[tracer], box_size, exclude_self=tracer[centres])
        for b in range(len(mass_edges) - 1):
            d = counted[bins == b]
            if d.size:
                p16, p50, p84 = np.percentile(d, [16, 50, 84])
                rows.append({"threshold": threshold, "tracer density": tracer.sum() / box_size**3,
                             "M_h bin": f"{mass_edges[b]:g}-{mass_edges[b + 1]:g}",
                             "M_h": float(np.mean(mass[centres][bins == b])), "haloes": int(d.size),
                             "delta3 p16": p16, "delta3 median": p50, "delta3 p84": p84})
    return pd.DataFrame(rows)


__all__ = ["OWN_CUT", "SAME_HALOES", "SEED_STREAM", "delta3_thresholds", "larger_universe", "painted_spectra", "true_galaxies"]
