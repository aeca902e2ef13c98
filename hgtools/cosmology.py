"""The cosmology of IllustrisTNG (Planck 2015) and small helpers built on colossus.

All masses are in Msun/h, lengths in comoving Mpc/h and wavenumbers in h/Mpc,
following colossus' conventions.
"""

from __future__ import annotations

import numpy as np
from colossus.cosmology import cosmology as _colossus_cosmology

#: IllustrisTNG cosmological parameters (Planck Collaboration 2016, Table 4).
TNG_PARAMETERS: dict[str, float | bool] = {
    "flat": True,
    "H0": 67.74,
    "Om0": 0.3089,
    "Ob0": 0.0486,
    "sigma8": 0.8159,
    "ns": 0.9667,
}

#: Critical density today in (Msun/h) / (Mpc/h)^3.
RHO_CRIT0 = 2.77536627e11


def tng_cosmology() -> _colossus_cosmology.Cosmology:
    """Return (and make current in colossus) the IllustrisTNG cosmology.

    colossus keeps one "current" cosmology that its halo and large-scale
    structure functions use; every hgtools function that calls colossus calls
    this first, so no caller depends on what was set before.

    Returns
    -------
    colossus.cosmology.cosmology.Cosmology
        Flat LCDM with the Planck-2015 parameters used by IllustrisTNG.
    """
    current = _colossus_cosmology.current_cosmo
    if current is not None and current.name == "illustris-tng":
        return current
    return _colossus_cosmology.setCosmology(
        "illustris-tng", **TNG_PARAMETERS, persistence=""
    )


def virial_radius(log_mass: np.ndarray) -> np.ndarray:
    """Radius enclosing 200 times the critical density at z = 0.

    Parameters
    ----------
    log_mass : array_like
        log10 M_200c [Msun/h].

    Returns
    -------
    numpy.ndarray
        R_200c [Mpc/h] (comoving = physical at z = 0).
    """
    mass = 10.0 ** np.asarray(log_mass, dtype=float)
    return (3.0 * mass / (4.0 * np.pi * 200.0 * RHO_CRIT0)) ** (1.0 / 3.0)


def cosmology_metadata() -> dict[str, float | bool | str]:
    """The cosmology as plain data, for catalogue metadata."""
    return {"name": "Planck2015 (IllustrisTNG)", **TNG_PARAMETERS}
