"""Cached stages: build a catalogue once, reuse it everywhere.

A stage's output is a file whose metadata records what made it; a later call
with the same settings reads the file instead of recomputing.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import time
from pathlib import Path

import pandas as pd

from hgtools.catalogue import read_catalogue, read_metadata, write_catalogue


def make_catalogue(source: str = "mock", *, seed: int = 0, box_size: float = 205.0,
                   verbose: bool = True, **tng_options) -> tuple[pd.DataFrame, dict]:
    """Build the study's catalogue from a source.

    Parameters
    ----------
    source : {"mock", "tng"}
        ``"mock"``: the embedded TNG-calibrated universe; ``"tng"``: TNG files on disk.
    seed : int
        Seed of every random step.
    box_size : float
        Side of the mock box [Mpc/h] (205 = TNG300); ignored for TNG.
    verbose : bool
        Report each stage and its duration.
    **tng_options
        For ``"tng"``: ``base_path`` and the options of
        :func:`hgtools.sources.tng.tng_catalogue`.
    """
    if source == "tng":
        from hgtools.sources.tng import tng_catalogue

        if "base_path" not in tng_options:
            raise ValueError("source 'tng' needs base_path (the run's output folder)")
        t0 = time.perf_counter()
        cat, meta = tng_catalogue(seed=seed, verbose=verbose, **tng_options)
        if verbose:
            print(f"catalogue: {len(cat)} central galaxies from {meta['simulation']} snapshot "
                  f"{meta['snapshot']} in {time.perf_counter() - t0:.1f} s")
        return cat, meta
    if source == "mock":
        from hgtools.sources.mock import MockConfig, mock_catalogue

        t0 = time.perf_counter()
        cat, meta = mock_catalogue(MockConfig(box_size=box_size, seed=seed), verbose=verbose)
        if verbose:
            print(f"catalogue: {len(cat)} central galaxies from the embedded universe "
                  f"({box_size:g} Mpc/h, seed {seed}) in {time.perf_counter() - t0:.1f} s")
        return cat, meta
    raise ValueError(f"unknown source {source!r}; available: 'mock', 'tng'")


def ensure_catalogue(path: str | os.PathLike, source: str = "mock", *, seed: int = 0,
                     box_size: float = 205.0, verbose: bool = True) -> tuple[pd.DataFrame, dict]:
    """Read the catalogue at ``path`` if it was made with these settings, else build and write it.

    For a non-mock source the file must already exist (it is built by
    ``hgtools catalogue``); its settings are not checked against ``seed`` and
    ``box_size``.
    """
    path = Path(path)
    if path.exists():
        meta = read_metadata(path)
        same = (meta.get("source") == source and meta.get("seed") == seed
                and float(meta.get("box_size", -1)) == float(box_size))
        if same or source != "mock":
            if verbose:
                print(f"catalogue: reusing {path}")
            return read_catalogue(path)
    elif source != "mock":
        raise FileNotFoundError(f"catalogue file not found: {path}; build it with `hgtools catalogue`")
    cat, meta = make_catalogue(source, seed=seed, box_size=box_size, verbose=verbose)
    write_catalogue(cat, path, meta)
    return cat, meta


def ensure_models(catalogue: pd.DataFrame, metadata: dict, catalogue_path: str | os.PathLike, *,
                  seed: int = 0, quick: bool = False, **config):
    """Trained models for a catalogue: from the cache beside it (``<catalogue folder>/models``), or trained now.

    ``config`` holds further :class:`hgtools.training.TrainingConfig` fields
    (e.g. ``paths``, ``smogn_compat``).
    """
    from hgtools.training import TrainingConfig, train

    cache = Path(catalogue_path).resolve().parent / "models"
    return train(catalogue, metadata, TrainingConfig(seed=seed, quick=quick, **config), cache_dir=cache)


def source_hash(module) -> str:
    """Short hash of a module's source, so a cached table follows the code that made it."""
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()[:10]


def ensure_table(path: str | os.PathLike, compute, *, verbose: bool = True) -> pd.DataFrame:
    """Read a cached table, or compute it (``compute() -> DataFrame``) and write it atomically.

    The caller names the file after everything the table depends on; tables
    live inside a model cache folder, whose key already covers the catalogue,
    the training settings and the learning code.
    """
    path = Path(path)
    if path.exists():
        if verbose:
            print(f"reusing {path.name}")
        return pd.read_parquet(path)
    t0 = time.perf_counter()
    table = compute()
    tmp = path.with_name(path.name + ".partial")
    table.to_parquet(tmp)
    os.replace(tmp, path)
    if verbose:
        print(f"{path.name}: computed in {time.perf_counter() - t0:.1f} s")
    return table


def ensure_importances(result, metadata: dict, *, seed: int = 0, quick: bool = False
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Permutation importances (Figs. 7-8) of a training run, cached in its folder.

    Halo-feature importances use 10,000 test galaxies (3,000 in quick runs) and
    5 shuffles per feature; on the embedded universe the oracle's are added.
    """
    from hgtools import importance

    rows, repeats = (3_000, 3) if quick else (10_000, 5)
    oracle = (lambda features: oracle_of(features, metadata)) if metadata.get("source") == "mock" else None

    def compute():
        features, stacks = importance.model_importances(result.folder / "models", result.predictions,
                                                        n_repeats=repeats, max_rows=rows, seed=seed,
                                                        oracle=oracle)
        return pd.concat({"features": features, "stacks": stacks}, names=["kind"]).reset_index(0)

    table = ensure_table(result.folder / f"importance-{rows}-{repeats}-{seed}-{source_hash(importance)}.parquet",
                         compute)
    return tuple(table[table["kind"] == k].drop(columns="kind").reset_index(drop=True) for k in ("features", "stacks"))


def ensure_galaxy_inputs(catalogue: pd.DataFrame, result, *, seed: int = 0, quick: bool = False) -> pd.DataFrame:
    """Fig. 10's networks with galaxy inputs, trained once and cached beside the models."""
    from hgtools.training import TrainingConfig, train_with_galaxy_inputs

    return ensure_table(result.folder / "galaxy_inputs.parquet",
                        lambda: train_with_galaxy_inputs(catalogue, TrainingConfig(seed=seed, quick=quick)))


def ensure_spectra(result, metadata: dict, *, quick: bool = False) -> pd.DataFrame:
    """Fig. 9's power spectra of the two-bin splits (true, both stacks, oracle), cached.

    Computed on the test split with a 256^3 mesh (128^3 in quick runs) and the
    study's 22 bandpowers; a bin that a sample leaves empty has no spectrum.
    """
    from hgtools import clustering, evaluation

    n_mesh = 128 if quick else 256

    def compute():
        samples = evaluation.clustering_samples(result.predictions, oracle_of(result.predictions, metadata))
        return clustering.split_spectra(samples, float(metadata["box_size"]), n_mesh=n_mesh, skip_empty=True)

    return ensure_table(result.folder / f"spectra-{n_mesh}-{source_hash(clustering)}.parquet", compute)


def oracle_of(table: pd.DataFrame, metadata: dict) -> pd.DataFrame | None:
    """The oracle's targets for the rows of ``table`` on the embedded universe; None for other sources."""
    if metadata.get("source") != "mock":
        return None
    from hgtools.sources.mock import catalogue_oracle

    return catalogue_oracle(table, metadata)


def ensure_joint_table(result, metadata: dict) -> pd.DataFrame:
    """Table 1 (2D KS of the joint relations, exact on the whole test split), cached."""
    from hgtools import evaluation, metrics

    return ensure_table(result.folder / f"joint-{source_hash(metrics)}.parquet",
                        lambda: evaluation.joint_table(result.predictions,
                                                       oracle_of(result.predictions, metadata)))
