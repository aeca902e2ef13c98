"""Miniature IllustrisTNG runs, written in the exact on-disk layout, with known answers.

:func:`write_mini_run` writes what a TNG user has on disk, in miniature::

    ROOT/output/groups_099/fof_subhalo_tab_099.N.hdf5   group catalogue chunks
    ROOT/output/groups_SSS/fof_subhalo_tab_SSS.0.hdf5   headers of earlier snapshots
    ROOT/postprocessing/trees/SubLink/tree_extended.N.hdf5  SubLink trees (depth-first)
    ROOT/output/snapdir_099/snap_099.N.hdf5             dark-matter particles (optional)
    ROOT/postprocessing/offsets/offsets_099.hdf5        chunk, tree and particle offsets

Units are TNG's: masses 1e10 Msun/h, lengths ckpc/h, velocities km/s, SFR
Msun/yr.  The catalogue values are chosen first (concentration, spin,
formation redshift, ...) and the stored fields derived from them, so a builder
that recovers them is right.  Special cases come first: a group without
subhaloes, a central with SubhaloFlag = 0, one without stars, one with
SFR = 0, a branch that never halves after z = 6, a branch that crosses half
its mass twice, a central missing from the trees, haloes below each cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from hgtools import nfw
from hgtools.cosmology import virial_radius
from hgtools.sources.tng import G_BAND, G_KPC, I_BAND

#: Snapshot numbers of TNG's full snapshots used by the miniature trees, with their redshifts.
SNAPSHOT_REDSHIFTS: dict[int, float] = {
    99: 0.0, 91: 0.1, 84: 0.2, 78: 0.3, 72: 0.4, 67: 0.5, 59: 0.7, 50: 1.0,
    40: 1.5, 33: 2.0, 25: 3.0, 21: 4.0, 17: 5.0, 13: 6.0, 11: 7.0, 8: 8.0,
}
TREE_ID_OFFSET = 10**12  # SubhaloIDs in the trees are not row numbers

#: Where :func:`write_mini_run` puts the SubLink trees, relative to the run folder.
TREE_LAYOUTS = {"postprocessing": Path("postprocessing/trees"), "output": Path("output/trees"),
                "output/postprocessing": Path("output/postprocessing/trees")}

#: Why a group is not in the catalogue, in the order the builder applies the steps.
STEPS = ("no central subhalo", "central flagged", "no stars or no M_200c",
         "below M_h cut", "below stellar-mass cut", "not in SubLink", "kept")


@dataclass
class MiniRun:
    """Where a miniature run was written and what a correct builder must find."""

    base_path: Path
    offsets_path: Path
    snapshot: int
    box_size: float  # Mpc/h
    truth: pd.DataFrame  # one row per FoF group: ``status`` and the expected catalogue values
    subhalo_positions: np.ndarray  # every subhalo, Mpc/h (the delta_3 tracers)
    n_subhalos: int

    def counts(self) -> list[tuple[str, int]]:
        """Groups surviving each step, as (step, remaining) pairs."""
        remaining = len(self.truth)
        out = [("FoF groups", remaining)]
        for step in STEPS[:-1]:
            remaining -= int((self.truth["status"] == step).sum())
            out.append((step, remaining))
        return out


def r200_ckpc(mass_1e10: np.ndarray) -> np.ndarray:
    """R_200c [ckpc/h] of a mass in 1e10 Msun/h at z = 0 (0 for a zero mass)."""
    mass = np.asarray(mass_1e10, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(mass > 0, 1000.0 * virial_radius(np.log10(mass * 1e10)), 0.0)


def _special_groups() -> list[dict]:
    """Hand-made groups that exercise every rule of the builder."""
    base = dict(log_m=12.0, c=8.0, spin=0.04, z_half=1.2, log_ms=10.2, ssfr=-10.3,
                log_r=0.6, g=0.9, i=0.2, n_sat=1, flag=1, in_tree=True, history="linear")
    return [
        {**base, "status": "kept", "log_m": 12.5},
        {**base, "status": "no central subhalo", "n_sat": -1},
        {**base, "status": "central flagged", "flag": 0},
        {**base, "status": "no stars or no M_200c", "log_ms": None},
        {**base, "status": "kept", "ssfr": None},  # SFR exactly zero
        {**base, "status": "kept", "z_half": 7.5, "expect_z": 6.0},  # never halves after z = 6
        {**base, "status": "kept", "history": "twice", "expect_z": 5.5},  # crosses half twice
        {**base, "status": "not in SubLink", "in_tree": False},
        {**base, "status": "below M_h cut", "log_m": 10.3},
        {**base, "status": "below stellar-mass cut", "log_ms": 8.5},
        {**base, "status": "no stars or no M_200c", "log_m": None},
    ]


def _random_groups(n: int, rng: np.random.Generator) -> list[dict]:
    groups = []
    for _ in range(n):
        log_m = rng.uniform(10.8, 13.5)
        groups.append(dict(
            status="kept", log_m=log_m, c=rng.uniform(3.0, 20.0), spin=rng.lognormal(np.log(0.04), 0.5),
            z_half=rng.uniform(0.3, 4.0), log_ms=rng.uniform(9.0, 11.5), ssfr=rng.uniform(-12.5, -9.0),
            log_r=rng.uniform(0.1, 1.2), g=rng.uniform(-20.5, -18.0), i=0.0, n_sat=int(rng.integers(0, 4)),
            flag=1, in_tree=True, history="linear"))
        groups[-1]["i"] = groups[-1]["g"] - rng.uniform(0.3, 1.2)
    return groups


def _branch_masses(m0: float, group: dict, redshifts: np.ndarray) -> np.ndarray:
    """Main-branch masses at the snapshots' redshifts (root first)."""
    if group["history"] == "twice":
        # above half at z = 5, below at z = 6, below again at z = 3 and 4, above from z = 2
        frac = {0.0: 1.0, 0.1: 0.97, 0.2: 0.94, 0.3: 0.9, 0.4: 0.87, 0.5: 0.84, 0.7: 0.8, 1.0: 0.75,
                1.5: 0.66, 2.0: 0.55, 3.0: 0.45, 4.0: 0.42, 5.0: 0.6, 6.0: 0.4, 7.0: 0.3, 8.0: 0.2}
        return m0 * np.array([frac[z] for z in redshifts])
    # linear in z, half at z_half: linear interpolation between snapshots recovers z_half exactly
    return m0 * np.maximum(0.02, 1.0 - redshifts / (2.0 * group["z_half"]))


def write_mini_run(root: str | Path, n_random: int = 30, seed: int = 0, n_chunks: int = 3,
                   n_tree_chunks: int = 2, box_size: float = 20.0, snapshot: int = 99,
                   particles_per_halo: int = 0, trees: str = "postprocessing") -> MiniRun:
    """Write a miniature TNG run under ``root`` and return its expected answers.

    Parameters
    ----------
    root : path
        The run folder (``output/`` and ``postprocessing/`` are created in it).
    n_random : int
        Random groups added after the special cases.
    seed : int
        Seed of every random choice.
    n_chunks, n_tree_chunks : int
        Group-catalogue chunks (the last one is empty) and SubLink tree chunks.
    box_size : float
        Periodic box side [Mpc/h].
    particles_per_halo : int
        If > 0, write dark-matter particles drawn from each group's NFW profile.
    trees : {"postprocessing", "output", "output/postprocessing"}
        Where the SubLink trees go: ``ROOT/postprocessing/trees/SubLink/`` (TNG's
        data release), ``ROOT/output/trees/SubLink/`` or
        ``ROOT/output/postprocessing/trees/SubLink/`` — the three places the
        official reader looks.
    """
    if trees not in TREE_LAYOUTS:
        raise ValueError(f"trees must be one of {', '.join(TREE_LAYOUTS)}, got {trees!r}")
    rng = np.random.default_rng(seed)
    root = Path(root)
    base = root / "output"
    groups = _special_groups() + _random_groups(n_random, rng)
    n_groups = len(groups)
    box_kpc = box_size * 1000.0

    # ---- subhaloes: the central first, then satellites, group by group
    g_pos = rng.uniform(0.0, box_kpc, (n_groups, 3))
    sub_group, sub_is_central = [], []
    first_sub = np.full(n_groups, -1, dtype=np.int32)
    for gi, g in enumerate(groups):
        if g["n_sat"] < 0:
            continue
        first_sub[gi] = len(sub_group)
        for k in range(1 + g["n_sat"]):
            sub_group.append(gi)
            sub_is_central.append(k == 0)
    sub_group = np.array(sub_group)
    sub_is_central = np.array(sub_is_central)
    n_sub = len(sub_group)

    m200 = np.array([0.0 if g["log_m"] is None else 10 ** g["log_m"] / 1e10 for g in groups])
    r200 = r200_ckpc(m200)
    v200 = np.sqrt(G_KPC * m200 * 1e10 / np.where(r200 > 0, r200, 1.0))

    sub = {
        "SubhaloFlag": np.ones(n_sub, dtype=np.uint8),
        "SubhaloGrNr": sub_group.astype(np.int32),
        "SubhaloMass": np.zeros(n_sub, dtype=np.float32),
        "SubhaloMassType": np.zeros((n_sub, 6), dtype=np.float32),
        "SubhaloSFR": np.zeros(n_sub, dtype=np.float32),
        "SubhaloStellarPhotometrics": np.full((n_sub, 8), 1e38, dtype=np.float32),
        "SubhaloHalfmassRadType": np.zeros((n_sub, 6), dtype=np.float32),
        "SubhaloPos": np.zeros((n_sub, 3), dtype=np.float32),
        "SubhaloSpin": np.zeros((n_sub, 3), dtype=np.float32),
        "SubhaloVmax": np.zeros(n_sub, dtype=np.float32),
    }
    for s in range(n_sub):
        g = groups[sub_group[s]]
        gi = sub_group[s]
        if sub_is_central[s]:
            sub["SubhaloFlag"][s] = g["flag"]
            sub["SubhaloMass"][s] = 1.1 * m200[gi] if m200[gi] > 0 else 0.05
            if g["log_ms"] is not None:
                ms = 10 ** g["log_ms"] / 1e10
                sub["SubhaloMassType"][s, 4] = ms
                sub["SubhaloSFR"][s] = 0.0 if g["ssfr"] is None else 10 ** g["ssfr"] * ms * 1e10
                sub["SubhaloHalfmassRadType"][s, 4] = 10 ** g["log_r"]
                phot = rng.uniform(-22.0, -17.0, 8)
                phot[G_BAND], phot[I_BAND] = g["g"], g["i"]
                sub["SubhaloStellarPhotometrics"][s] = phot
            sub["SubhaloPos"][s] = np.mod(g_pos[gi] + rng.normal(0, 2.0, 3), box_kpc)
            if m200[gi] > 0:
                sub["SubhaloVmax"][s] = v200[gi] * nfw.vmax_over_vvir(g["c"])
                direction = rng.normal(size=3)
                direction /= np.linalg.norm(direction)
                sub["SubhaloSpin"][s] = direction * g["spin"] * np.sqrt(2.0) * v200[gi] * r200[gi]
        else:  # satellites: small, star-forming, inside the host
            sub["SubhaloMass"][s] = 0.02 * max(m200[gi], 1.0)
            sub["SubhaloMassType"][s, 4] = 1e-3
            sub["SubhaloSFR"][s] = 0.1
            sub["SubhaloPos"][s] = np.mod(g_pos[gi] + rng.normal(0, 150.0, 3), box_kpc)
            sub["SubhaloVmax"][s] = 50.0
    grp = {
        "GroupFirstSub": first_sub,
        "GroupNsubs": np.array([0 if g["n_sat"] < 0 else 1 + g["n_sat"] for g in groups], dtype=np.int32),
        "Group_M_Crit200": m200.astype(np.float32),
        "Group_R_Crit200": r200.astype(np.float32),
        "GroupPos": g_pos.astype(np.float32),
    }

    # ---- particles (optional): NFW haloes truncated at R_200c
    n_part = np.zeros(n_groups, dtype=np.int64)
    coords = []
    if particles_per_halo > 0:
        for gi, g in enumerate(groups):
            if m200[gi] > 0:
                r = nfw.sample_radii(particles_per_halo, g["c"], float(r200[gi]), rng)
                v = rng.normal(size=(r.size, 3))
                coords.append(np.mod(g_pos[gi] + r[:, None] * v / np.linalg.norm(v, axis=1)[:, None], box_kpc))
                n_part[gi] = r.size
        grp["GroupLenType"] = np.zeros((n_groups, 6), dtype=np.int32)
        grp["GroupLenType"][:, 1] = n_part

    # ---- group catalogue chunks (the last chunk is empty, as happens in TNG)
    g_split = np.array_split(np.arange(n_groups), n_chunks - 1) + [np.arange(0)]
    group_offsets, sub_offsets = [], []
    next_sub = 0
    header = {"BoxSize": box_kpc, "HubbleParam": 0.6774, "Omega0": 0.3089, "OmegaLambda": 0.6911,
              "Redshift": SNAPSHOT_REDSHIFTS[snapshot], "Time": 1.0 / (1.0 + SNAPSHOT_REDSHIFTS[snapshot]),
              "Ngroups_Total": n_groups, "Nsubgroups_Total": n_sub, "NumFiles": n_chunks}
    gdir = base / f"groups_{snapshot:03d}"
    gdir.mkdir(parents=True, exist_ok=True)
    for c, gidx in enumerate(g_split):
        sidx = np.flatnonzero(np.isin(sub_group, gidx))
        group_offsets.append(int(gidx[0]) if gidx.size else n_groups)
        sub_offsets.append(int(sidx[0]) if sidx.size else next_sub)
        next_sub = int(sidx[-1]) + 1 if sidx.size else next_sub
        with h5py.File(gdir / f"fof_subhalo_tab_{snapshot:03d}.{c}.hdf5", "w") as f:
            h = f.create_group("Header")
            for k, v in header.items():
                h.attrs[k] = v
            h.attrs["Ngroups_ThisFile"] = gidx.size
            h.attrs["Nsubgroups_ThisFile"] = sidx.size
            fg, fs = f.create_group("Group"), f.create_group("Subhalo")
            if gidx.size:
                for k, v in grp.items():
                    fg.create_dataset(k, data=v[gidx])
            if sidx.size:
                for k, v in sub.items():
                    fs.create_dataset(k, data=v[sidx])
    # headers of the earlier snapshots (their redshifts are what the trees need)
    for snap, z in SNAPSHOT_REDSHIFTS.items():
        if snap == snapshot:
            continue
        d = base / f"groups_{snap:03d}"
        d.mkdir(exist_ok=True)
        with h5py.File(d / f"fof_subhalo_tab_{snap:03d}.0.hdf5", "w") as f:
            h = f.create_group("Header")
            for k, v in {**header, "Redshift": z, "Time": 1.0 / (1.0 + z), "Ngroups_Total": 0,
                         "Nsubgroups_Total": 0, "NumFiles": 1, "Ngroups_ThisFile": 0,
                         "Nsubgroups_ThisFile": 0}.items():
                h.attrs[k] = v

    # ---- SubLink trees, depth-first: root, main branch, then a side branch
    snaps = np.array(sorted(SNAPSHOT_REDSHIFTS, reverse=True))
    zs = np.array([SNAPSHOT_REDSHIFTS[s] for s in snaps])
    rows = {k: [] for k in ("SubhaloID", "SubfindID", "SnapNum", "SubhaloMass", "MainLeafProgenitorID",
                            "LastProgenitorID", "FirstProgenitorID", "NextProgenitorID")}
    row_num = np.full(n_sub, -1, dtype=np.int64)
    tree_id = np.full(n_sub, -1, dtype=np.int64)
    last_id = np.full(n_sub, -1, dtype=np.int64)
    tree_starts = []
    for s in range(n_sub):
        g = groups[sub_group[s]]
        if sub_is_central[s] and not g["in_tree"]:
            continue
        start = len(rows["SubhaloID"])
        tree_starts.append(start)
        if sub_is_central[s]:
            masses = _branch_masses(float(sub["SubhaloMass"][s]), g, zs)
            branch_snaps = snaps
        else:
            masses, branch_snaps = np.array([sub["SubhaloMass"][s]]), snaps[:1]
        n_main = len(masses)
        ids = TREE_ID_OFFSET + start + np.arange(n_main + 1)
        side = sub_is_central[s]  # a side branch with a huge mass, which must never be read
        last = ids[n_main] if side else ids[n_main - 1]
        for k in range(n_main):
            rows["SubhaloID"].append(ids[k])
            rows["SubfindID"].append(s if k == 0 else -1)
            rows["SnapNum"].append(branch_snaps[k])
            rows["SubhaloMass"].append(masses[k])
            rows["MainLeafProgenitorID"].append(ids[n_main - 1])
            rows["LastProgenitorID"].append(last)
            rows["FirstProgenitorID"].append(ids[k + 1] if k < n_main - 1 else -1)
            rows["NextProgenitorID"].append(ids[n_main] if (k == 1 and side) else -1)
        if side:
            rows["SubhaloID"].append(ids[n_main])
            rows["SubfindID"].append(-1)
            rows["SnapNum"].append(branch_snaps[1])
            rows["SubhaloMass"].append(10.0 * masses[0])
            rows["MainLeafProgenitorID"].append(ids[n_main])
            rows["LastProgenitorID"].append(ids[n_main])
            rows["FirstProgenitorID"].append(-1)
            rows["NextProgenitorID"].append(-1)
        row_num[s], tree_id[s], last_id[s] = start, ids[0], last
    tree_rows = len(rows["SubhaloID"])
    # split between tree files at tree boundaries only
    cut_trees = np.array_split(np.array(tree_starts), n_tree_chunks)
    bounds = [int(c[0]) for c in cut_trees if c.size] + [tree_rows]
    tdir = root / TREE_LAYOUTS[trees] / "SubLink"
    tdir.mkdir(parents=True, exist_ok=True)
    dtypes = {"SnapNum": np.int16, "SubhaloMass": np.float32, "SubfindID": np.int32}
    for c in range(len(bounds) - 1):
        with h5py.File(tdir / f"tree_extended.{c}.hdf5", "w") as f:
            for k, v in rows.items():
                f.create_dataset(k, data=np.asarray(v[bounds[c]:bounds[c + 1]], dtype=dtypes.get(k, np.int64)))

    # ---- particles
    if particles_per_halo > 0:
        sdir = base / f"snapdir_{snapshot:03d}"
        sdir.mkdir(exist_ok=True)
        all_coords = np.concatenate(coords)
        p_split = np.array_split(np.arange(len(all_coords)), 2)
        total = np.zeros(6, dtype=np.uint64)
        total[1] = len(all_coords)
        for c, idx in enumerate(p_split):
            with h5py.File(sdir / f"snap_{snapshot:03d}.{c}.hdf5", "w") as f:
                h = f.create_group("Header")
                this = np.zeros(6, dtype=np.int64)
                this[1] = idx.size
                for k, v in {**header, "NumPart_ThisFile": this, "NumPart_Total": total,
                             "NumFilesPerSnapshot": 2, "MassTable": np.zeros(6)}.items():
                    h.attrs[k] = v
                f.create_group("PartType1").create_dataset("Coordinates", data=all_coords[idx])
        snap_file_offsets = np.zeros((2, 6), dtype=np.int64)
        snap_file_offsets[1, 1] = p_split[0].size
        group_snap = np.zeros((n_groups, 6), dtype=np.int64)
        group_snap[:, 1] = np.concatenate([[0], np.cumsum(n_part)[:-1]])

    # ---- offsets file
    odir = root / "postprocessing" / "offsets"
    odir.mkdir(parents=True, exist_ok=True)
    offsets_path = odir / f"offsets_{snapshot:03d}.hdf5"
    with h5py.File(offsets_path, "w") as f:
        f.create_dataset("FileOffsets/Group", data=np.array(group_offsets, dtype=np.int64))
        f.create_dataset("FileOffsets/Subhalo", data=np.array(sub_offsets, dtype=np.int64))
        f.create_dataset("Subhalo/SubLink/RowNum", data=row_num)
        f.create_dataset("Subhalo/SubLink/SubhaloID", data=tree_id)
        f.create_dataset("Subhalo/SubLink/LastProgenitorID", data=last_id)
        if particles_per_halo > 0:
            f.create_dataset("FileOffsets/SnapByType", data=snap_file_offsets)
            f.create_dataset("Group/SnapByType", data=group_snap)

    # ---- expected answers (from the chosen values, not from the stored fields)
    truth = []
    for gi, g in enumerate(groups):
        row = {"group": gi, "status": g["status"]}
        if g["status"] == "kept":
            s = first_sub[gi]
            row.update({
                "ID": int(s), "M_h": g["log_m"], "C_h": np.log10(g["c"]), "S_h": g["spin"],
                "z_h": g.get("expect_z", g["z_half"]), "stellar_mass": g["log_ms"],
                "sSFR": -np.inf if g["ssfr"] is None else g["ssfr"], "radius": g["log_r"],
                "color": g["g"] - g["i"], "sfr_zero": g["ssfr"] is None,
                "X_h": g_pos[gi, 0] / 1000, "Y_h": g_pos[gi, 1] / 1000, "Z_h": g_pos[gi, 2] / 1000,
                "x_g": sub["SubhaloPos"][s, 0] / 1000, "y_g": sub["SubhaloPos"][s, 1] / 1000,
                "z_g": sub["SubhaloPos"][s, 2] / 1000, "censored": g.get("expect_z") == 6.0,
            })
        truth.append(row)
    return MiniRun(base_path=base, offsets_path=offsets_path, snapshot=snapshot, box_size=box_size,
                   truth=pd.DataFrame(truth).set_index("group"),
                   subhalo_positions=sub["SubhaloPos"].astype(float) / 1000.0, n_subhalos=n_sub)
