"""The overdensity delta_3: subhaloes within 3 Mpc/h over the mean number in such a sphere.

Shared by every source, so that the mock universe and TNG catalogues measure
the environment the same way.  Positions are comoving [Mpc/h] in a periodic box.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


#: Radius of the delta_3 sphere [Mpc/h].
RADIUS = 3.0


def mean_count(n_tracers: int, box_size: float, radius: float = RADIUS) -> float:
    """Mean number of ``n_tracers`` tracers in a sphere of ``radius`` [Mpc/h] in a box of side ``box_size``."""
    return n_tracers / box_size**3 * 4.0 / 3.0 * np.pi * radius**3


def delta3(centres: np.ndarray, tracers: np.ndarray, box_size: float,
           radius: float = RADIUS, exclude_self: bool | np.ndarray = True) -> np.ndarray:
    """Number of tracers within ``radius`` of each centre over the mean number.

    Periodic counts with :class:`scipy.spatial.cKDTree` (``boxsize``).

    Parameters
    ----------
    centres : numpy.ndarray
        (N, 3) positions [Mpc/h] where delta_3 is measured.
    tracers : numpy.ndarray
        (M, 3) positions [Mpc/h] of all subhaloes counted.
    box_size : float
        Periodic box side [Mpc/h].
    radius : float
        Sphere radius [Mpc/h].
    exclude_self : bool or numpy.ndarray
        Subtract one count (the centre is itself one of the tracers); an
        array of booleans says it per centre (a centre below the tracers' mass
        is not one of them).
    """
    tree = cKDTree(np.mod(tracers, box_size), boxsize=box_size)
    counts = tree.query_ball_point(np.mod(centres, box_size), r=radius,
                                   return_length=True, workers=-1)
    counts = counts - np.asarray(exclude_self, dtype=np.int64)
    return np.maximum(counts, 0) / mean_count(len(tracers), box_size, radius)
