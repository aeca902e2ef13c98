"""Power spectra of galaxy sub-populations (the study's Section 4.3), on Pylians3.

Positions are painted on a mesh with Pylians' mass-assignment schemes
(``MAS_library.MA``, cloud-in-cell by default), Fourier transformed and binned
by ``Pk_library.Pk``, which divides out the window of the assignment scheme.
Pylians bins the modes in shells one fundamental frequency ``k_f = 2 pi / L``
wide (shell ``i`` holds ``i k_f <= |k| < (i + 1) k_f``); :func:`power_spectrum`
merges ``bin_width`` of those shells per bandpower, mode-weighted, starting at
``k_f``.  With the defaults (22 bandpowers, one shell each) a 205 Mpc/h box
is measured over ``0.031 <= k < 0.70 h/Mpc``.

Shot noise: by default the Poisson term ``1/n`` (``n = N / L^3``) is
subtracted, so that a true and a predicted sub-population holding different
numbers of galaxies are compared on their clustering alone; the error of
Eq. (6) of the study (:func:`gaussian_error`) then carries the shot noise.
The plain ``1/n`` is the shot noise of the compensated spectrum well below the
mesh's Nyquist wavenumber ``k_N = pi n_mesh / L``; towards ``k_N`` aliasing
raises it (by ~3 % at ``k_N / 2`` for CIC).  The defaults on a 205 Mpc/h box
stop at ``k_N / 5.6``.

Units: positions and box size in Mpc/h, k in h/Mpc, P(k) in (Mpc/h)^3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hgtools.reference import STUDY_BIN_CENTRES, STUDY_BIN_EDGES

@dataclass(frozen=True)
class PowerSpectrum:
    """A measured power spectrum and what it was measured with.

    Attributes
    ----------
    k : numpy.ndarray
        Mode-weighted mean wavenumber of each bandpower [h/Mpc].
    power : numpy.ndarray
        P(k) [(Mpc/h)^3], shot noise subtracted when ``shot_noise > 0``.
    n_modes : numpy.ndarray
        Independent Fourier modes (half space) in each bandpower.
    k_edges : numpy.ndarray
        Bandpower edges [h/Mpc] (``n_bins + 1`` values).
    shot_noise : float
        The Poisson term subtracted [(Mpc/h)^3] (0 if none was).
    n_objects : int
        Number of positions.
    box_size : float
        Side of the periodic box [Mpc/h].
    """

    k: np.ndarray
    power: np.ndarray
    n_modes: np.ndarray
    k_edges: np.ndarray
    shot_noise: float
    n_objects: int
    box_size: float

    @property
    def number_density(self) -> float:
        """Mean number density [(h/Mpc)^3]."""
        return self.n_objects / self.box_size**3

    @property
    def dk(self) -> np.ndarray:
        """Width of each bandpower [h/Mpc]."""
        return np.diff(self.k_edges)


#: Fewest objects whose power spectrum hgtools measures: with fewer, the shot noise V/N swamps
#: every bandpower and the estimate carries no information.
MIN_OBJECTS = 10


def check_positions(positions, box_size: float) -> np.ndarray:
    """Positions as a float32 (N, 3) array, or a ValueError naming what is wrong."""
    if not np.isfinite(box_size) or box_size <= 0:
        raise ValueError(f"box_size must be a positive length in Mpc/h, got {box_size}")
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    if len(pos) == 0:
        raise ValueError("no positions: the selection is empty, its power spectrum is undefined")
    if not np.isfinite(pos).all():
        raise ValueError(f"{int((~np.isfinite(pos)).any(axis=1).sum())} positions are NaN or infinite")
    outside = (pos < 0) | (pos >= box_size)
    if outside.any():
        raise ValueError(f"{int(outside.any(axis=1).sum())} positions lie outside the box [0, {box_size:g}) "
                         f"Mpc/h (range {pos.min():.4g} to {pos.max():.4g}); wrap them periodically or "
                         "check their units (Mpc/h, not kpc/h)")
    return pos.astype(np.float32)


def power_spectrum(positions, box_size: float, *, n_mesh: int = 256, n_bins: int = 22,
                   bin_width: int = 1, mas: str = "CIC", subtract_shot_noise: bool = True,
                   threads: int = 2) -> PowerSpectrum:
    """Power spectrum of a set of points in a periodic box, with Pylians3.

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Comoving positions [Mpc/h], in ``[0, box_size)``.
    box_size : float
        Side of the periodic box [Mpc/h].
    n_mesh : int
        Cells per side of the Fourier mesh.
    n_bins : int
        Number of bandpowers.
    bin_width : int
        Width of a bandpower in fundamental frequencies ``2 pi / box_size``.
    mas : {"NGP", "CIC", "TSC", "PCS"}
        Mass-assignment scheme (its window is compensated by Pylians).
    subtract_shot_noise : bool
        Subtract the Poisson shot noise ``box_size**3 / N``.
    threads : int
        Threads of the FFT.

    Returns
    -------
    PowerSpectrum
    """
    import MAS_library
    import Pk_library

    pos = check_positions(positions, box_size)
    if len(pos) < MIN_OBJECTS:
        raise ValueError(f"{len(pos)} object(s) are too few for a power spectrum (at least {MIN_OBJECTS})")
    kf = 2.0 * np.pi / box_size
    top = 1 + n_bins * bin_width  # first shell above the last bandpower
    if n_bins < 1 or bin_width < 1:
        raise ValueError(f"n_bins and bin_width must be >= 1, got {n_bins} and {bin_width}")
    if top * kf > np.pi * n_mesh / box_size:
        raise ValueError(f"the bandpowers reach k = {top * kf:.3g} h/Mpc, beyond the Nyquist wavenumber "
                         f"{np.pi * n_mesh / box_size:.3g} h/Mpc of a {n_mesh}^3 mesh; raise n_mesh or "
                         "lower n_bins * bin_width")
    delta = np.zeros((n_mesh,) * 3, dtype=np.float32)
    MAS_library.MA(pos, delta, np.float32(box_size), mas, verbose=False)
    delta /= np.float32(len(pos) / n_mesh**3)
    delta -= np.float32(1.0)
    pk = Pk_library.Pk(delta, box_size, axis=0, MAS=mas, threads=threads, verbose=False)
    # Pylians' shell i (i >= 1) sits at row i - 1 of its output
    shells = np.arange(1, top)
    group = (shells - 1) // bin_width
    modes = np.asarray(pk.Nmodes3D, dtype=float)[shells - 1]
    n_modes = np.bincount(group, weights=modes, minlength=n_bins)
    k = np.bincount(group, weights=modes * pk.k3D[shells - 1], minlength=n_bins) / n_modes
    power = np.bincount(group, weights=modes * pk.Pk[shells - 1, 0], minlength=n_bins) / n_modes
    shot = box_size**3 / len(pos) if subtract_shot_noise else 0.0
    return PowerSpectrum(k=k, power=power - shot, n_modes=n_modes,
                         k_edges=kf * (1 + bin_width * np.arange(n_bins + 1)), shot_noise=float(shot),
                         n_objects=len(pos), box_size=float(box_size))


def gaussian_error(k, power, dk, volume: float, number_density: float) -> np.ndarray:
    """Error of a bandpower, Eq. (6) of the study: Gaussian sample variance plus shot noise.

    ``sigma_P / P = sqrt(2 / (V_k V)) (1 + n P) / (n P)`` with the Fourier-shell
    volume ``V_k = 4 pi k^2 dk / (2 pi)^3``, i.e.
    ``sigma_P = sqrt(2 / (V_k V)) (P + 1/n)``.

    Parameters
    ----------
    k, dk : array_like
        Bandpower centres and widths [h/Mpc].
    power : array_like
        Shot-noise-subtracted power [(Mpc/h)^3].
    volume : float
        Volume of the catalogue [(Mpc/h)^3].
    number_density : float
        Mean number density of the tracer [(h/Mpc)^3].
    """
    if volume <= 0 or number_density <= 0:
        raise ValueError(f"volume and number density must be positive, got {volume} and {number_density}")
    k, power, dk = (np.asarray(a, dtype=float) for a in (k, power, dk))
    shell = 4.0 * np.pi * k**2 * dk / (2.0 * np.pi) ** 3
    return np.sqrt(2.0 / (shell * volume)) * np.abs(power + 1.0 / number_density)


def residuals(predicted, true, sigma_predicted) -> np.ndarray:
    """Eq. (7) of the study: ``(P_pred - P_true)^2 / sigma_pred^2`` per bandpower."""
    predicted, true, sigma = (np.asarray(a, dtype=float) for a in (predicted, true, sigma_predicted))
    if np.any(sigma <= 0):
        raise ValueError("errors must be positive")
    return (predicted - true) ** 2 / sigma**2


def chi2(predicted, true, sigma_predicted) -> float:
    """Sum of the residuals of Eq. (7) over the bandpowers."""
    return float(np.sum(residuals(predicted, true, sigma_predicted)))


def bin_of(values, edges) -> np.ndarray:
    """Bin index (0, 1, ...) of each value for the given edges; -1 outside them.

    The last bin includes its upper edge.
    """
    values, edges = np.asarray(values, dtype=float), np.asarray(edges, dtype=float)
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    idx[(values < edges[0]) | (values > edges[-1]) | ~np.isfinite(values)] = -1
    return idx


def bin_table(samples: dict[str, pd.DataFrame], edges: dict[str, tuple[float, ...]] = STUDY_BIN_EDGES,
              ) -> pd.DataFrame:
    """Table 2: counts and centres of the two bins of each property, per sample.

    Parameters
    ----------
    samples : dict
        Sample name (e.g. "true", "raw stack") -> table with one column per property.
    edges : dict
        Property -> bin edges.

    Returns
    -------
    pandas.DataFrame
        One row per property and bin: the edges, their midpoint (the study's
        definition of a bin's centre) beside the value the study quotes, and per
        sample the count and the median of the galaxies in the bin; a last
        column counts the galaxies outside all bins.
    """
    rows = []
    for prop, e in edges.items():
        labels = {name: bin_of(table[prop].to_numpy(), e) for name, table in samples.items()}
        for b in range(len(e) - 1):
            row = {"property": prop, "bin": b + 1, "edges": f"[{e[b]:g}, {e[b + 1]:g}]",
                   "centre (edge midpoint)": round((e[b] + e[b + 1]) / 2, 3),
                   "centre (study)": STUDY_BIN_CENTRES[prop][b] if prop in STUDY_BIN_CENTRES else np.nan}
            for name, table in samples.items():
                values, inside = table[prop].to_numpy(), labels[name] == b
                row[f"N {name}"] = int(inside.sum())
                row[f"median {name}"] = float(np.median(values[inside])) if inside.any() else np.nan
            rows.append(row)
        for name in samples:
            rows[-1][f"outside {name}"] = int((labels[name] < 0).sum())
    return pd.DataFrame(rows).set_index(["property", "bin"])


def split_spectra(samples: dict[str, tuple[pd.DataFrame, np.ndarray]], box_size: float,
                  edges: dict[str, tuple[float, ...]] = STUDY_BIN_EDGES, reference: str = "true",
                  skip_empty: bool = False, reference_spectra: pd.DataFrame | None = None,
                  **options) -> pd.DataFrame:
    """Power spectra of every bin of every property, for each sample, with Eq. (6)-(7).

    Parameters
    ----------
    samples : dict
        Sample name -> (table with one column per property, positions (N, 3) [Mpc/h]).
        The sample named ``reference`` is the truth the others are compared with.
    box_size : float
        Side of the periodic box [Mpc/h].
    edges : dict
        Property -> bin edges.
    reference : str
        Name of the true sample.
    reference_spectra : pandas.DataFrame, optional
        The reference's rows of an earlier result of this function (same
        edges and options): reused instead of measured again, and left out of
        the result (e.g. when many samples are compared with one truth).
    skip_empty : bool
        Leave out a bin that holds fewer than :data:`MIN_OBJECTS` galaxies in
        some sample (a model may predict no galaxy in a sparse extreme bin)
        instead of raising; such a
        bin is listed in ``DataFrame.attrs["empty"]`` (and, if the reference's
        bin is empty, no sample gets a spectrum for it).
    **options
        Passed to :func:`power_spectrum` (``n_mesh``, ``n_bins``...).

    Returns
    -------
    pandas.DataFrame
        Long format: property, bin, sample, k, P, sigma (Eq. 6), N, n_modes,
        and for samples other than the reference the residual (Eq. 7), the
        ratio to the reference and whether the reference's power exceeds its
        error there (``true detected``).
    """
    if reference not in samples and reference_spectra is None:
        raise ValueError(f"no reference sample {reference!r} among {sorted(samples)}")
    volume = box_size**3
    frames, empty = [], []
    for prop, e in edges.items():
        truth = {}
        if reference_spectra is not None:
            given = reference_spectra[(reference_spectra["property"] == prop)
                                      & (reference_spectra["sample"] == reference)]
            truth = {int(b) - 1: rows.reset_index(drop=True) for b, rows in given.groupby("bin")}
        names = [] if reference_spectra is not None else [reference]
        for name in [*names, *(s for s in samples if s != reference)]:
            table, positions = samples[name]
            labels = bin_of(table[prop].to_numpy(), e)
            for b in range(len(e) - 1):
                members = labels == b
                if members.sum() < MIN_OBJECTS or (name != reference and b not in truth):
                    if not skip_empty:
                        raise ValueError(f"bin {b + 1} of {prop} {e[b]:g}-{e[b + 1]:g} holds {members.sum()} "
                                         f"galaxies in sample {name!r} (a spectrum needs {MIN_OBJECTS})")
                    empty.append((prop, b + 1, name))
                    continue
                ps = power_spectrum(np.asarray(positions)[members], box_size, **options)
                sigma = gaussian_error(ps.k, ps.power, ps.dk, volume, ps.number_density)
                frame = pd.DataFrame({"property": prop, "bin": b + 1, "sample": name, "k": ps.k,
                                      "P": ps.power, "sigma": sigma, "N": ps.n_objects,
                                      "n_modes": ps.n_modes})
                if name == reference:
                    truth[b] = frame
                else:
                    true_p = truth[b]["P"].to_numpy()
                    frame["residual"] = residuals(ps.power, true_p, sigma)
                    frame["ratio"] = ps.power / true_p
                    frame["true detected"] = true_p > truth[b]["sigma"].to_numpy()
                frames.append(frame)
    if not frames:
        raise ValueError("every bin is empty")
    out = pd.concat(frames, ignore_index=True)
    out.attrs["empty"] = empty
    return out


def chi2_table(spectra: pd.DataFrame) -> pd.DataFrame:
    """χ² (sum of Eq. 7 over bandpowers) per property, bin and predicted sample.

    Also: the number of bandpowers, the range of the residuals, and the mean
    |P_pred / P_true - 1| over the bandpowers where the true power exceeds its
    Eq. 6 error (a ratio to a power consistent with zero means nothing).
    """
    pred = spectra.dropna(subset=["residual"])
    grouped = pred.groupby(["property", "bin", "sample"], sort=False)
    detected = pred[pred["true detected"].astype(bool)].groupby(["property", "bin", "sample"], sort=False)
    return pd.DataFrame({
        "chi2": grouped["residual"].sum(),
        "bandpowers": grouped["residual"].size(),
        "min residual": grouped["residual"].min(),
        "max residual": grouped["residual"].max(),
        "detected bandpowers": detected["ratio"].size(),
        "mean |ratio - 1|": detected["ratio"].apply(lambda r: float(np.mean(np.abs(r - 1)))),
    }).fillna({"detected bandpowers": 0})
