"""The embedded universe: a synthetic, TNG300-calibrated population of haloes and central galaxies.

IllustrisTNG300 cannot be downloaded everywhere, so hgtools generates a universe
that behaves like it and knows its own law exactly:

- :mod:`~hgtools.universe.haloes`: the haloes (mass function, concentration,
  formation redshift, spin, positions, delta_3);
- :mod:`~hgtools.universe.law`: how galaxies depend on them (mean relations, the
  quenched/star-forming mixture, the joint scatter);
- :mod:`~hgtools.universe.oracle`: the exact conditional law (mean, covariance,
  draws, log-density) of the selected galaxies given their haloes;
- :mod:`~hgtools.universe.parameters`: the parameter file the generator reads;
- :mod:`~hgtools.universe.calibration`: the fit that writes it from TNG300-1's law tables.

Analysis of a finished catalogue (calibration tables, bias, assembly bias) lives
in :mod:`hgtools.diagnostics`.  Units: masses log10 [Msun/h]; positions comoving
[Mpc/h]; sSFR log10 [h/yr]; radius log10 [kpc/h]; colour g - i [mag].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hgtools.catalogue import FEATURES, LOG_STELLAR_MASS_MIN, build_catalogue
from hgtools.config import DEFAULT_SEED, TNG300_BOX_SIZE
from hgtools.cosmology import cosmology_metadata, virial_radius
from hgtools.universe import oracle as _oracle
from hgtools.universe.haloes import LOG_MASS_CUT, HaloModel, generate_halos
from hgtools.universe.law import GalaxyLaw, ParameterError, sample_galaxies
from hgtools.universe.parameters import parameters_digest, parameters_from_dict, parameters_to_dict, read_parameters

#: The ``source`` name the embedded universe writes into catalogue metadata.
SOURCE_NAME = "mock"


def _default_halos() -> HaloModel:
    return read_parameters()[0]


def _default_law() -> GalaxyLaw:
    return read_parameters()[1]


@dataclass(frozen=True)
class UniverseConfig:
    """What to generate: box, seed and the two models (default: the shipped parameter file)."""

    box_size: float = TNG300_BOX_SIZE
    """Side of the periodic box [Mpc/h]."""
    seed: int = DEFAULT_SEED
    halos: HaloModel = field(default_factory=_default_halos)
    law: GalaxyLaw = field(default_factory=_default_law)

    def __post_init__(self):
        if not np.isfinite(self.box_size) or self.box_size <= 0:
            raise ValueError(f"box_size must be a positive length in Mpc/h, got {self.box_size}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")

    @property
    def digest(self) -> str:
        """Digest of the two models (not of the box or the seed)."""
        return parameters_digest(self.halos, self.law)

    def to_dict(self) -> dict:
        """Plain-data form, for metadata."""
        return {"box_size": float(self.box_size), "seed": int(self.seed), **parameters_to_dict(self.halos, self.law)}


def generate_universe(config: UniverseConfig | None = None, verbose: bool = False) -> tuple[pd.DataFrame, int]:
    """The raw table: every halo above 10^10.5 Msun/h with its central galaxy.

    No galaxy cut and no zero-SFR recipe is applied here (``sSFR`` is ``-inf``
    where SFR = 0); :func:`hgtools.catalogue.build_catalogue` does both, as for
    every source.

    Returns
    -------
    table : pandas.DataFrame
        The catalogue columns (``ID``, halo features, galaxy targets, ``sfr_zero``,
        halo and galaxy positions [Mpc/h]).
    n_drawn : int
        Number of haloes drawn in the box, down to ``HaloModel.log_mass_min``.
    """
    config = UniverseConfig() if config is None else config
    rng = np.random.default_rng(config.seed)
    halos, tracers = generate_halos(config.halos, float(config.box_size), rng, verbose=verbose)
    gal = sample_galaxies(halos, config.law, config.halos, rng)
    # central galaxies sit at the potential minimum, a few kpc/h from the halo centre
    offset = 0.01 * virial_radius(halos["M_h"].to_numpy())[:, None] * rng.standard_normal((len(halos), 3))
    gpos = np.mod(halos[["X_h", "Y_h", "Z_h"]].to_numpy() + offset, config.box_size)
    out = pd.concat([halos[list(FEATURES)], gal], axis=1)
    out[["X_h", "Y_h", "Z_h"]] = halos[["X_h", "Y_h", "Z_h"]].to_numpy()
    out[["x_g", "y_g", "z_g"]] = gpos
    out.insert(0, "ID", np.arange(len(out), dtype=np.int64))
    return out.reset_index(drop=True), int(len(tracers))


def universe_catalogue(config: UniverseConfig | None = None, verbose: bool = False) -> tuple[pd.DataFrame, dict]:
    """Generate the embedded universe and turn it into the study's catalogue.

    Returns
    -------
    catalogue : pandas.DataFrame
        Cuts and zero-SFR recipe applied (seeded by ``config.seed``).
    metadata : dict
        Source ``"mock"``, box size, seed, cosmology, the full generator
        configuration and its digest (so the oracle can be rebuilt), cut counts,
        versions and the generation time [s].
    """
    config = UniverseConfig() if config is None else config
    t0 = time.perf_counter()
    raw, n_drawn = generate_universe(config, verbose=verbose)
    # galaxies below the stellar-mass cut are never part of the sample: the law's Gaussian tails
    # far below it (dwarfs of 10^6 Msun/h) are not meant as galaxies, so they are dropped here
    n_haloes = len(raw)
    raw = raw[raw["stellar_mass"] >= LOG_STELLAR_MASS_MIN].reset_index(drop=True)
    meta = {"source": SOURCE_NAME, "source_description":
            "hgtools embedded universe: synthetic, calibrated to TNG300-1's law tables",
            "box_size": float(config.box_size), "cosmology": cosmology_metadata(),
            "universe": config.to_dict(), "universe_digest": config.digest,
            "source_counts": [(f"haloes drawn, log M_DMO >= {config.halos.log_mass_min:g}", n_drawn),
                              (f"haloes with log M_h >= {LOG_MASS_CUT:g}", n_haloes),
                              (f"central galaxies with log M* >= {LOG_STELLAR_MASS_MIN:g}", len(raw))]}
    catalogue, meta = build_catalogue(raw, seed=config.seed, metadata=meta)
    meta["generation_seconds"] = round(time.perf_counter() - t0, 2)
    return catalogue, meta


def config_from_metadata(metadata: dict) -> UniverseConfig:
    """Rebuild the :class:`UniverseConfig` stored in an embedded-universe catalogue's metadata."""
    if metadata.get("source") != SOURCE_NAME:
        raise ValueError("the oracle exists only for catalogues of the embedded (mock) universe; "
                         f"this catalogue's source is {metadata.get('source')!r}")
    if "universe" not in metadata:
        raise ValueError("this catalogue was made by an older version of the embedded universe (its metadata "
                         "has no 'universe' parameters); generate it again with `hgtools catalogue --overwrite`")
    cfg = metadata["universe"]
    try:
        halos, law = parameters_from_dict(cfg)
    except ParameterError as err:
        raise ValueError(f"the catalogue's universe parameters are unusable: {err}") from None
    return UniverseConfig(box_size=cfg["box_size"], seed=cfg["seed"], halos=halos, law=law)


def catalogue_oracle(catalogue: pd.DataFrame, metadata: dict) -> pd.DataFrame:
    """The oracle (E[target | halo]) for rows of an embedded-universe catalogue, from the laws in its metadata."""
    cfg = config_from_metadata(metadata)
    return _oracle.oracle(catalogue[list(FEATURES)], cfg.law, cfg.halos)


__all__ = ["SOURCE_NAME", "UniverseConfig", "catalogue_oracle", "config_from_metadata", "generate_universe",
           "universe_catalogue"]
