"""Cached stages: build a catalogue once, reuse it everywhere.

A stage's output is a file whose metadata records what made it; a later call
with the same settings reads the file instead of recomputing.
"""

from __future__ import annotations

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
