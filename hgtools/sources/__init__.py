"""Data sources that fill the catalogue schema, behind one registry.

>>> from hgtools.sources import available, get_source
>>> available()
('mock', 'tng')
>>> get_source("mock").has_oracle
True

Each :class:`Source` says what it is (synthetic or a simulation), whether it
builds a catalogue from the run settings alone (``generated``) or from files
on disk, whether it knows its own law (an *oracle*: the exact conditional mean
of each galaxy property given the five halo features), how it labels figures,
and which metadata a catalogue file must carry to belong to a given run.
Code asks a source these questions instead of comparing names.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd

from hgtools.io import report

if TYPE_CHECKING:
    from hgtools.config import RunConfig


class Source:
    """A data source: subclasses fill in the class attributes and :meth:`build`."""

    name: str = ""
    #: Made by hgtools (never a simulation's result): every page says so.
    synthetic: bool = False
    #: Built from the run settings alone (else from files, with ``hgtools catalogue``).
    generated: bool = False
    #: Knows the exact conditional mean of the targets given the halo features.
    has_oracle: bool = False

    def build(self, config: RunConfig, verbose: bool = True) -> tuple[pd.DataFrame, dict]:
        """The catalogue (table, metadata) of a run; with ``verbose``, say what was built and how long it took."""
        t0 = time.perf_counter()
        table, meta = self._make(config, verbose)
        if verbose:
            report(f"catalogue: {len(table)} central galaxies, {self.label(meta)[len('Data: '):]}, "
                   f"in {time.perf_counter() - t0:.1f} s")
        return table, meta

    def _make(self, config: RunConfig, verbose: bool) -> tuple[pd.DataFrame, dict]:
        raise NotImplementedError

    def default_file_name(self, config: RunConfig) -> str:
        """File name of a run's catalogue inside the data folder."""
        return f"{self.name}-seed{config.seed}.parquet"

    def mismatches(self, metadata: dict, config: RunConfig) -> list[str]:
        """How a catalogue's metadata differs from what ``config`` asks for (empty: it belongs to the run)."""
        out = []
        if metadata.get("source") != self.name:
            out.append(f"source {metadata.get('source')!r} (this run: {self.name!r})")
        if metadata.get("seed") != config.seed:
            out.append(f"seed {metadata.get('seed')} (this run: {config.seed})")
        return out

    def oracle(self, table: pd.DataFrame, metadata: dict) -> pd.DataFrame | None:
        """The exact conditional means of the targets for the rows of ``table`` (None without an oracle)."""
        return None

    def label(self, metadata: dict) -> str:
        """One line naming the data of a catalogue, for figure footers."""
        return f"Data: {metadata.get('source_description', self.name)}"


class EmbeddedUniverse(Source):
    """The hgtools embedded universe: synthetic, TNG300-calibrated, with an exact oracle."""

    name = "mock"
    synthetic = True
    generated = True
    has_oracle = True

    @staticmethod
    def _universe(config: RunConfig):
        from hgtools.universe import UniverseConfig
        from hgtools.universe.parameters import read_parameters

        halos, law = read_parameters(config.options.get("parameters"))
        return UniverseConfig(box_size=config.box_size, seed=config.seed, halos=halos, law=law)

    def _make(self, config: RunConfig, verbose: bool) -> tuple[pd.DataFrame, dict]:
        from hgtools.universe import universe_catalogue

        return universe_catalogue(self._universe(config), verbose=verbose)

    def default_file_name(self, config: RunConfig) -> str:
        # the parameters' digest is part of the name: a new calibration never reuses an old file
        return f"mock-seed{config.seed}-box{config.box_size:g}-{self._universe(config).digest}.parquet"

    def mismatches(self, metadata: dict, config: RunConfig) -> list[str]:
        out = super().mismatches(metadata, config)
        if float(metadata.get("box_size", -1)) != float(config.box_size):
            out.append(f"box {metadata.get('box_size')} Mpc/h (this run: {config.box_size:g})")
        digest = self._universe(config).digest
        if metadata.get("universe_digest") != digest:
            out.append(f"universe parameters {metadata.get('universe_digest')} (this run: {digest})")
        return out

    def oracle(self, table: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        from hgtools.universe import catalogue_oracle

        return catalogue_oracle(table, metadata)

    def label(self, metadata: dict) -> str:
        return (f"Data: hgtools embedded universe (SYNTHETIC, TNG300-calibrated), "
                f"{metadata.get('box_size'):g} Mpc/h box, seed {metadata.get('seed')}")


class TNGFiles(Source):
    """IllustrisTNG group catalogues, SubLink trees and offsets on disk."""

    name = "tng"

    def _make(self, config: RunConfig, verbose: bool) -> tuple[pd.DataFrame, dict]:
        from hgtools.sources.tng import tng_catalogue

        if "base_path" not in config.options:
            raise ValueError("source 'tng' needs base_path (the run's output folder): "
                             "hgtools catalogue --source tng --base-path PATH")
        return tng_catalogue(seed=config.seed, verbose=verbose, **config.options)

    def default_file_name(self, config: RunConfig) -> str:
        return f"tng-snap{int(config.options.get('snapshot', 99)):03d}-seed{config.seed}.parquet"

    def mismatches(self, metadata: dict, config: RunConfig) -> list[str]:
        out = super().mismatches(metadata, config)
        if "snapshot" in config.options and metadata.get("snapshot") != int(config.options["snapshot"]):
            out.append(f"snapshot {metadata.get('snapshot')} (this run: {config.options['snapshot']})")
        return out

    def label(self, metadata: dict) -> str:
        snapshot = f" snapshot {metadata['snapshot']}," if "snapshot" in metadata else ""
        return (f"Data: IllustrisTNG ({metadata.get('simulation', 'TNG')}),{snapshot} "
                f"{metadata.get('box_size'):g} Mpc/h box")


_REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add a source to the registry (its ``name`` must be new)."""
    if not source.name or source.name in _REGISTRY:
        raise ValueError(f"a source needs a new, non-empty name; got {source.name!r}")
    _REGISTRY[source.name] = source
    return source


def available() -> tuple[str, ...]:
    """Names of the registered sources."""
    return tuple(_REGISTRY)


def get_source(name: str) -> Source:
    """The registered source called ``name``; a clear error for an unknown one."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown source {name!r}; available: {', '.join(available())}") from None


register(EmbeddedUniverse())
register(TNGFiles())

__all__ = ["EmbeddedUniverse", "Source", "TNGFiles", "available", "get_source", "register"]
