"""Build the study's catalogue from IllustrisTNG simulation files.

Reads the standard TNG layout (group catalogues, SubLink trees and the offsets
file; see :mod:`hgtools.sources.tng_mini` for a miniature) with the official
``illustris_python`` reader, and computes for each central galaxy (the
``GroupFirstSub`` of a FoF group, with ``SubhaloFlag`` = 1):

- ``M_h`` = log10 ``Group_M_Crit200`` [Msun/h]; R_vir = ``Group_R_Crit200``;
  V_vir = sqrt(G M_vir / R_vir) (physical, at the snapshot's scale factor);
- ``S_h``: Bullock spin lambda = |J| / (sqrt 2 M_vir V_vir R_vir), with
  J = M_vir j and j the central subhalo's specific angular momentum
  ``SubhaloSpin`` [(ckpc/h) km/s]: the subhalo's bound particles stand for the
  halo's rotation (the group catalogue stores no halo angular momentum);
- ``C_h``: log10 c_vir, by inverting the NFW relation V_max / V_vir(c) with the
  central's ``SubhaloVmax`` (ratios below 1 have no NFW solution and are set to
  the smallest NFW value, c = 2.163, and counted), or, with particle data, from
  an NFW fit to the halo's dark-matter density profile (the study's definition);
- ``z_h``: z_1/2, the redshift at which the SubLink main branch first held half
  of its final ``SubhaloMass``, linearly interpolated in redshift between the
  two snapshots around the crossing; the branch is followed back to z = 6 at
  most, and a branch already above half there gets z = 6 (counted as censored);
- ``Delta3_h``: periodic counts of all subhaloes within 3 Mpc/h over the mean;
- ``stellar_mass`` = log10 ``SubhaloMassType[:, 4]`` [Msun/h]; ``sSFR`` =
  log10 ``SubhaloSFR`` / M* [h/yr] (``-inf`` where SFR = 0, then the zero-SFR
  recipe); ``color`` = g - i of ``SubhaloStellarPhotometrics``; ``radius`` =
  log10 ``SubhaloHalfmassRadType[:, 4]`` [ckpc/h]; positions ``GroupPos`` and
  ``SubhaloPos`` [Mpc/h].

Then the validation, cuts, zero-SFR recipe and atomic write shared by every source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hgtools import nfw
from hgtools.catalogue import (LOG_HALO_MASS_MIN, LOG_STELLAR_MASS_MIN, CatalogueError,
                               build_catalogue)
from hgtools.config import DEFAULT_SEED
from hgtools.overdensity import delta3

#: Gravitational constant [kpc (km/s)^2 / Msun].
G_KPC = 4.30091727e-6
GROUP_FIELDS = ("GroupFirstSub", "Group_M_Crit200", "Group_R_Crit200", "GroupPos")
SUBHALO_FIELDS = ("SubhaloFlag", "SubhaloMassType", "SubhaloSFR", "SubhaloStellarPhotometrics",
                  "SubhaloHalfmassRadType", "SubhaloPos", "SubhaloSpin", "SubhaloVmax")
HEADER_ATTRS = ("NumFiles", "Ngroups_ThisFile", "Ngroups_Total", "Nsubgroups_ThisFile",
                "Nsubgroups_Total", "BoxSize", "Redshift", "Time")
G_BAND, I_BAND = 4, 6  # in SubhaloStellarPhotometrics: U, B, V, K, g, r, i, z
#: Highest redshift from which main branches are followed.
Z_MAX = 6.0


class TNGError(CatalogueError):
    """The TNG files are missing or inconsistent; the message names the file and field."""


@dataclass(frozen=True)
class TNGLayout:
    """Where the files of one TNG run and snapshot are."""

    base_path: Path
    snapshot: int
    group_files: tuple[Path, ...]
    offsets_path: Path
    tree_files: tuple[Path, ...]


#: Where SubLink trees may lie, relative to the run's ``output`` folder, in the order the official
#: reader (``illustris_python.sublink.treePath``) tries them: TNG's data release keeps them in
#: ``../postprocessing/trees/SubLink/``.
TREE_FOLDERS = (Path("trees"), Path("..") / "postprocessing" / "trees", Path("postprocessing") / "trees")


def group_file(base_path: Path, snapshot: int, chunk: int) -> Path:
    """Path of one group-catalogue chunk."""
    return Path(base_path) / f"groups_{snapshot:03d}" / f"fof_subhalo_tab_{snapshot:03d}.{chunk}.hdf5"


def offsets_file(base_path: Path, snapshot: int) -> Path:
    """The offsets file where ``illustris_python.groupcat.offsetPath`` looks for it."""
    return Path(base_path).parent / "postprocessing" / "offsets" / f"offsets_{snapshot:03d}.hdf5"


def tree_files(base_path: Path, tree_name: str = "SubLink") -> tuple[Path, ...]:
    """The chunks ``tree_extended.N.hdf5`` of a run's SubLink trees, found as the official reader finds them.

    Raises
    ------
    TNGError
        If no folder of :data:`TREE_FOLDERS` holds ``tree_extended.0.hdf5`` (every place tried is named).
    """
    tried = []
    for relative in TREE_FOLDERS:
        folder = Path(base_path) / relative / tree_name
        tried.append(folder)
        files = []
        while (folder / f"tree_extended.{len(files)}.hdf5").exists():
            files.append(folder / f"tree_extended.{len(files)}.hdf5")
        if files:
            return tuple(files)
    raise TNGError(f"no {tree_name} trees: tree_extended.0.hdf5 is in none of "
                   + ", ".join(str(f) for f in tried))


def locate(base_path: str | Path, snapshot: int = 99, offsets_path: str | Path | None = None) -> TNGLayout:
    """Find and check the files of a TNG run; raise :class:`TNGError` naming what is missing.

    Trees are found wherever ``illustris_python`` finds them (any folder of
    :data:`TREE_FOLDERS`); the offsets file where it looks (beside the output
    folder), or at ``offsets_path``.
    """
    base = Path(base_path)
    if not base.is_dir():
        raise TNGError(f"TNG base path {base} is not a folder")
    first = group_file(base, snapshot, 0)
    if not first.exists():
        raise TNGError(f"{base} is not a TNG run output: {first} not found "
                       f"(expected groups_{snapshot:03d}/fof_subhalo_tab_{snapshot:03d}.N.hdf5)")
    with _open_hdf5(first) as f:
        if "Header" not in f or "NumFiles" not in f["Header"].attrs:
            raise TNGError(f"{first}: no Header/NumFiles attribute")
        n_files = int(f["Header"].attrs["NumFiles"])
    files = tuple(group_file(base, snapshot, i) for i in range(n_files))
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise TNGError(f"missing group-catalogue chunk(s) (Header NumFiles = {n_files}): {', '.join(missing)}")
    offsets = Path(offsets_path) if offsets_path else offsets_file(base, snapshot)
    if not offsets.exists():
        raise TNGError(f"offsets file not found: {offsets} (pass its path with --offsets)")
    return TNGLayout(base, snapshot, files, offsets, tree_files(base))


def _open_hdf5(path: Path) -> h5py.File:
    """Open an HDF5 file for reading; a damaged or truncated file raises :class:`TNGError` naming it."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise TNGError(f"{path}: cannot be read as HDF5 (damaged or truncated?): {err}") from None


def read_chunk_header(path: Path, group_fields=GROUP_FIELDS, subhalo_fields=SUBHALO_FIELDS) -> dict:
    """Check one group-catalogue chunk's header and fields; return its header.

    Raises :class:`TNGError` on a missing header attribute, a missing field, or
    a field whose length differs from the chunk's count.
    """
    with _open_hdf5(path) as f:
        attrs = dict(f["Header"].attrs) if "Header" in f else {}
        missing = [a for a in HEADER_ATTRS if a not in attrs]
        if missing:
            raise TNGError(f"{path}: Header lacks {', '.join(missing)}")
        for kind, group, fields in (("Ngroups", "Group", group_fields), ("Nsubgroups", "Subhalo", subhalo_fields)):
            n_here = int(attrs[f"{kind}_ThisFile"])
            if n_here == 0:
                continue
            for field in fields:
                if group not in f or field not in f[group]:
                    raise TNGError(f"{path}: field {group}/{field} is missing")
                if f[group][field].shape[0] != n_here:
                    raise TNGError(f"{path}: {group}/{field} has {f[group][field].shape[0]} rows "
                                   f"but Header {kind}_ThisFile = {n_here}")
                try:  # the last row lies nearest the end of the file: a truncated chunk fails here
                    f[group][field][-1]
                except OSError as err:
                    raise TNGError(f"{path}: {group}/{field} cannot be read (damaged or truncated "
                                   f"file?): {err}") from None
    return attrs


def check_group_catalogue(layout: TNGLayout, group_fields=GROUP_FIELDS, subhalo_fields=SUBHALO_FIELDS) -> dict:
    """Check every chunk (:func:`read_chunk_header`) and that their counts add up; return the first header.

    Raises :class:`TNGError` naming the file and field of the first problem.
    """
    headers = [read_chunk_header(path, group_fields, subhalo_fields) for path in layout.group_files]
    for kind in ("Ngroups", "Nsubgroups"):
        total = sum(int(h[f"{kind}_ThisFile"]) for h in headers)
        if total != int(headers[0][f"{kind}_Total"]):
            raise TNGError(f"inconsistent Header counts: {kind}_ThisFile adds up to {total} over "
                           f"{len(headers)} chunks but {kind}_Total = {int(headers[0][f'{kind}_Total'])}")
    return headers[0]


def snapshot_redshifts(base_path: Path, snapshots: np.ndarray,
                       table: dict[int, float] | None = None) -> dict[int, float]:
    """Redshift of each snapshot: from its group-catalogue header, else from ``table``.

    Raises :class:`TNGError` listing the snapshots found in neither.
    """
    out, missing = {}, []
    for snap in sorted({int(s) for s in snapshots}):
        path = group_file(base_path, snap, 0)
        if path.exists():
            with _open_hdf5(path) as f:
                if "Redshift" in f["Header"].attrs:
                    out[snap] = float(f["Header"].attrs["Redshift"])
                    continue
        if table is not None and snap in table:
            out[snap] = float(table[snap])
        else:
            missing.append(snap)
    if missing:
        raise TNGError(f"no redshift for snapshot(s) {missing}: neither groups_NNN/ headers nor a "
                       "redshift table (--redshifts FILE, lines 'snapshot,redshift') give them")
    return out


def read_redshift_table(path: str | Path) -> dict[int, float]:
    """A CSV table of snapshot redshifts (columns ``snapshot,redshift``)."""
    table = pd.read_csv(path)
    if not {"snapshot", "redshift"} <= set(table.columns):
        raise TNGError(f"{path}: a redshift table needs the columns 'snapshot' and 'redshift'")
    return dict(zip(table["snapshot"].astype(int), table["redshift"].astype(float)))


def main_branches(layout: TNGLayout, subhalo_ids: np.ndarray, mass_field: str = "SubhaloMass",
                  block: int = 1 << 22) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Main progenitor branches of many subhaloes at once, from the depth-first SubLink layout.

    The branch of the subhalo in tree row ``RowNum`` is the contiguous rows
    ``RowNum .. RowNum + MainLeafProgenitorID - SubhaloID``.  Rows are read per
    tree file in contiguous blocks and gathered with array indexing.

    Returns
    -------
    starts, lengths : numpy.ndarray
        Where each subhalo's branch starts in the flat arrays and its length
        (0 for subhaloes absent from the trees: RowNum = -1).
    snaps, masses : numpy.ndarray
        Flat SnapNum and ``mass_field`` of all branches, root first.
    """
    with _open_hdf5(layout.offsets_path) as f:
        for name in ("Subhalo/SubLink/RowNum", "Subhalo/SubLink/SubhaloID"):
            if name not in f:
                raise TNGError(f"{layout.offsets_path}: dataset {name} is missing")
        row_num = f["Subhalo/SubLink/RowNum"][:][subhalo_ids]
        tree_ids = f["Subhalo/SubLink/SubhaloID"][:][subhalo_ids]
    file_rows = []
    for path in layout.tree_files:
        with _open_hdf5(path) as f:
            for name in ("SubhaloID", "MainLeafProgenitorID", "SnapNum", mass_field):
                if name not in f:
                    raise TNGError(f"{path}: dataset {name} is missing")
            file_rows.append(f["SubhaloID"].shape[0])
    file_start = np.concatenate([[0], np.cumsum(file_rows)])
    lengths = np.zeros(len(subhalo_ids), dtype=np.int64)
    in_tree = row_num >= 0
    if (row_num >= file_start[-1]).any():
        raise TNGError(f"{layout.offsets_path}: RowNum beyond the {file_start[-1]} rows of the trees")
    which_file = np.searchsorted(file_start, row_num, side="right") - 1

    # pass 1: branch lengths from MainLeafProgenitorID at each root row
    for i, path in enumerate(layout.tree_files):
        mine = np.flatnonzero(in_tree & (which_file == i))
        if mine.size == 0:
            continue
        local = row_num[mine] - file_start[i]
        with _open_hdf5(path) as f:
            ids = _gather(f["SubhaloID"], local, block)
            leaf = _gather(f["MainLeafProgenitorID"], local, block)
        if not np.array_equal(ids, tree_ids[mine]):
            raise TNGError(f"{path}: SubhaloID at RowNum disagrees with {layout.offsets_path}")
        lengths[mine] = leaf - ids + 1
        if (local + lengths[mine] > file_rows[i]).any():
            raise TNGError(f"{path}: a main branch runs past the end of the file")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    # pass 2: SnapNum and mass along every branch
    snaps = np.empty(lengths.sum(), dtype=np.int64)
    masses = np.empty(lengths.sum(), dtype=np.float64)
    for i, path in enumerate(layout.tree_files):
        mine = np.flatnonzero(in_tree & (which_file == i))
        if mine.size == 0:
            continue
        local_rows = np.repeat(row_num[mine] - file_start[i], lengths[mine]) + _ranges(lengths[mine])
        dest = np.repeat(starts[mine], lengths[mine]) + _ranges(lengths[mine])
        with _open_hdf5(path) as f:
            snaps[dest] = _gather(f["SnapNum"], local_rows, block)
            masses[dest] = _gather(f[mass_field], local_rows, block)
    return starts, lengths, snaps, masses


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """0..n-1 for each n in ``lengths``, concatenated."""
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - offsets


def _gather(dataset: h5py.Dataset, rows: np.ndarray, block: int) -> np.ndarray:
    """dataset[rows] for any row order, reading contiguous blocks of at most ``block`` rows."""
    out = np.empty(rows.size, dtype=dataset.dtype)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    lo = 0
    while lo < sorted_rows.size:
        first = sorted_rows[lo]
        hi = np.searchsorted(sorted_rows, first + block, side="left")
        chunk = dataset[first:sorted_rows[hi - 1] + 1]
        out[order[lo:hi]] = chunk[sorted_rows[lo:hi] - first]
        lo = hi
    return out


def formation_redshift(starts: np.ndarray, lengths: np.ndarray, snaps: np.ndarray, masses: np.ndarray,
                       redshift_of: dict[int, float], z_max: float = Z_MAX) -> tuple[np.ndarray, np.ndarray]:
    """z_1/2 of each main branch (vectorised).

    The branch's last snapshot (highest redshift, within ``z <= z_max``) whose
    mass is at least half the root mass marks the first time the branch held
    half its final mass; z_1/2 is interpolated linearly in redshift between
    that snapshot and the one before it.  If there is none before it inside
    the window, z_1/2 is that snapshot's redshift (censored).

    Returns
    -------
    z_half : numpy.ndarray
        NaN for empty branches.
    censored : numpy.ndarray
        True where the branch never held less than half its mass after z_max.
    """
    n = len(lengths)
    z_half = np.full(n, np.nan)
    censored = np.zeros(n, dtype=bool)
    ok = lengths > 0
    if not ok.any():
        return z_half, censored
    lookup = np.full(max(redshift_of) + 1, np.nan)
    lookup[list(redshift_of)] = list(redshift_of.values())
    z = lookup[snaps]
    branch = np.repeat(np.arange(n), lengths)
    half = 0.5 * masses[starts[branch]]
    window = z <= z_max
    above = window & (masses >= half)
    # last row of each branch that is above half (rows run from z = 0 to high z)
    candidate = np.where(above, np.arange(z.size), -1)
    last = np.full(n, -1)
    np.maximum.at(last, branch, candidate)
    end = starts + lengths
    nxt = last + 1
    has_prev = ok & (last >= 0) & (nxt < end)
    has_prev[has_prev] &= window[nxt[has_prev]]
    a, b = last[has_prev], nxt[has_prev]
    z_half[has_prev] = z[b] + (half[a] - masses[b]) * (z[a] - z[b]) / (masses[a] - masses[b])
    cens = ok & (last >= 0) & ~has_prev
    z_half[cens] = z[last[cens]]
    censored[cens] = True
    return z_half, censored


def virial_velocity(m200: np.ndarray, r200: np.ndarray, scale_factor: float) -> np.ndarray:
    """V_vir = sqrt(G M / R) [km/s] from M [1e10 Msun/h] and comoving R [ckpc/h] (h cancels)."""
    return np.sqrt(G_KPC * m200 * 1e10 / (scale_factor * r200))


def spin_parameter(spin: np.ndarray, m200: np.ndarray, r200: np.ndarray, scale_factor: float) -> np.ndarray:
    """Bullock lambda from the specific angular momentum ``SubhaloSpin`` [(ckpc/h) km/s].

    lambda = |J| / (sqrt 2 M V R) = |j| / (sqrt 2 V R) with physical j and R: the
    factors a/h of j and R cancel, so comoving values can be used directly.
    """
    v = virial_velocity(m200, r200, scale_factor)
    return np.linalg.norm(spin, axis=1) / (np.sqrt(2.0) * v * r200)


def nfw_concentrations(base_path: Path, snapshot: int, group_ids: np.ndarray, centres: np.ndarray,
                       r200: np.ndarray, box: float) -> np.ndarray:
    """c_vir from NFW fits to each group's dark-matter particles (``illustris_python.snapshot``)."""
    from illustris_python import snapshot as il_snapshot

    out = np.full(len(group_ids), np.nan)
    for k, gid in enumerate(tqdm(group_ids, desc="NFW fits", unit="halo", leave=False)):
        pos = il_snapshot.loadHalo(str(base_path), snapshot, int(gid), "dm", fields=["Coordinates"])
        if isinstance(pos, dict):  # no particles
            continue
        d = pos - centres[k]
        d -= box * np.round(d / box)  # periodic
        out[k] = nfw.fit_concentration(np.linalg.norm(d, axis=1), float(r200[k]))
    return out


def tng_catalogue(base_path: str | Path, snapshot: int = 99, *, offsets_path: str | Path | None = None,
                  redshift_table: dict[int, float] | None = None, concentration: str = "vmax",
                  seed: int = DEFAULT_SEED, verbose: bool = True) -> tuple[pd.DataFrame, dict]:
    """The study's catalogue from a TNG run on disk.

    Parameters
    ----------
    base_path : path
        The run's ``output`` folder (holding ``groups_099/``, ``trees/``).
    snapshot : int
        Snapshot number (99 is z = 0).
    offsets_path : path, optional
        The offsets file (default ``base_path/../postprocessing/offsets/offsets_NNN.hdf5``).
    redshift_table : dict, optional
        Snapshot -> redshift, for snapshots whose group-catalogue header is absent.
    concentration : {"vmax", "nfw"}
        From V_max / V_vir (group catalogue only) or from NFW fits to particles.
    seed : int
        Seed of the zero-SFR recipe.
    verbose : bool
        Progress and a summary of objects per step and time per stage.

    Returns
    -------
    catalogue, metadata
    """
    from illustris_python import groupcat

    if concentration not in ("vmax", "nfw"):
        raise ValueError(f"concentration must be 'vmax' or 'nfw', got {concentration!r}")
    timings = {}
    progress = tqdm(total=4, desc="TNG catalogue", unit="stage", disable=not verbose, leave=False)
    t0 = time.perf_counter()
    layout = locate(base_path, snapshot, offsets_path)
    header = check_group_catalogue(layout)
    base = str(layout.base_path)
    try:
        groups = groupcat.loadHalos(base, snapshot, fields=list(GROUP_FIELDS))
        subs = groupcat.loadSubhalos(base, snapshot, fields=list(SUBHALO_FIELDS))
    except OSError as err:
        raise TNGError(f"the group catalogue in {layout.group_files[0].parent} cannot be read: {err}") from None
    box = float(header["BoxSize"]) / 1000.0  # Mpc/h
    a = float(header["Time"])
    timings["read group catalogue"] = time.perf_counter() - t0
    progress.update()

    t0 = time.perf_counter()
    steps = [("FoF groups", len(groups["GroupFirstSub"]))]
    gid = np.flatnonzero(groups["GroupFirstSub"] >= 0)
    steps.append(("with a central subhalo", gid.size))
    sid = groups["GroupFirstSub"][gid].astype(np.int64)
    flagged = subs["SubhaloFlag"][sid] == 1
    gid, sid = gid[flagged], sid[flagged]
    steps.append(("central with SubhaloFlag = 1", gid.size))
    m200 = groups["Group_M_Crit200"][gid].astype(float)
    mstar = subs["SubhaloMassType"][sid, 4].astype(float)
    usable = (m200 > 0) & (mstar > 0) & (groups["Group_R_Crit200"][gid] > 0)
    gid, sid, m200, mstar = gid[usable], sid[usable], m200[usable], mstar[usable]
    steps.append(("with M_200c > 0 and stars", gid.size))
    log_m, log_ms = np.log10(m200 * 1e10), np.log10(mstar * 1e10)
    keep = log_m >= LOG_HALO_MASS_MIN
    steps.append((f"with M_h >= {LOG_HALO_MASS_MIN:g}", int(keep.sum())))
    keep &= log_ms >= LOG_STELLAR_MASS_MIN
    steps.append((f"and stellar_mass >= {LOG_STELLAR_MASS_MIN:g}", int(keep.sum())))
    gid, sid, m200, log_m, log_ms = gid[keep], sid[keep], m200[keep], log_m[keep], log_ms[keep]
    if gid.size == 0:
        raise CatalogueError(f"empty selection: no central galaxy of {base} passes the cuts")
    timings["select centrals"] = time.perf_counter() - t0
    progress.update()

    t0 = time.perf_counter()
    starts, lengths, snaps, masses = main_branches(layout, sid)
    if lengths.sum() == 0:
        raise TNGError(f"none of the {sid.size} selected centrals has a SubLink main branch "
                       f"({layout.offsets_path}: RowNum = -1)")
    redshifts = snapshot_redshifts(layout.base_path, np.unique(snaps), redshift_table)
    z_half, censored = formation_redshift(starts, lengths, snaps, masses, redshifts)
    in_tree = lengths > 0
    steps.append(("with a SubLink main branch", int(in_tree.sum())))
    timings["SubLink main branches"] = time.perf_counter() - t0
    progress.update()
    gid, sid, m200, log_m, log_ms = gid[in_tree], sid[in_tree], m200[in_tree], log_m[in_tree], log_ms[in_tree]
    z_half, censored = z_half[in_tree], censored[in_tree]

    t0 = time.perf_counter()
    r200 = groups["Group_R_Crit200"][gid].astype(float)
    n_clipped = 0
    if concentration == "vmax":
        ratio = subs["SubhaloVmax"][sid].astype(float) / virial_velocity(m200, r200, a)
        c = nfw.concentration_from_vmax(ratio)
        low = ratio < 1.0
        n_clipped = int(low.sum())
        c[low] = nfw.X_VMAX
        if np.isnan(c).any():
            raise TNGError(f"{int(np.isnan(c).sum())} central(s) with an unusable SubhaloVmax")
    else:
        c = nfw_concentrations(layout.base_path, snapshot, gid, groups["GroupPos"][gid].astype(float),
                               r200, float(header["BoxSize"]))
        if np.isnan(c).any():
            raise TNGError(f"NFW fit failed for {int(np.isnan(c).sum())} halo(s) (fewer than 100 particles)")
    spin = spin_parameter(subs["SubhaloSpin"][sid].astype(float), m200, r200, a)
    sfr = subs["SubhaloSFR"][sid].astype(float)
    with np.errstate(divide="ignore"):
        ssfr = np.log10(sfr / (10**log_ms))
    phot = subs["SubhaloStellarPhotometrics"][sid].astype(float)
    gpos = np.mod(groups["GroupPos"][gid].astype(float) / 1000.0, box)
    spos = np.mod(subs["SubhaloPos"][sid].astype(float) / 1000.0, box)
    # the central subhalo is one of the tracers within 3 Mpc/h of its group: it is not counted
    d3 = delta3(gpos, np.mod(subs["SubhaloPos"].astype(float) / 1000.0, box), box)
    timings["halo and galaxy properties"] = time.perf_counter() - t0
    progress.update()

    raw = pd.DataFrame({
        "ID": sid.astype(np.int64), "M_h": log_m, "C_h": np.log10(c), "S_h": spin, "z_h": z_half,
        "Delta3_h": d3, "stellar_mass": log_ms, "sSFR": ssfr, "radius":
        np.log10(subs["SubhaloHalfmassRadType"][sid, 4].astype(float)), "color": phot[:, G_BAND] - phot[:, I_BAND],
        "sfr_zero": sfr == 0, "X_h": gpos[:, 0], "Y_h": gpos[:, 1], "Z_h": gpos[:, 2],
        "x_g": spos[:, 0], "y_g": spos[:, 1], "z_g": spos[:, 2]})
    meta = {"source": "tng", "simulation": layout.base_path.resolve().parent.name,
            "base_path": str(layout.base_path.resolve()), "snapshot": int(snapshot),
            "redshift": float(header["Redshift"]), "box_size": box,
            "cosmology": {"Om0": float(header.get("Omega0", np.nan)), "h": float(header.get("HubbleParam", np.nan))},
            "concentration_method": concentration, "z_half_max_redshift": Z_MAX,
            "n_z_half_censored": int(censored.sum()), "n_concentration_clipped": n_clipped,
            "source_counts": steps}
    progress.close()
    catalogue, meta = build_catalogue(raw, seed=seed, metadata=meta, preselected=True)
    meta["stage_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    if verbose:
        for step, count in steps:
            print(f"  {step:<36s} {count:>10d}")
        for stage, seconds in timings.items():
            print(f"  {stage:<36s} {seconds:>9.2f} s")
    return catalogue, meta
