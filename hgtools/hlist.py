"""Rockstar / consistent-trees ``hlist`` halo catalogues, read in line-aligned byte ranges.

An ``hlist`` file is whitespace-separated text: a header of ``#`` lines whose
first names every column with its index (``#scale(0) id(1) ... x(17) ...``,
the layout varies between versions, so columns are found by name) and states
the cosmology and box (``#Omega_M = 0.307; Omega_L = 0.693; h0 = 0.678`` and
``#Full box size = 1000.000000 Mpc/h``), then one halo per line.

:func:`pieces` cuts a file into byte ranges of about ``rows`` lines (a line
belongs to the range it starts in); :func:`read_piece` reads one range and
returns hgtools' halo columns:

- ``M_h`` [log10 Msun/h]: ``M200c``, or ``Mvir`` converted to M_200c with
  colossus (NFW, the halo's own concentration, the file's redshift and cosmology);
- ``C_h`` [log10]: c_vir = ``rvir`` / ``rs``;
- ``S_h``: the Bullock spin ``Spin_Bullock``;
- ``z_h``: formation redshift 1 / ``Halfmass_Scale`` - 1 (the scale factor at
  which the main progenitor reached half of its peak mass);
- ``X_h, Y_h, Z_h`` [comoving Mpc/h]: ``x, y, z``;
- ``ID`` (``id``) and ``paint``: True for host haloes (``upid == -1``) within
  the models' mass range; subhaloes and small hosts are kept as delta_3 tracers only.

halotools' ``TabularAsciiReader`` (0.9.4) reads the same files, but returns
the whole file at once and builds from source for about five minutes; a
partitioned reader is what a Dask run over 10^8 haloes needs.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: hlist columns read, by role.
NEEDED = {"id": "id", "upid": "upid", "rvir": "rvir", "rs": "rs", "spin": "Spin_Bullock",
          "halfmass_scale": "Halfmass_Scale", "x": "x", "y": "y", "z": "z", "scale": "scale"}
MASS_COLUMNS = {"M200c": "M200c", "Mvir": "mvir"}
#: Smallest M_h [log10 Msun/h] painted by default: the catalogue's halo-mass cut (models know nothing below).
PAINT_MIN_MASS = 10.5


class HlistError(ValueError):
    """A file that is not a readable hlist catalogue (the message names it)."""


@dataclass(frozen=True)
class Header:
    """What an hlist header says: column indices by name, the box and the cosmology."""

    columns: dict[str, int]
    data_start: int  # byte offset of the first halo line
    box_size: float | None = None  # Mpc/h
    cosmology: dict[str, float] = field(default_factory=dict)  # Om0, h when stated


def read_header(path: str | os.PathLike) -> Header:
    """Parse the ``#`` header of an hlist file."""
    path = Path(path)
    columns, box, cosmo, offset = None, None, {}, 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.startswith(b"#"):
                break
            offset += len(raw)
            line = raw.decode("ascii", "replace")[1:].strip()
            if columns is None and re.search(r"\(\d+\)", line):
                columns = {}
                for token in line.split():
                    m = re.fullmatch(r"(.+)\((\d+)\)", token)
                    if m:
                        columns[m.group(1)] = int(m.group(2))
            m = re.search(r"Full box size\s*=\s*([0-9.eE+-]+)", line)
            if m:
                box = float(m.group(1))
            for key, name in (("Omega_M", "Om0"), ("h0", "h")):
                m = re.search(rf"{key}\s*=\s*([0-9.eE+-]+)", line)
                if m:
                    cosmo[name] = float(m.group(1))
    if not columns:
        raise HlistError(f"{path}: no hlist column header ('#scale(0) id(1) ...') found")
    return Header(columns, offset, box, cosmo)


def pieces(path: str | os.PathLike, rows: int) -> list[dict]:
    """Byte ranges of about ``rows`` halo lines each (line length measured on the first lines)."""
    path = Path(path)
    header = read_header(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(header.data_start)
        sample = f.read(1 << 20)
    lines = sample.count(b"\n")
    if size <= header.data_start or not sample.strip():
        return []
    per_line = len(sample) / max(lines, 1)
    step = max(int(rows * per_line), 1)
    edges = list(range(header.data_start, size, step)) + [size]
    n_lines = (size - header.data_start) / per_line
    return [{"file": str(path), "format": "hlist", "bytes": [lo, hi],
             "rows": max(int(round(n_lines * (hi - lo) / (size - header.data_start))), 1)}
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _lines(path: Path, lo: int, hi: int) -> bytes:
    """The complete lines that start in [lo, hi)."""
    with open(path, "rb") as f:
        f.seek(max(lo - 1, 0))
        if lo > 0:
            f.readline()  # finish the line that started before lo (or the newline just before it)
        start = f.tell()
        if start >= hi:
            return b""
        data = f.read(hi - start)
        if data and not data.endswith(b"\n"):
            data += f.readline()  # the last line that starts before hi
    return data


def columns_read(path: str | os.PathLike, mass: str = "M200c", header: Header | None = None) -> dict[str, str]:
    """The hlist columns read from ``path`` by role, checked against its header.

    Raises
    ------
    HlistError
        For an unknown ``mass`` or a header without one of the columns.
    """
    if mass not in MASS_COLUMNS:
        raise HlistError(f"mass definition must be one of {', '.join(MASS_COLUMNS)}, got {mass!r}")
    header = header or read_header(path)
    wanted = {**NEEDED, "mass": MASS_COLUMNS[mass]}
    missing = [name for name in wanted.values() if name not in header.columns]
    if missing:
        raise HlistError(f"{path}: the hlist header lacks column(s) {', '.join(missing)}")
    return wanted


def read_piece(piece: dict, *, mass: str = "M200c", paint_min_mass: float = PAINT_MIN_MASS,
               header: Header | None = None) -> pd.DataFrame:
    """hgtools' halo columns for the lines of one byte range (see the module docstring)."""
    path = Path(piece["file"])
    header = header or read_header(path)
    wanted = columns_read(path, mass, header)
    roles = list(wanted)
    index = [header.columns[wanted[r]] for r in roles]
    data = _lines(path, *piece["bytes"])
    if not data.strip():
        return halo_columns({r: np.zeros(0) for r in roles}, mass, paint_min_mass, header.cosmology)
    try:
        table = pd.read_csv(io.BytesIO(data), sep=r"\s+", header=None, usecols=index, comment="#", engine="c",
                            dtype=float)
    except (ValueError, pd.errors.ParserError) as err:
        raise HlistError(f"{path} (bytes {piece['bytes'][0]}-{piece['bytes'][1]}): not hlist data: {err}") from None
    return halo_columns({r: table[i].to_numpy() for r, i in zip(roles, index, strict=True)}, mass, paint_min_mass,
                        header.cosmology)


def halo_columns(col: dict[str, np.ndarray], mass: str = "M200c", paint_min_mass: float = PAINT_MIN_MASS,
                 cosmology: dict | None = None) -> pd.DataFrame:
    """hgtools' halo columns (see the module docstring) from an hlist's raw columns.

    Parameters
    ----------
    col : dict
        Arrays by role (the keys of :data:`NEEDED`, ``"scale"`` needed with
        ``mass="Mvir"`` only, and ``"mass"``: the column ``mass`` names in
        :data:`MASS_COLUMNS`, in Msun/h).
    mass : {"M200c", "Mvir"}
    paint_min_mass : float
        Smallest M_h [log10 Msun/h] of the host haloes marked ``paint``.
    cosmology : dict, optional
        ``Om0`` and ``h`` of the catalogue, for ``mass="Mvir"``.
    """
    m = col["mass"]
    keep = m > 0  # rockstar writes M200c = 0 for haloes too small to measure it
    col = {k: v[keep] for k, v in col.items()}
    c_vir = col["rvir"] / col["rs"]
    if mass == "Mvir" and col["mass"].size:
        log_m = np.log10(mvir_to_m200c(col["mass"], c_vir, 1.0 / col["scale"][0] - 1.0, cosmology or {}))
    else:
        log_m = np.log10(col["mass"])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log10(c_vir)
        z_half = 1.0 / col["halfmass_scale"] - 1.0
    host = col["upid"] == -1
    return pd.DataFrame({"ID": col["id"].astype(np.int64), "M_h": log_m, "C_h": log_c, "S_h": col["spin"],
                         "z_h": z_half, "X_h": col["x"], "Y_h": col["y"], "Z_h": col["z"],
                         "paint": host & (log_m >= paint_min_mass)})


def mvir_to_m200c(m_vir: np.ndarray, c_vir: np.ndarray, redshift: float, cosmology: dict) -> np.ndarray:
    """M_vir [Msun/h] to M_200c [Msun/h] for NFW haloes of concentration c_vir (colossus ``changeMassDefinition``).

    The file's Om0 and h set a flat colossus cosmology (baryon fraction,
    sigma_8 and n_s do not enter a mass-definition change; TNG's are used).
    """
    from colossus.cosmology import cosmology as colossus_cosmology
    from colossus.halo import mass_defs

    from hgtools.cosmology import TNG_PARAMETERS

    params = {**TNG_PARAMETERS}
    if "Om0" in cosmology:
        params["Om0"] = cosmology["Om0"]
    if "h" in cosmology:
        params["H0"] = 100.0 * cosmology["h"]
    colossus_cosmology.setCosmology(f"hlist-{params['Om0']:.5f}-{params['H0']:.3f}", **params, persistence="")
    return np.asarray(mass_defs.changeMassDefinition(np.asarray(m_vir, dtype=float), np.asarray(c_vir, dtype=float),
                                                      redshift, "vir", "200c", profile="nfw")[0], dtype=float)


__all__ = ["Header", "HlistError", "MASS_COLUMNS", "NEEDED", "PAINT_MIN_MASS", "columns_read", "halo_columns",
           "mvir_to_m200c", "pieces", "read_header", "read_piece"]
