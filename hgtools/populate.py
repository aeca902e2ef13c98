"""Paint galaxies onto large dark-matter-only halo catalogues, partition by partition, on Dask.

A halo table (parquet or CSV: one file, a folder or a glob, or ``hlist``
catalogues) is cut into bounded partitions (:func:`partition_plan`); one Dask
task per partition reads it, paints it with a saved model set and writes it as
one parquet file of a dataset (:func:`populate`).  Runs on a
:class:`distributed.LocalCluster` by default or on any running dask-distributed
cluster (``scheduler=``).

When the table has positions but no ``Delta3_h``, the overdensity is counted
at scale (:func:`delta3_graph`): the box is cut into slabs along x, each slab
counts the tracers within 3 Mpc/h of its haloes with a periodic KD-tree over
the slab and ghost zones of 3 Mpc/h on both sides, as Dask tasks; the result
equals :func:`hgtools.overdensity.delta3` on the whole table.

Nothing is half-written: parts go to a hidden ``.<out>.partial`` folder (each
part atomically), which is renamed to ``out`` when every part is there.
Re-running the same command after an interruption finishes only the missing
parts; a partial folder of other settings is refused (``overwrite`` discards it).
"""

from __future__ import annotations

import contextlib
import functools
import glob as globbing
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from hgtools.catalogue import FEATURES, HALO_POSITION, SCHEMA, CatalogueError, validate, write_table
from hgtools.io import TEMP_MARK, OutputExistsError, atomic_write, check_output, json_default, report
from hgtools.overdensity import RADIUS, mean_count
from hgtools.parallel import environment, worker_environment

#: Halo positions [comoving Mpc/h] used to count delta_3.
POSITIONS = HALO_POSITION
#: The halo features a halo carries itself (an hlist's columns give them); delta_3 counts its neighbours.
OWN_FEATURES = tuple(f for f in FEATURES if f != "Delta3_h")
#: Default smallest mass of the objects counted in delta_3 [log10 Msun/h]: the embedded
#: universe counts every halo down to 10^10 Msun/h (number density 0.26 (Mpc/h)^-3).
DELTA3_MIN_MASS = 10.0
#: Radius of the delta_3 sphere [Mpc/h].
DELTA3_RADIUS = RADIUS
#: Rows per partition by default: bounded memory per task (about 0.1 GiB of table), and enough
#: partitions to keep every worker busy from 10^6 haloes up.
ROWS_PER_PARTITION = 250_000
FORMATS = {".parquet": "parquet", ".csv": "csv", ".list": "hlist"}
MANIFEST = "manifest.json"
SUMMARY = "populate.json"
SETTLE_SECONDS = 600.0  # the longest wait for cancelled partitions still being painted (after a failure or a lost worker)


class PopulateError(ValueError):
    """Bad input or output of a populate run (the message names the file or argument)."""


class RefusalFilter(logging.Filter):
    """Drops a Dask worker's "Compute Failed" record of a task refused for its input (a :class:`PopulateError`).

    A partition with bad input (a NaN feature, a halo outside the box, an
    unreadable CSV row) makes its task raise a :class:`PopulateError`, which
    populate raises in turn with its clear message.  The worker would first
    log the failure with its traceback; on a local cluster that record lands
    on the user's terminal before the message.  Other failures are logged as
    Dask logs them.  Matched on the record distributed (2026.8) writes: the
    message "Compute Failed", the exception's ``repr`` among its arguments
    (the bad-input test reads the workers' output, and fails if that changes).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        refused = f"{PopulateError.__name__}("
        return not (str(record.msg).startswith("Compute Failed")
                    and any(isinstance(arg, str) and arg.startswith(refused) for arg in record.args or ()))


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def input_files(halos: str | os.PathLike, fmt: str | None = None) -> tuple[list[Path], str]:
    """The files of a halo input (a file, a folder of files, or a glob) and their format.

    Parameters
    ----------
    halos : path-like
        A file, a folder or a glob.
    fmt : {"parquet", "csv", "hlist"}, optional
        The files' format, whatever their names end with (e.g. an hlist
        catalogue ``out_0.dat``, a CSV table ``haloes.txt``); a folder then
        gives every file in it that is not hidden.  By default the format
        follows the suffix (:data:`FORMATS`) and a folder gives the files with
        a known one.

    Raises
    ------
    PopulateError
        If nothing matches, the format is unknown, or formats are mixed.
    """
    if fmt is not None and fmt not in FORMATS.values():
        raise PopulateError(f"--format {fmt!r}: use one of {', '.join(sorted(set(FORMATS.values())))}")
    text = str(halos)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                       and (fmt is not None or p.suffix in FORMATS))
        if not files:
            raise PopulateError(f"--halos {path}: the folder holds no " + (
                "file" if fmt is not None else ".parquet, .csv or hlist .list file (or give --format)"))
    elif path.is_file():
        files = [path]
    elif any(c in text for c in "*?["):
        files = sorted(Path(p) for p in globbing.glob(text) if Path(p).is_file())
        if not files:
            raise PopulateError(f"--halos {text}: no file matches")
    else:
        raise PopulateError(f"--halos {path}: no such file or folder")
    if fmt is not None:
        return files, fmt
    suffixes = {p.suffix for p in files}
    unknown = sorted(s for s in suffixes if s not in FORMATS)
    if unknown:
        raise PopulateError(f"--halos {text}: unknown format {unknown[0]!r}; use .parquet, .csv or "
                            "a Rockstar/consistent-trees hlist (.list), or name it with --format")
    if len(suffixes) > 1:
        raise PopulateError(f"--halos {text}: mixes {', '.join(sorted(suffixes))} files; give one format")
    return files, FORMATS[suffixes.pop()]


def _parquet_file(path: Path):
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as err:  # pyarrow's errors for a damaged file
        raise PopulateError(f"{path} cannot be read as parquet: {err}") from None
    stored = (file.schema_arrow.metadata or {}).get(b"pandas")  # pandas' description, parsed when a part is read
    if stored is not None:
        try:
            json.loads(stored)
        except ValueError as err:
            raise PopulateError(f"{path}: its pandas metadata is damaged ({err})") from None
    return file


def _parquet_pieces(path: Path, rows: int) -> list[dict]:
    meta = _parquet_file(path).metadata
    pieces, start, n = [], 0, 0
    for g in range(meta.num_row_groups):
        size = meta.row_group(g).num_rows
        if n and n + size > rows:  # gather whole row groups, up to ``rows`` (a bigger group stands alone)
            pieces.append({"file": str(path), "row_groups": [start, g], "rows": n})
            start, n = g, 0
        n += size
    if n:
        pieces.append({"file": str(path), "row_groups": [start, meta.num_row_groups], "rows": n})
    return pieces


def _csv_pieces(path: Path, rows: int) -> list[dict]:
    with open(path, "rb") as f:
        n_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
        f.seek(max(path.stat().st_size - 1, 0))
        if path.stat().st_size and f.read(1) != b"\n":
            n_lines += 1  # a last line without its newline
    n_rows = max(n_lines - 1, 0)  # the header
    return [{"file": str(path), "skip": lo, "rows": min(rows, n_rows - lo)} for lo in range(0, n_rows, rows)]


def partition_plan(files: list[Path], fmt: str, rows_per_partition: int = ROWS_PER_PARTITION,
                   **hlist_options) -> list[dict]:
    """The partitions of the input: whole parquet row groups gathered up to ``rows_per_partition``, CSV line ranges.

    Write parquet inputs with row groups of at most ``rows_per_partition`` rows
    (e.g. ``pyarrow.parquet.write_table(..., row_group_size=...)``) to bound memory.
    """
    if rows_per_partition < 1:
        raise PopulateError(f"rows per partition must be positive, got {rows_per_partition}")
    if fmt == "hlist":
        from hgtools import hlist

        try:
            pieces = [{**p, **hlist_options} for f in files for p in hlist.pieces(f, rows_per_partition)]
        except hlist.HlistError as err:
            raise PopulateError(str(err)) from None
    else:
        pieces = [p for f in files for p in (_parquet_pieces if fmt == "parquet" else _csv_pieces)(f, rows_per_partition)]
    pieces = [p for p in pieces if p["rows"] > 0]
    if not pieces:
        raise PopulateError(f"the halo input ({files[0]}{' ...' if len(files) > 1 else ''}) has no rows")
    return pieces


def read_piece(piece: dict, columns: list[str] | None = None) -> pd.DataFrame:
    """One partition of the input, as a DataFrame (columns as in the file; hgtools' halo columns for an hlist)."""
    path = Path(piece["file"])
    if piece.get("raw"):
        return _raw_piece(piece, columns)
    if piece.get("format") == "hlist":
        from hgtools import hlist

        try:
            table = hlist.read_piece(piece, mass=piece.get("mass", "M200c"))
        except (OSError, hlist.HlistError) as err:
            raise PopulateError(str(err)) from None
        return table if columns is None else table[[c for c in columns if c in table]]
    if "row_groups" in piece:
        return _row_groups(piece, columns).to_pandas()
    try:
        header = pd.read_csv(path, nrows=0).columns
        return pd.read_csv(path, skiprows=range(1, 1 + piece["skip"]), nrows=piece["rows"], names=list(header),
                           header=0, usecols=columns)
    except (OSError, ValueError) as err:
        raise PopulateError(f"{path} cannot be read: {err}") from None


def _row_groups(piece: dict, columns: list[str] | None = None):
    """A parquet partition's row groups as a :class:`pyarrow.Table` (with the file's pandas metadata)."""
    import pyarrow.parquet as pq

    lo, hi = piece["row_groups"]
    try:
        return pq.ParquetFile(piece["file"]).read_row_groups(range(lo, hi), columns=columns)
    except (OSError, ValueError) as err:
        raise PopulateError(f"{piece['file']} cannot be read: {err}") from None


def raw_columns() -> dict[str, str]:
    """The hlist columns (by role) from which a parquet or CSV table without the halo features gets them.

    Named as in an hlist header (``id, upid, M200c, rvir, rs, Spin_Bullock,
    Halfmass_Scale, x, y, z``); converted as :func:`hgtools.hlist.halo_columns`
    converts an hlist's.
    """
    from hgtools import hlist

    return {role: name for role, name in {**hlist.NEEDED, "mass": hlist.MASS_COLUMNS["M200c"]}.items()
            if role != "scale"}


def _raw_piece(piece: dict, columns: list[str] | None) -> pd.DataFrame:
    """hgtools' halo columns of one partition of a table of raw hlist columns (:func:`raw_columns`)."""
    from hgtools import hlist

    names = raw_columns()
    table = read_piece({k: v for k, v in piece.items() if k != "raw"}, list(names.values()))
    try:
        out = hlist.halo_columns({role: table[name].to_numpy() for role, name in names.items()})
    except (TypeError, ValueError) as err:
        raise PopulateError(f"{_where(piece)}: its hlist columns cannot be converted to halo features: {err}") from None
    return out if columns is None else out[[c for c in columns if c in out]]


def input_columns(files: list[Path], fmt: str, **hlist_options) -> list[str]:
    """The columns of the first file (every file must have them)."""
    if fmt == "hlist":
        from hgtools import hlist

        for path in files:  # every header must name the columns read
            try:
                hlist.columns_read(path, **hlist_options)
            except (OSError, hlist.HlistError) as err:
                raise PopulateError(str(err)) from None
        return ["ID", *OWN_FEATURES, *POSITIONS, "paint"]
    columns = None
    for path in files:
        if fmt == "parquet":
            names = _parquet_file(path).schema_arrow.names
        else:
            try:
                names = list(pd.read_csv(path, nrows=0).columns)
            except (OSError, ValueError) as err:
                raise PopulateError(f"{path} cannot be read as CSV: {err}") from None
        if columns is None:
            columns = names
        elif set(names) != set(columns):
            raise PopulateError(f"{path} has columns {names}, unlike {files[0]} ({columns})")
    return list(columns)


def halo_frame(pieces: list[dict], columns: list[str] | None = None):
    """The input as a lazy :class:`dask.dataframe.DataFrame`, one partition per piece."""
    import dask.dataframe as dd

    meta = read_piece({**pieces[0], **({"rows": 0} if "skip" in pieces[0] else {})}, columns).iloc[:0]
    return dd.from_map(read_piece, pieces, columns=columns, meta=meta, enforce_metadata=False)


# ---------------------------------------------------------------------------
# delta_3 on slabs with ghost zones
# ---------------------------------------------------------------------------

def slab_count(box_size: float, n_rows: int, rows_per_slab: int = ROWS_PER_PARTITION,
               radius: float = DELTA3_RADIUS) -> int:
    """Number of slabs along x: about ``rows_per_slab`` haloes each, each slab at least 3 radii wide."""
    most = max(int(box_size // (3 * radius)), 1)
    return int(min(max(int(np.ceil(n_rows / rows_per_slab)), 1), most))


def _slab_offsets(box_size: float, n_slabs: int, radius: float) -> tuple[np.ndarray, float]:
    width = box_size / n_slabs
    return np.arange(n_slabs) * width - radius, width


def split_into_slabs(table: pd.DataFrame, box_size: float, n_slabs: int, min_mass: float,
                     radius: float = DELTA3_RADIUS) -> dict:
    """One partition cut into slabs: its haloes per slab (rows, positions) and its tracers with ghosts.

    The haloes are the rows to paint (all, or those of a boolean ``paint`` column).
    A tracer (``M_h >= min_mass``) joins every slab whose x range widened by
    ``radius`` on both sides holds it (periodically); positions are shifted so
    that the widened slab starts at x = 0.
    """
    pos = np.mod(table[list(POSITIONS)].to_numpy(dtype=float), box_size)
    tracer = table["M_h"].to_numpy(dtype=float) >= min_mass
    centre = table["paint"].to_numpy(dtype=bool) if "paint" in table else np.ones(len(table), dtype=bool)
    lows, width = _slab_offsets(box_size, n_slabs, radius)
    home = np.minimum((pos[:, 0] // width).astype(np.int64), n_slabs - 1)
    centres, tracers = [], []
    for s, low in enumerate(lows):
        rows = np.flatnonzero((home == s) & centre)
        shifted = pos[rows].copy()
        shifted[:, 0] = np.mod(shifted[:, 0] - low, box_size)
        centres.append((rows, shifted, tracer[rows]))
        x = np.mod(pos[tracer, 0] - low, box_size)
        near = x < width + 2 * radius if n_slabs > 1 else np.ones(x.size, dtype=bool)
        t = pos[tracer][near]
        t[:, 0] = x[near]
        tracers.append(t)
    return {"centres": centres, "tracers": tracers, "n_tracers": int(tracer.sum()), "n_rows": len(table)}


def count_slab(pieces: list[dict], s: int, box_size: float, n_slabs: int,
               radius: float = DELTA3_RADIUS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tracers within ``radius`` of every halo of slab ``s`` (itself excluded): ``(rows, counts)`` per partition."""
    tracers = np.concatenate([p["tracers"][s] for p in pieces])
    width = box_size / n_slabs
    # periodic in y and z; in x the widened slab never wraps onto itself within one radius
    period_x = box_size if n_slabs == 1 else width + 3 * radius + 1.0
    tree = cKDTree(tracers, boxsize=[period_x, box_size, box_size])
    out = []
    for p in pieces:
        rows, centres, is_tracer = p["centres"][s]
        counts = tree.query_ball_point(centres, r=radius, return_length=True) if rows.size else np.zeros(0, int)
        out.append((rows, np.asarray(counts, dtype=np.int64) - is_tracer.astype(np.int64)))
    return out


def assemble_delta3(counts: list[tuple[np.ndarray, np.ndarray]], n_rows: int, n_tracers: int, box_size: float,
                    radius: float = DELTA3_RADIUS) -> np.ndarray:
    """delta_3 of one partition's haloes from the counts of every slab: count over the mean count."""
    number = np.zeros(n_rows, dtype=np.int64)
    for rows, c in counts:
        number[rows] = c
    return np.maximum(number, 0) / mean_count(n_tracers, box_size, radius)


def delta3_graph(pieces: list[dict], box_size: float, *, min_mass: float = DELTA3_MIN_MASS,
                 radius: float = DELTA3_RADIUS, rows_per_slab: int = ROWS_PER_PARTITION,
                 paint_column: bool = False) -> list:
    """Lazy delta_3 per partition (:mod:`dask.delayed`), counted on slabs with ghost zones.

    Each partition is read and cut into slabs (one task each), each slab
    counts its haloes' neighbours (one task each), and each partition's
    delta_3 is assembled from the slabs' counts.
    """
    from dask import delayed

    n_slabs = slab_count(box_size, sum(p["rows"] for p in pieces), rows_per_slab, radius)
    columns = ["M_h", *POSITIONS] + (["paint"] if paint_column else [])
    parts = halo_frame(pieces, columns).to_delayed()
    split = [delayed(split_into_slabs)(delayed(_checked)(part, p, box_size), box_size, n_slabs, min_mass,
                                       radius, dask_key_name=f"delta3-split-{i}")
             for i, (part, p) in enumerate(zip(parts, pieces, strict=True))]
    counted = [delayed(count_slab)(split, s, box_size, n_slabs, radius, dask_key_name=f"delta3-slab-{s}")
               for s in range(n_slabs)]
    n_tracers = delayed(sum)([sp["n_tracers"] for sp in split])
    return [delayed(assemble_delta3)([counted[s][i] for s in range(n_slabs)], split[i]["n_rows"], n_tracers, box_size,
                                     radius, dask_key_name=f"delta3-{i}") for i in range(len(pieces))]


def _checked(table: pd.DataFrame, piece: dict, box_size: float) -> pd.DataFrame:
    """Positions inside the box and a mass for every object (tracers may lie below the features' range)."""
    _validate(table, piece, POSITIONS, box_size)
    if not np.isfinite(table["M_h"].to_numpy(dtype=float)).all():
        raise PopulateError(f"{_where(piece)}: column 'M_h' has NaN or infinite values")
    return table


def _validate(table: pd.DataFrame, piece: dict, columns, box_size: float | None) -> None:
    try:
        validate(table, columns=tuple(columns), box_size=box_size)
    except CatalogueError as err:
        raise PopulateError(f"{_where(piece)}: {err}") from None


def _where(piece: dict) -> str:
    if "bytes" in piece:
        return f"{piece['file']} (bytes {piece['bytes'][0]}-{piece['bytes'][1]})"
    if "row_groups" in piece:
        return f"{piece['file']} (row groups {piece['row_groups'][0]}-{piece['row_groups'][1] - 1})"
    return f"{piece['file']} (rows {piece['skip'] + 1}-{piece['skip'] + piece['rows']})"


# ---------------------------------------------------------------------------
# painting
# ---------------------------------------------------------------------------

def model_fingerprint(models: str | os.PathLike) -> str:
    """Digest of a model set's files (names, sizes, modification times): decides what it paints."""
    folder = Path(models)
    if not folder.is_dir():
        raise PopulateError(f"--models {folder}: no such folder")
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


#: Trees per cache block of lleaves' machine code (lleaves' default is 34).  The four LightGBM models of
#: the study's settings (65-125 trees of depth at most 6), 10^6 haloes on one thread, six runs each
#: alternated (AMD EPYC with AVX2, 2026-11-29): 2.09-2.43 s with blocks of 16 trees, 2.54-3.07 s with 34.
#: (lleaves' "small" code model with blocks of 16 was faster still, 1.92-2.17 s, but lleaves warns that
#: it crashes on large forests, and a released model may be one.)
LLEAVES_BLOCK_SIZE = 16


def compiled_cache_dir() -> Path:
    """Where compiled LightGBM models are kept (``$XDG_CACHE_HOME/hgtools/lleaves``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hgtools" / "lleaves"


class CompiledLightGBM:
    """A LightGBM model compiled to machine code with lleaves: the same predictions, several times faster.

    ``booster`` is a :class:`lightgbm.Booster`; ``num_iteration`` the trees used
    (all by default).  The machine code is cached under
    :func:`compiled_cache_dir`, keyed by the model's text, the lleaves and
    llvmlite versions and the CPU (written atomically), so a model is compiled
    once per machine, not once per worker.  Predicts on one thread (a Dask
    worker has one).
    """

    def __init__(self, booster, num_iteration: int | None = None):
        import tempfile

        from importlib.metadata import version

        import lleaves
        import llvmlite.binding as llvm

        text = booster.model_to_string(num_iteration=num_iteration or -1)
        options = {"fblocksize": LLEAVES_BLOCK_SIZE}  # lleaves' compile options: part of the cache key
        key = hashlib.sha256("\0".join([text, version("lleaves"), version("llvmlite"), llvm.get_host_cpu_name(),
                                         llvm.get_host_cpu_features().flatten(), json.dumps(options)]
                                        ).encode()).hexdigest()[:24]
        cache = compiled_cache_dir() / f"{key}.o"
        with tempfile.TemporaryDirectory(prefix="hgtools-lleaves-") as tmp:
            path = Path(tmp) / "model.txt"
            path.write_text(text)
            self.model = lleaves.Model(model_file=str(path))
            if cache.exists():
                self.model.compile(cache=str(cache), **options)
            else:
                fresh = Path(tmp) / "model.o"
                self.model.compile(cache=str(fresh), **options)
                staged = cache.with_name(f".{cache.name}{TEMP_MARK}{os.getpid()}")
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(fresh, staged)
                    os.replace(staged, cache)
                except OSError:  # an unwritable cache folder: compile again next time
                    with contextlib.suppress(OSError):
                        staged.unlink()
        self.n_features_in_ = booster.num_feature()

    def predict(self, X) -> np.ndarray:
        return self.model.predict(np.ascontiguousarray(X, dtype=np.float64), n_jobs=1)


def _compile(model):
    """``model`` with its LightGBM parts compiled (:class:`CompiledLightGBM`); others unchanged."""
    from hgtools.models import LightGBMRegressor, StackedModel
    from hgtools.released import ReleasedModel

    if isinstance(model, LightGBMRegressor):
        return CompiledLightGBM(model.booster_, model.best_iteration_)
    if isinstance(model, ReleasedModel) and model.file.suffix == ".txt":
        return ReleasedModel(model.target, model.file, model.mean, model.std, CompiledLightGBM(model.model))
    if isinstance(model, StackedModel):
        fast = StackedModel({name: _compile(base) for name, base in model.base_models.items()})
        fast.linear_ = model.linear_
        return fast
    return model


@functools.lru_cache(maxsize=2)
def _loaded_set(models: str, fingerprint: str, released_model: str, base_model: str | None = None) -> list:
    """A model set loaded once per worker process (keyed by its files' fingerprint): ``(target, predictor)``.

    A folder in the study's release layout (:mod:`hgtools.released`) gives its
    ``released_model`` (e.g. ``"raw-LGBM"``); a saved density model
    (:mod:`hgtools.density`) gives ``[("draws", model)]``; any other folder is a
    set of saved stacks, each painting with the stack or with its
    ``base_model`` (e.g. ``"LGBM"``).  LightGBM models are compiled with
    lleaves (:class:`CompiledLightGBM`).
    """
    from hgtools import density, released
    from hgtools.models import load_base_models, load_set

    if density.is_density(models):
        return [("draws", density.load_density(models)[0])]
    if released.is_released(models):
        path, model = released_model.split("-", 1)
        return [(m.target, _compile(m)) for m in released.load_released(models, model=model, path=path)]
    if base_model is None:
        return [(target, _compile(stack)) for target, _, stack in load_set(models)]
    return [(target, _compile(model)) for target, _, model in load_base_models(models, base_model)]


def _galaxies(X: np.ndarray, predictors: list, draws: int, seed: int | list) -> dict[str, np.ndarray]:
    """The galaxy columns for the haloes ``X`` (rows of :data:`FEATURES`), draw after draw for a density model.

    A ``draw`` column comes first when a density model draws more than once.
    """
    from hgtools.catalogue import TARGETS

    if predictors[0][0] == "draws":
        n = len(X)
        values = predictors[0][1].sample(X, draws, seed) if n else np.zeros((draws, 0, len(TARGETS)))
        columns = {"draw": np.repeat(np.arange(draws), n)} if draws > 1 else {}
        return {**columns, **dict(zip(TARGETS, values.reshape(-1, len(TARGETS)).T))}
    if not len(X):  # e.g. a partition of subhaloes only
        return {target: np.zeros(0) for target, _ in predictors}
    with warnings.catch_warnings():  # scikit-learn runs kNN on one thread in a Dask worker, as it should here
        warnings.filterwarnings("ignore", message="Inside a Dask worker with daemon=True")
        return {target: predictor.predict(X) for target, predictor in predictors}


def paint(table: pd.DataFrame, models: str | os.PathLike, *, fingerprint: str | None = None,
          released_model: str = "raw-LGBM", base_model: str | None = None, draws: int = 1,
          seed: int | list = 0) -> pd.DataFrame:
    """The table with the galaxy properties the models give added (one column per target).

    A density model draws ``draws`` galaxies per halo with ``seed``: the table is
    repeated draw after draw, with a ``draw`` column when ``draws`` > 1.  Point
    models paint each halo with their prediction (``draws`` must be 1).
    """
    models = str(Path(models).resolve())
    predictors = _loaded_set(models, fingerprint or model_fingerprint(models), released_model, base_model)
    out = table.reset_index(drop=True)
    X = np.ascontiguousarray(out[list(FEATURES)].to_numpy(dtype=float))  # row-major once, not once per model
    galaxies = _galaxies(X, predictors, draws, seed)
    if predictors[0][0] == "draws" and draws > 1:
        out = pd.concat([out] * draws, ignore_index=True)
    return out.assign(**galaxies)


def _read_part(piece: dict):
    """One partition as a :class:`pyarrow.Table`: parquet row groups directly, other formats through pandas.

    Like :func:`read_piece`, without a parquet file's stored pandas index (it
    is dropped, as ``reset_index(drop=True)`` would).
    """
    import pyarrow as pa

    if "row_groups" not in piece or piece.get("raw"):
        return pa.Table.from_pandas(read_piece(piece), preserve_index=False)
    table = _row_groups(piece)
    index = [c for c in (table.schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
    return table.drop_columns(index).replace_schema_metadata(None)


def _with_column(table, name: str, values):
    """``table`` (a :class:`pyarrow.Table`) with the column ``name`` set to ``values`` (replaced, or appended)."""
    import pyarrow as pa

    i = table.schema.get_field_index(name)
    values = pa.array(values)
    return table.set_column(i, name, values) if i >= 0 else table.append_column(name, values)


def _paint_part(piece: dict, i: int, delta3: np.ndarray | None, models: str, fingerprint: str,
                folder: str, box_size: float | None, metadata: dict, released_model: str = "raw-LGBM",
                base_model: str | None = None) -> tuple[int, int]:
    """Read, check, paint and write partition ``i`` (atomically); return its rows and its haloes out of range.

    The second number counts the haloes outside a density model's training
    range (:meth:`hgtools.density.DensityModel.outside_training_range`; 0 for
    point models): the run reports their total once, instead of a warning from
    every partition on the workers' terminals.

    The partition is read here, in the task that paints it: with the reading as
    a task of its own (``halo_frame(pieces).to_delayed()``), workers read
    partitions ahead of painting them and held them in memory, and painting 8
    partitions of 250,000 haloes with LightGBM on 2 warm workers took 4.75 s
    (median of 8 runs) instead of 3.85 s; at 40 partitions, and for the book's
    230 Mpc/h universe with delta_3, the two were within the noise.

    The partition stays an Arrow table from reading to writing; only the
    columns checked go to pandas (:func:`paint` on a DataFrame gives the same
    galaxies).  A partition of 250,000 haloes painted with the four LightGBM
    models on one thread took 541-551 ms instead of 593-604 ms through pandas
    (with halo IDs written without a dictionary, :func:`hgtools.catalogue.write_table`;
    medians of 20, two processes of each alternated, 2026-11-29; the models'
    predict alone 453-462 ms).
    """
    table = _read_part(piece)
    if delta3 is not None:
        table = _with_column(table, "Delta3_h", delta3)
    if "paint" in table.column_names:  # the other rows were delta_3 tracers only
        table = table.filter(table.column("paint")).drop_columns("paint")
    positions = box_size is not None and all(c in table.column_names for c in POSITIONS)
    checked = [*FEATURES, *(POSITIONS if positions else ())]
    view = table.select([c for c in checked if c in table.column_names]).to_pandas()
    if len(view):
        _validate(view, piece, FEATURES, None)
        if positions:
            _validate(view, piece, POSITIONS, box_size)
    from hgtools.density import ExtrapolationWarning

    predictors = _loaded_set(models, fingerprint, released_model, base_model)
    X = np.ascontiguousarray(view[list(FEATURES)].to_numpy(dtype=float)) if len(view) \
        else np.zeros((0, len(FEATURES)))
    kind, model = predictors[0]
    outside = int(model.outside_training_range(X).sum()) if kind == "draws" and len(X) else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        galaxies = _galaxies(X, predictors, metadata["draws"], [metadata["seed"], i])  # one seed per partition
    if kind == "draws" and metadata["draws"] > 1:
        import pyarrow as pa

        table = pa.concat_tables([table] * metadata["draws"])
    for name, values in galaxies.items():
        table = _with_column(table, name, values)
    if Path(folder).is_dir():  # else its run has ended (this was a repeat of a finished part): write nothing
        write_table(table, Path(folder) / part_name(i), {**metadata, "partition": i, "input": _where(piece)},
                    overwrite=True)
    return table.num_rows, outside


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PopulateResult:
    """What a populate run did."""

    out: Path
    partitions: int
    computed: int  # partitions painted by this run (the rest were there from an interrupted run)
    rows: int  # galaxies written by this run (haloes painted × draws)
    seconds: float
    dashboard: str | None
    outside: int = 0  # haloes of this run outside a density model's training range

    @property
    def rate(self) -> float:
        """Haloes painted per second (this run's partitions, wall-clock)."""
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def _check_models(folder: Path, released_model: str, base_model: str | None) -> str:
    """Load the model set once here, so that a bad one fails before any work; say what it is."""
    from hgtools import density, released
    from hgtools.models import ModelFileError

    if density.is_density(folder):
        kind = "a density model"
    elif released.is_released(folder):
        if released_model.count("-") != 1 or released_model.split("-")[0] not in released.PATHS:
            raise PopulateError(f"--released-model must be <path>-<model> with path in {', '.join(released.PATHS)} "
                                f"and model in {', '.join(released.MODELS)}, got {released_model!r}")
        kind = f"the study's released {released_model} models"
    else:
        kind = "saved stacks" if base_model is None else f"the {base_model} models of saved stacks"
    try:
        _loaded_set(str(folder.resolve()), model_fingerprint(folder), released_model, base_model)
    except (released.ReleasedModelError, ModelFileError, FileNotFoundError) as err:
        raise PopulateError(f"--models {folder}: {err}") from None
    return kind


def _file_identity(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def partial_folder(out: str | os.PathLike) -> Path:
    """Where a run writes its parts until it is complete."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


def _open_partial(out: Path, manifest: dict, overwrite: bool) -> Path:
    partial = partial_folder(out)
    if partial.exists():
        try:
            previous = json.loads((partial / MANIFEST).read_text())
        except (OSError, ValueError):
            previous = None
        if previous != manifest:
            if not overwrite:
                differ = sorted(k for k in manifest if previous is None or previous.get(k) != manifest[k])
                raise OutputExistsError(f"{partial} holds an unfinished run of other settings (differing: "
                                        f"{', '.join(differ) or 'unreadable manifest'}); pass --overwrite to "
                                        "discard it, or re-run that command to finish it")
            shutil.rmtree(partial)
    if not partial.exists():
        partial.mkdir(parents=True)
        with atomic_write(partial / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1, default=json_default))
    return partial


#: Variables that Dask's nannies put in their workers' environment (``distributed.nanny.pre-spawn-environ``)
#: and that a local cluster of :func:`local_cluster` leaves out.  ``MALLOC_TRIM_THRESHOLD_`` fixes
#: glibc's trim threshold, which also freezes its mmap threshold: every large array of a partition
#: is then mapped and zeroed afresh.  Measured (2026-11-27, 10^7 haloes in 40 partitions, LightGBM, 2
#: warm workers, clusters with and without it alternating, 6 runs each): median 19.0 s with it, 18.2 s
#: without.  The price: glibc keeps more freed memory — a worker painting with the four-model stack
#: peaked at 2.55 GiB instead of 2.08 GiB (10^6 haloes, ``bench/populate.py``), one counting delta_3
#: at 1.33 instead of 1.19 GiB; LightGBM's and the flow's workers did not change (0.44 and 1.36 GiB).
DROPPED_WORKER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_",)


def local_cluster(workers: int | None = None):
    """A :class:`distributed.LocalCluster` of ``workers`` processes (default 2) of one thread each, for painting.

    The workers get :func:`hgtools.parallel.worker_environment` (OpenMP threads wait
    passively) and not the variables of :data:`DROPPED_WORKER_VARIABLES`; its
    dashboard listens on a free port.
    """
    import dask
    from distributed import LocalCluster

    spawn = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()
             if key not in DROPPED_WORKER_VARIABLES}
    # a nanny reads the setting when it is made; the workers inherit this process's environment
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}), \
            environment(dict.fromkeys(DROPPED_WORKER_VARIABLES)):
        return LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                            dashboard_address=":0", silence_logs=40, env=worker_environment())


def _client(workers: int | None, scheduler: str | None):
    from distributed import Client

    if scheduler is not None:
        return Client(scheduler), None
    cluster = local_cluster(workers)
    client = Client(cluster)
    client.register_plugin(_quiet_refusals())  # its workers' logs reach this terminal; a replaced worker gets it too
    return client, cluster


def _quiet_refusals():
    """A worker plugin that adds :class:`RefusalFilter` to the worker's logger (once)."""
    from distributed import WorkerPlugin

    class QuietRefusals(WorkerPlugin):
        name = "hgtools-quiet-refusals"

        def setup(self, worker) -> None:
            log = logging.getLogger("distributed.worker")
            if not any(isinstance(f, RefusalFilter) for f in log.filters):
                log.addFilter(RefusalFilter())

    return QuietRefusals()


def populate(models: str | os.PathLike, halos: str | os.PathLike, out: str | os.PathLike, *,
             box_size: float | None = None, draws: int = 1, seed: int = 0, workers: int | None = None,
             scheduler: str | None = None, overwrite: bool = False,
             rows_per_partition: int = ROWS_PER_PARTITION, delta3_min_mass: float = DELTA3_MIN_MASS,
             mass: str = "M200c", released_model: str = "raw-LGBM", base_model: str | None = None,
             input_format: str | None = None, progress: bool = True) -> PopulateResult:
    """Paint the galaxies of a saved model set onto a halo table; write a parquet dataset.

    Parameters
    ----------
    models : path-like
        A saved point-model set (one stack per target; :func:`hgtools.models.load_set`), a
        saved density model (:func:`hgtools.density.save_density`; with ``draws``), or the
        study's released models (``models/`` of its repository; :mod:`hgtools.released`).
    halos : path-like
        A parquet or CSV file, a folder of them or a glob.  Columns: the five
        halo features (``M_h`` [log10 Msun/h], ``C_h``, ``S_h``, ``z_h``,
        ``Delta3_h``), or the first four and positions ``X_h, Y_h, Z_h``
        [comoving Mpc/h] from which delta_3 is counted (needs ``box_size``).
        An optional boolean ``paint`` column marks the rows to paint; the
        others are only counted in delta_3.  Other columns are kept.  Or
        Rockstar / consistent-trees ``hlist`` files (``.list``; :mod:`hgtools.hlist`):
        host haloes painted, every halo counted in delta_3, the box read from
        the header; or a table of an hlist's columns (:func:`raw_columns`),
        converted likewise (``box_size`` needed).  The format follows the
        files' suffix unless ``input_format`` names it.
    out : path-like
        The output folder: ``part-NNNNN.parquet`` per input partition and
        ``populate.json`` (models, input, seed, timings).
    box_size : float, optional
        Periodic box side [Mpc/h]; required to count delta_3, and then positions must lie in [0, box_size).
    draws : int
        Galaxies drawn per halo from a density model (:mod:`hgtools.density`;
        a ``draw`` column when > 1); a point-model set paints exactly one (its
        conditional mean).
    seed : int
        Seed of the draws (partition i draws with ``[seed, i]``, so a resumed
        run gives the same galaxies); recorded for point models, which draw nothing.
    workers, scheduler
        A :class:`distributed.LocalCluster` of ``workers`` processes (default 2), or the
        address of a running dask-distributed scheduler.
    overwrite : bool
        Replace ``out`` (and discard an unfinished run of other settings).
    rows_per_partition : int
        Rows per partition (bounded memory per task).
    delta3_min_mass : float
        Smallest ``M_h`` [log10 Msun/h] of the objects counted in delta_3.
    mass : {"M200c", "Mvir"}
        hlist input: the mass column giving ``M_h`` (``Mvir`` is converted to M_200c).
    released_model : str
        With the study's released models: which of them, ``"<path>-<model>"`` (``raw-LGBM``,
        ``raw-NN``, ``SMOGN-LGBM``, ``SMOGN-NN``).
    base_model : str, optional
        With saved stacks: paint with this base model of each stack (``ERT``, ``kNN``, ``LGBM``,
        ``NN``) instead of the stack (LightGBM alone, compiled with lleaves, is by far the fastest).
    input_format : {"parquet", "csv", "hlist"}, optional
        The format of ``halos``' files whatever their suffix (:func:`input_files`).

    Raises
    ------
    PopulateError, OutputExistsError, FileNotFoundError
        On bad input or output, before anything is written where possible;
        a failed partition leaves the parts already written for a re-run.
    """
    t0 = time.perf_counter()
    out = Path(out)
    files, fmt = input_files(halos, input_format)
    model_folder = Path(models)
    fingerprint = model_fingerprint(model_folder)
    check_output(out, overwrite=overwrite, inputs=[*files, model_folder], what="--out")  # before any long work
    for f in files:
        if out.resolve() in f.resolve().parents:
            raise PopulateError(f"--out {out} holds the input {f}; write the result elsewhere")
    kind = _check_models(model_folder, released_model, base_model)
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise PopulateError(f"--draws must be a positive integer, got {draws!r}")
    if draws != 1 and kind != "a density model":
        raise PopulateError(f"--draws {draws}: {model_folder} is a point-model set ({kind}), which paints one galaxy "
                            "per halo (its conditional mean); draws need a density model")
    hlist_options = {"mass": mass} if fmt == "hlist" else {}
    columns = input_columns(files, fmt, **hlist_options)
    if fmt == "hlist" and box_size is None:
        from hgtools.hlist import read_header

        box_size = read_header(files[0]).box_size
    raw = fmt != "hlist" and any(c not in columns for c in OWN_FEATURES) \
        and all(c in columns for c in raw_columns().values())
    if raw:  # an hlist's columns in a table: converted as an hlist's, every row counted in delta_3, hosts painted
        if mass != "M200c":
            raise PopulateError(f"--mass {mass}: {files[0]} is a table of hlist columns, with no cosmology to convert "
                                "Mvir to M200c with (an hlist header states it); use its M200c column or the hlist "
                                "file itself")
        columns = ["ID", *OWN_FEATURES, *POSITIONS, "paint"]
    needs_delta3 = "Delta3_h" not in columns
    required = [*OWN_FEATURES, *(POSITIONS if needs_delta3 else ())]
    missing = [c for c in required if c not in columns]
    if missing:
        hint = " (Delta3_h is absent, so positions are needed to count it)" if needs_delta3 else ""
        if set(missing) & set(OWN_FEATURES):
            hint += f"; or give an hlist's columns {', '.join(raw_columns().values())} to compute the features from"
        raise PopulateError(f"{files[0]}: missing column(s) {', '.join(missing)}{hint}")
    if needs_delta3 and box_size is None:
        raise PopulateError(f"{files[0]} has no Delta3_h: give --box-size (Mpc/h) to count it from the positions")
    if box_size is not None and not (np.isfinite(box_size) and box_size > 0):
        raise PopulateError(f"--box-size must be a positive number of Mpc/h, got {box_size}")
    pieces = [{**p, "raw": True} if raw else p for p in partition_plan(files, fmt, rows_per_partition, **hlist_options)]
    from hgtools.catalogue import software_versions

    manifest = {"models": str(model_folder.resolve()), "model_fingerprint": fingerprint, "model_kind": kind,
                "released_model": released_model, "base_model": base_model,
                "inputs": [_file_identity(f) for f in files], "format": fmt, "partitions": pieces, "box_size": box_size,
                "draws": draws, "seed": seed, "delta3": {"counted": needs_delta3, "min_mass": delta3_min_mass,
                                                         "radius": DELTA3_RADIUS} if needs_delta3 else None}
    partial = _open_partial(out, manifest, overwrite)
    todo = [i for i in range(len(pieces)) if not (partial / part_name(i)).exists()]
    metadata = {"source": "populate", "models": manifest["models"], "model_fingerprint": fingerprint, "model_kind": kind,
                "seed": seed, "draws": draws, "box_size": box_size, "delta3": manifest["delta3"],
                "units": {c: SCHEMA[c].unit for c in (*FEATURES, *POSITIONS) if c in SCHEMA}}
    rows, outside, dashboard = 0, 0, None
    if todo:
        try:
            rows, outside, dashboard = _run(pieces, todo, partial, str(model_folder.resolve()), fingerprint,
                                            box_size, metadata, needs_delta3, delta3_min_mass, rows_per_partition,
                                            workers, scheduler, progress, "paint" in columns, released_model,
                                            base_model)
        except BaseException:
            if not any(partial.glob("part-*.parquet")):  # nothing to resume from: leave nothing behind
                shutil.rmtree(partial, ignore_errors=True)
            raise
    missing = [part_name(i) for i in range(len(pieces)) if not (partial / part_name(i)).exists()]
    if missing:
        raise RuntimeError(f"{partial}: {len(missing)} partition(s) missing after the run ({missing[0]}, ...)")
    for leftover in partial.glob(f".*{TEMP_MARK}*"):  # a part's writer killed mid-write (its task was redone)
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    seconds = time.perf_counter() - t0
    summary = {**manifest, "versions": software_versions(), "parts": [part_name(i) for i in range(len(pieces))],
               "rows": int(sum(p["rows"] for p in pieces)), "last_run": {
                   "partitions_painted": len(todo), "rows_painted": rows, "seconds": round(seconds, 2),
                   "haloes_outside_training_range": outside}}
    with atomic_write(partial / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=json_default))
    if out.exists():  # overwrite: swap the old result aside, then remove it
        aside = out.with_name(f".{out.name}.old")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(out, aside)
        os.replace(partial, out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(partial, out)
    if outside and progress:
        report(f"populate: {outside:,} of the haloes painted lie outside the density model's training range; "
               "their galaxies are extrapolations (counted in populate.json)")
    return PopulateResult(out, len(pieces), len(todo), rows, seconds, dashboard, outside)


def _run(pieces, todo, partial, models, fingerprint, box_size, metadata, needs_delta3, min_mass, rows_per_slab,
         workers, scheduler, progress, paint_column, released_model, base_model) -> tuple[int, int, str | None]:
    """Paint the partitions ``todo`` (and count delta_3 when needed).

    Returns the galaxies written, the haloes outside a density model's training range and the dashboard link.
    """
    from dask import delayed
    from distributed import as_completed
    from tqdm.auto import tqdm

    client, cluster = _client(workers, scheduler)
    try:
        dashboard = getattr(client, "dashboard_link", None)
        if progress and dashboard:
            report(f"populate: Dask dashboard at {dashboard}")
        d3 = delta3_graph(pieces, box_size, min_mass=min_mass, rows_per_slab=rows_per_slab,
                          paint_column=paint_column) if needs_delta3 else [None] * len(pieces)
        tag = f"paint-{uuid.uuid4().hex[:12]}"  # this run's painting tasks, among any others on a shared cluster
        tasks = [delayed(_paint_part)(pieces[i], i, d3[i], models, fingerprint, str(partial), box_size,
                                      metadata, released_model, base_model, dask_key_name=f"{tag}-{i}")
                 for i in todo]
        futures = client.compute(tasks, retries=1)
        t0, rows, outside = time.perf_counter(), 0, 0
        bar = tqdm(total=len(todo), desc="populate", unit="partition", disable=not progress)
        try:
            for future in as_completed(futures):
                part_rows, part_outside = future.result()
                rows, outside = rows + part_rows, outside + part_outside
                bar.update()
                bar.set_postfix_str(f"{rows / max(time.perf_counter() - t0, 1e-9):,.0f} galaxies/s")
            # A worker lost after finishing a partition makes Dask recompute it while its future is held:
            # forget the futures, and wait for any such repeat to end, so nothing is written after the rename.
            client.cancel(futures)
            _settle(client, tag)
        except BaseException as err:
            client.cancel(futures)
            if not isinstance(err, KeyboardInterrupt):  # let the parts being written finish, so none lands later
                _settle(client, tag)
            done = sum((partial / part_name(i)).exists() for i in range(len(pieces)))
            if done:
                report(f"populate: stopped; {done} of {len(pieces)} partitions are in {partial} — re-run the "
                       "same command to finish the others")
            raise
        finally:
            bar.close()
        return rows, outside, dashboard
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _painting(tag: str, dask_worker=None) -> int:
    """How many of the run ``tag``'s tasks a worker is executing (cancelled ones too: Dask lets them finish)."""
    state = dask_worker.state
    return sum(str(ts.key).startswith(tag) for ts in state.executing | state.long_running)


def _settle(client, tag: str, timeout: float = SETTLE_SECONDS) -> None:
    """Wait until no worker is still painting a partition of the run ``tag`` (after its futures were cancelled).

    Dask cannot stop a task that is running: a cancelled partition finishes on
    its worker and writes its (complete) part.  Waiting for it means that the
    unfinished run left for a re-run no longer changes once populate has raised.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not any(client.run(_painting, tag).values()):
                return
        except Exception:  # workers gone or unreachable: nothing more will be written by this run
            return
        time.sleep(0.2)
    report(f"populate: partitions still running after {timeout:.0f} s; their parts may still appear")


__all__ = ["CompiledLightGBM", "compiled_cache_dir", "DELTA3_MIN_MASS", "DELTA3_RADIUS", "DROPPED_WORKER_VARIABLES",
           "OWN_FEATURES", "POSITIONS", "PopulateError", "PopulateResult", "RefusalFilter", "assemble_delta3",
           "count_slab", "delta3_graph", "halo_frame", "input_columns", "input_files", "local_cluster",
           "model_fingerprint", "paint", "part_name", "partial_folder", "partition_plan", "populate", "raw_columns",
           "read_piece", "slab_count", "split_into_slabs"]
