"""Large-scale relative bias from counts in cells.

The relative bias of two tracer samples A and B is measured against a third,
disjoint reference sample R as cov(delta_A, delta_R) / cov(delta_B, delta_R),
with overdensities counted in cubic cells.  Because the samples are disjoint,
shot noise does not enter the cross-covariances.  Positions are comoving
[Mpc/h] in a periodic box.
"""

from __future__ import annotations

import numpy as np


def count_grid(positions: np.ndarray, box_size: float, n_cells: int) -> np.ndarray:
    """Overdensity delta = N / <N> - 1 in ``n_cells``^3 cubic cells (nearest-cell counts)."""
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {positions.shape}")
    if len(positions) == 0:
        raise ValueError("no positions to count (empty sample)")
    if positions.min() < 0 or positions.max() >= box_size:
        raise ValueError(f"positions must lie in [0, {box_size}) Mpc/h")
    idx = np.floor(positions / box_size * n_cells).astype(np.int64).clip(0, n_cells - 1)
    flat = np.ravel_multi_index(idx.T, (n_cells,) * 3)
    counts = np.bincount(flat, minlength=n_cells**3).astype(float)
    return counts / counts.mean() - 1.0


def relative_bias(sample: np.ndarray, other: np.ndarray, reference: np.ndarray,
                  box_size: float, n_cells: int = 16) -> tuple[float, float]:
    """Large-scale bias of ``sample`` relative to ``other``, measured against ``reference``.

    Parameters
    ----------
    sample, other, reference : numpy.ndarray
        (N, 3) positions [Mpc/h] of three disjoint samples.
    box_size : float
        Periodic box side [Mpc/h].
    n_cells : int
        Cells per side (even); cells of box_size / n_cells Mpc/h should be much
        larger than the haloes' correlation length (>= 10 Mpc/h).

    Returns
    -------
    ratio, error : float
        b_sample / b_other and its jackknife error (eight octants of the box).
    """
    ref = count_grid(reference, box_size, n_cells)
    prod_a = count_grid(sample, box_size, n_cells) * ref
    prod_b = count_grid(other, box_size, n_cells) * ref
    ratio = float(prod_a.sum() / prod_b.sum())
    half = n_cells // 2
    octant = np.zeros((n_cells,) * 3, dtype=int)
    octant[half:, :, :] += 4
    octant[:, half:, :] += 2
    octant[:, :, half:] += 1
    octant = octant.ravel()
    jack = np.array([prod_a[octant != o].sum() / prod_b[octant != o].sum() for o in range(8)])
    error = float(np.sqrt(7.0 / 8.0 * np.sum((jack - jack.mean()) ** 2)))
    return ratio, error


def bias_by_mass(positions: np.ndarray, log_mass: np.ndarray, box_size: float,
                 edges: np.ndarray, n_cells: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias of haloes in mass bins relative to the lowest bin.

    Each bin is measured against the haloes outside both it and the lowest bin.

    Returns
    -------
    mean_log_mass, ratio, error : numpy.ndarray
        Per bin (the first bin's ratio is 1 by definition).
    """
    log_mass = np.asarray(log_mass)
    which = np.digitize(log_mass, edges) - 1
    lowest = which == 0
    if not lowest.any():
        raise ValueError("the lowest mass bin is empty")
    centres, ratios, errors = [], [], []
    for i in range(len(edges) - 1):
        members = which == i
        if not members.any():
            raise ValueError(f"mass bin [{edges[i]:g}, {edges[i + 1]:g}) is empty")
        centres.append(log_mass[members].mean())
        if i == 0:
            ratios.append(1.0)
            errors.append(0.0)
            continue
        ref = ~members & ~lowest
        r, e = relative_bias(positions[members], positions[lowest], positions[ref], box_size, n_cells)
        ratios.append(r)
        errors.append(e)
    return np.array(centres), np.array(ratios), np.array(errors)
