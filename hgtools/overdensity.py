"""The overdensity delta_3: subhaloes within 3 Mpc/h over the mean number in such a sphere.

Shared by every source, so that the mock universe and TNG catalogues measure
the environment the same way.  Positions are comoving [Mpc/h] in a periodic box.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def delta3(centres: np.ndarray, tracers: np.ndarray, box_size: float,
           radius: float = 3.0, exclude_self: bool = True) -> np.ndarray:
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
    exclude_self : bool
        Subtract one count (the centre is itself one of the tracers).
    """
    tree = cKDTree(np.mod(tracers, box_size), boxsize=box_size)
    counts = tree.query_ball_point(np.mod(centres, box_size), r=radius,
                                   return_length=True, workers=-1)
    counts = counts - (1 if exclude_self else 0)
    expected = len(tracers) / box_size**3 * 4.0 / 3.0 * np.pi * radius**3
    return np.maximum(counts, 0) / expected
