"""Gaussian and lognormal density fields on a periodic mesh, and tracers drawn from them.

Conventions: a cubic periodic box of side ``box_size`` [Mpc/h] sampled by
``n_mesh`` cells per side; wavenumbers in h/Mpc; power spectra in (Mpc/h)^3.

A tracer population with linear bias ``b`` is drawn with a probability per cell
proportional to ``exp(b G - b^2 sigma_G^2 / 2)``, where ``G`` is the Gaussian
field.  For a Gaussian ``G``, the cross-correlation of that density with ``G``
is exactly ``b`` times the auto-correlation of ``G`` on all scales, so the
large-scale bias of the tracer is ``b`` by construction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Most threads drawing tracer positions (each holds two float64 copies of the mesh).
MAX_THREADS = 4


def wavenumber_grid(n_mesh: int, box_size: float) -> np.ndarray:
    """|k| [h/Mpc] of every mode of a real FFT (``numpy.fft.rfftn`` layout)."""
    kf = 2.0 * np.pi / box_size
    k1 = np.fft.fftfreq(n_mesh, d=1.0 / n_mesh) * kf
    kz = np.fft.rfftfreq(n_mesh, d=1.0 / n_mesh) * kf
    return np.sqrt(k1[:, None, None] ** 2 + k1[None, :, None] ** 2 + kz[None, None, :] ** 2)


def gaussian_modes(
    power: Callable[[np.ndarray], np.ndarray],
    n_mesh: int,
    box_size: float,
    rng: np.random.Generator,
    fixed_amplitude: bool = False,
) -> np.ndarray:
    """Fourier modes (``numpy.fft.rfftn`` layout) of a Gaussian field with power ``power(k)``.

    Parameters
    ----------
    power : callable
        P(k) [(Mpc/h)^3] as a function of k [h/Mpc].
    n_mesh : int
        Cells per side.
    box_size : float
        Side of the periodic box [Mpc/h].
    rng : numpy.random.Generator
        Source of the white noise (seeded by the caller).
    fixed_amplitude : bool
        Give every mode the mean amplitude and keep only its random phase (the
        "fixed" fields of Angulo & Pontzen 2016): the field's power is P(k)
        without the scatter of a Gaussian realisation, so box-wide statistics
        vary far less with the seed.  The one-point distribution stays
        Gaussian to a very good approximation for a large mesh.

    Returns
    -------
    numpy.ndarray
        Complex modes, shape (n_mesh, n_mesh, n_mesh // 2 + 1); the k = 0 mode is zero.
    """
    if n_mesh < 2 or box_size <= 0:
        raise ValueError(f"need n_mesh >= 2 and box_size > 0, got {n_mesh}, {box_size}")
    cell_volume = (box_size / n_mesh) ** 3
    modes = np.fft.rfftn(rng.standard_normal((n_mesh, n_mesh, n_mesh)))
    if fixed_amplitude:
        # |white-noise mode|^2 averages n_mesh^3; keep the phase, fix the modulus
        modulus = np.abs(modes)
        modes = np.where(modulus > 0, modes / np.where(modulus > 0, modulus, 1.0), 0.0) * n_mesh**1.5
    k = wavenumber_grid(n_mesh, box_size)
    amplitude = np.zeros_like(k)
    nonzero = k > 0
    amplitude[nonzero] = np.sqrt(power(k[nonzero]) / cell_volume)
    modes *= amplitude
    return modes


def field_from_modes(modes: np.ndarray, box_size: float, smoothing: float = 0.0) -> np.ndarray:
    """Real-space field from :func:`gaussian_modes`, smoothed by a Gaussian of radius ``smoothing`` [Mpc/h]."""
    n_mesh = modes.shape[0]
    if smoothing > 0:
        k = wavenumber_grid(n_mesh, box_size)
        modes = modes * np.exp(-0.5 * (k * smoothing) ** 2)
    return np.fft.irfftn(modes, s=(n_mesh,) * 3, axes=(0, 1, 2))


def gaussian_field(
    power: Callable[[np.ndarray], np.ndarray],
    n_mesh: int,
    box_size: float,
    rng: np.random.Generator,
    smoothing: float = 0.0,
) -> np.ndarray:
    """A Gaussian random field with power spectrum ``power(k) * exp(-k^2 R^2)``.

    Shorthand for :func:`gaussian_modes` followed by :func:`field_from_modes`;
    returns a real (n_mesh, n_mesh, n_mesh) float64 field of zero mean.
    """
    return field_from_modes(gaussian_modes(power, n_mesh, box_size, rng), box_size, smoothing)


def mesh_power_spectrum(
    field: np.ndarray, box_size: float, n_bins: int = 20, k_max: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spherically averaged power spectrum of a field given on a mesh.

    Parameters
    ----------
    field : numpy.ndarray
        Overdensity on a cubic mesh (no mass assignment is deconvolved).
    box_size : float
        Side of the box [Mpc/h].
    n_bins : int
        Number of linear k bins from the fundamental mode to ``k_max``.
    k_max : float, optional
        Upper edge [h/Mpc]; defaults to the Nyquist wavenumber.

    Returns
    -------
    k, power, n_modes : numpy.ndarray
        Mean k [h/Mpc], P(k) [(Mpc/h)^3] and the number of modes per bin.
    """
    n_mesh = field.shape[0]
    modes = np.fft.rfftn(field)
    k = wavenumber_grid(n_mesh, box_size)
    # Modes with kz = 0 or Nyquist appear once in rfftn; the others stand for two.
    weight = np.full(k.shape, 2.0)
    weight[..., 0] = 1.0
    if n_mesh % 2 == 0:
        weight[..., -1] = 1.0
    p = np.abs(modes) ** 2 * box_size**3 / n_mesh**6
    kf = 2.0 * np.pi / box_size
    k_max = np.pi * n_mesh / box_size if k_max is None else k_max
    edges = np.linspace(kf, k_max, n_bins + 1)
    idx = np.digitize(k.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n_bins)
    w = weight.ravel()[ok]
    n_modes = np.bincount(idx[ok], weights=w, minlength=n_bins)
    k_mean = np.bincount(idx[ok], weights=w * k.ravel()[ok], minlength=n_bins) / n_modes
    p_mean = np.bincount(idx[ok], weights=w * p.ravel()[ok], minlength=n_bins) / n_modes
    return k_mean, p_mean, n_modes


def soften_peaks(field: np.ndarray, threshold: float) -> np.ndarray:
    """The field with its peaks above ``threshold`` standard deviations softened.

    Values ``G <= t`` (``t = threshold * std(G)``) are kept; above, ``G`` becomes
    ``t + std(G) tanh((G - t) / std(G))``, which is monotonic and never exceeds
    ``t + std(G)``.  Drawn through ``exp(b G)``, the rare high peaks of a
    lognormal field otherwise gather many tracers in a few cells.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    sigma = float(field.std())
    t = threshold * sigma
    return np.where(field > t, t + sigma * np.tanh((field - t) / sigma), field)


def snap_to_peaks(positions: np.ndarray, field: np.ndarray, box_size: float, radius: np.ndarray | float,
                  rng: np.random.Generator) -> np.ndarray:
    """Move each position to the highest cell of ``field`` within ``radius`` [Mpc/h] of its cell.

    Periodic; the search covers the cells whose centres lie within ``radius``
    of the starting cell's centre (at least the cell itself), and the new
    position is drawn uniformly inside the chosen cell.

    Parameters
    ----------
    positions : numpy.ndarray
        (N, 3) positions [Mpc/h].
    field : numpy.ndarray
        Field on a (n, n, n) mesh covering the box.
    box_size : float
        Side of the box [Mpc/h].
    radius : float or numpy.ndarray
        Search radius [Mpc/h], one or one per position.
    rng : numpy.random.Generator
        Random numbers for the position inside the cell (seeded by the caller).
    """
    n_mesh = field.shape[0]
    cell = box_size / n_mesh
    ijk = np.floor(np.mod(positions, box_size) / cell).astype(np.int64) % n_mesh
    reach = np.broadcast_to(np.asarray(radius, float) / cell, (len(ijk),))
    r_max = int(np.floor(reach.max())) if len(ijk) else 0
    best = field[ijk[:, 0], ijk[:, 1], ijk[:, 2]].copy()
    chosen = ijk.copy()
    steps = np.arange(-r_max, r_max + 1)
    for offset in np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3):
        distance = np.sqrt((offset**2).sum())
        if distance == 0:
            continue
        allowed = np.flatnonzero(distance <= reach)
        q = (ijk[allowed] + offset) % n_mesh
        value = field[q[:, 0], q[:, 1], q[:, 2]]
        higher = value > best[allowed]
        best[allowed[higher]] = value[higher]
        chosen[allowed[higher]] = q[higher]
    return np.mod((chosen + rng.random(chosen.shape)) * cell, box_size)


def sample_biased_positions(
    field: np.ndarray,
    box_size: float,
    bias: np.ndarray,
    rng: np.random.Generator,
    n_bias_bins: int = 48,
) -> np.ndarray:
    """Draw one position per tracer from the lognormal density of its bias.

    Tracers are grouped in ``n_bias_bins`` bins of bias (linear bins between the
    extremes); each group is drawn from ``exp(b G - b^2 var(G)/2)`` at the bin's
    mean bias, then placed uniformly inside its cell.

    Parameters
    ----------
    field : numpy.ndarray
        Gaussian field G on a (n, n, n) mesh.
    box_size : float
        Side of the box [Mpc/h].
    bias : numpy.ndarray
        Linear bias of each tracer, shape (N,).
    rng : numpy.random.Generator
        Random numbers (seeded by the caller).
    n_bias_bins : int
        Number of bias groups.

    Returns
    -------
    numpy.ndarray
        Positions [Mpc/h], shape (N, 3), in [0, box_size).
    """
    n_mesh = field.shape[0]
    flat = field.ravel()
    variance = flat.var()
    bias = np.asarray(bias, dtype=float)
    edges = np.linspace(bias.min(), bias.max() + 1e-9, n_bias_bins + 1)
    group = np.clip(np.digitize(bias, edges) - 1, 0, n_bias_bins - 1)
    cells = np.empty(bias.size, dtype=np.int64)
    members = [np.flatnonzero(group == g) for g in np.unique(group)]
    uniforms = [rng.random(m.size) for m in members]  # the stream's order, group by group

    def locate(chunk: list[int]) -> None:
        weight, cdf = np.empty_like(flat), np.empty_like(flat)  # the field's precision, reused: no page faults
        for i in chunk:
            b = bias[members[i]].mean()
            np.multiply(flat, b, out=weight)
            weight -= 0.5 * b * b * variance
            np.cumsum(np.exp(weight, out=weight), out=cdf)
            cells[members[i]] = np.minimum(np.searchsorted(cdf, uniforms[i] * cdf[-1], side="right"), flat.size - 1)

    # NumPy's exp, cumsum and searchsorted release the GIL: groups run side by side, each exactly as alone
    threads = max(1, min(MAX_THREADS, os.cpu_count() or 1, len(members)))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(locate, [list(range(t, len(members), threads)) for t in range(threads)]))
    ijk = np.stack(np.unravel_index(cells, field.shape), axis=1).astype(float)
    cell = box_size / n_mesh
    return np.mod((ijk + rng.random(ijk.shape)) * cell, box_size)
