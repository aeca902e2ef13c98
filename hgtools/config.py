"""The run configuration: every setting of a run, and every size derived from it, in one place.

>>> from hgtools.config import RunConfig
>>> run = RunConfig(seed=1)                 # the full-size default: embedded universe, 205 Mpc/h
>>> run.box_size, run.sizes.n_mesh
(205.0, 128)
>>> quick = RunConfig.quick_config()          # CI's small configuration
>>> quick.box_size, quick.sizes.n_mesh
(64.0, 128)

A :class:`RunConfig` is plain data: it is built once (from the command line,
or from the single ``config`` parameter papermill gives every notebook), printed
on the book's reproducibility page, and written into the card of every cached
artefact.  :meth:`RunConfig.identity` is the part that decides content (source,
seed, box, quick, source options) — folders are not part of it.

Defaults live here and nowhere else: :data:`TNG300_BOX_SIZE`, :data:`DEFAULT_SEED`,
the sizes of a full run (:data:`FULL`) and of a quick one (:data:`QUICK`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: Side of the TNG300-1 box [Mpc/h]: the default size of the embedded universe.
TNG300_BOX_SIZE = 205.0
#: Seed of every random step unless another is given.
DEFAULT_SEED = 0
#: Where data, catalogues and caches go, relative to the project root.
DEFAULT_DATA_DIR = "data"


@dataclass(frozen=True)
class Sizes:
    """How large a run's derived computations are (plain data)."""

    name: str  # "full" or "quick"
    box_size: float  # default side of the embedded universe [Mpc/h]
    n_mesh: int  # power-spectrum mesh cells per side (Figs. 9, J4 and P1; see FULL)
    importance_rows: int  # test galaxies in the halo-feature permutation importances (Fig. 7)
    importance_repeats: int  # shuffles per feature (Figs. 7-8)
    bootstrap_draws: int  # bootstrap resamples of the test set (Table B1 intervals)
    painting_box: float  # side of the larger universe painted in the "Painting" chapter [Mpc/h]
    density_epochs: int  # most training epochs of the density networks (early stopping decides)
    density_draws: int  # draws per test halo for the density scores (PIT, coverage, spread)
    energy_haloes: int  # test haloes in the conditional energy distance (200 draws each)
    clustering_draws: int  # independent sampled populations behind the power-spectrum bands
    noise_sets: int  # sets of training galaxies drawn anew from a known law (Table J4)
    grids: dict = field(default_factory=dict)  # hyper-parameter grids per model, searched on validation


#: The full-size run (the book's default).  Its 128^3 power-spectrum mesh puts the last of the study's
#: 22 bandpowers (0.70 h/Mpc in 205 Mpc/h) at 0.36 of the Nyquist wavenumber: the spectra of the eight
#: property bins of the full-size catalogue of seed 0 differ from a 256^3 mesh's by at most 0.065 of
#: their Eq. (6) error (0.3 %), and take 1.2 s instead of 8.3 s.  The bands of Figs. J4 and J5 come
#: from 20 sampled populations (the "joint distribution" issue asks for at least 20): at full size
#: 56 s and 6 s, against 23 s and 2 s with the 5 used before (2026-11-28).
FULL = Sizes(
    name="full", box_size=TNG300_BOX_SIZE, n_mesh=128, importance_rows=5_000, importance_repeats=5,
    bootstrap_draws=100, painting_box=230.0, density_epochs=200, density_draws=49, energy_haloes=2000,
    clustering_draws=20, noise_sets=20,
    grids={
        "ERT": [{"n_estimators": 100, "min_samples_leaf": m} for m in (5, 20)],
        "kNN": [{"n_neighbors": k} for k in (10, 30, 100)],
        "LGBM": [{"num_leaves": 31, "max_depth": 6, "learning_rate": 0.1}],  # the study's model
        "NN": [{"epochs": 200, "patience": 10, "batch_size": 1024}],
    })
#: The quick run (CI, tests, ``--quick``): a small box and small grids.
QUICK = Sizes(
    name="quick", box_size=64.0, n_mesh=128, importance_rows=3_000, importance_repeats=3, bootstrap_draws=30,
    painting_box=80.0, density_epochs=150, density_draws=39, energy_haloes=300, clustering_draws=4,
    noise_sets=5, grids={
        "ERT": [{"n_estimators": 40, "min_samples_leaf": m} for m in (2, 16)],
        "kNN": [{"n_neighbors": k} for k in (10, 30)],
        "LGBM": [{"num_leaves": 31, "max_depth": 6, "learning_rate": 0.1}],
        "NN": [{"epochs": 40, "patience": 5}],
    })


class ConfigError(ValueError):
    """A run configuration is invalid; the message names the setting."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run of hgtools.

    Parameters
    ----------
    source : str
        Name of a registered source (:func:`hgtools.sources.available`):
        ``"mock"`` (the embedded universe, built on demand) or ``"tng"`` (a
        catalogue built from TNG files with ``hgtools catalogue --source tng``).
    seed : int
        Seed of every random step (universe, zero-SFR recipe, split, models).
    train_seed : int, optional
        Another seed for the split, the fits and the models' draws only (the universe keeps
        ``seed``), to measure how results move with training alone; default ``seed``.
    box_size : float, optional
        Side of the embedded universe [Mpc/h]; default :data:`TNG300_BOX_SIZE`,
        or the quick box with ``quick``.  Sources that read files take the box
        from them.
    quick : bool
        The small configuration (:data:`QUICK` sizes) for CI and checks.
    data_dir : str
        Folder of catalogues and caches; relative paths are taken from the
        project root (:meth:`resolve`).
    catalogue : str, optional
        The catalogue file; default ``<data_dir>/catalogue[-quick].parquet``
        for the embedded universe (seed and box appended when not the defaults).
    options : dict
        The source's own options (e.g. TNG ``base_path``, ``snapshot``).
    """

    source: str = "mock"
    seed: int = DEFAULT_SEED
    box_size: float | None = None
    quick: bool = False
    train_seed: int | None = None
    data_dir: str = DEFAULT_DATA_DIR
    catalogue: str | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        source = self.data_source  # raises on an unknown name
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.train_seed is not None and (isinstance(self.train_seed, bool) or not isinstance(self.train_seed, int)
                                            or self.train_seed < 0):
            raise ConfigError(f"train_seed must be a non-negative integer or None, got {self.train_seed!r}")
        if not isinstance(self.quick, bool):
            raise ConfigError(f"quick must be true or false, got {self.quick!r}")
        if self.box_size is None and source.generated:
            object.__setattr__(self, "box_size", self.sizes.box_size)
        if self.box_size is not None:
            try:
                box = float(self.box_size)
            except (TypeError, ValueError):
                raise ConfigError(f"box_size must be a length in Mpc/h, got {self.box_size!r}") from None
            if not box > 0 or box == float("inf"):
                raise ConfigError(f"box_size must be a positive length in Mpc/h, got {self.box_size!r}")
            object.__setattr__(self, "box_size", box)
        object.__setattr__(self, "options", dict(self.options or {}))
        object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        if self.catalogue is not None:
            object.__setattr__(self, "catalogue", os.fspath(self.catalogue))

    # -- derived -----------------------------------------------------------------------------

    @property
    def data_source(self):
        """The registered :class:`hgtools.sources.Source` named by ``source``."""
        from hgtools.sources import get_source

        return get_source(self.source)

    @property
    def sizes(self) -> Sizes:
        """The sizes of this run's derived computations (:data:`QUICK` or :data:`FULL`)."""
        return QUICK if self.quick else FULL

    @property
    def training_seed(self) -> int:
        """The seed of the split, the fits and the model draws: ``train_seed``, else ``seed``."""
        return self.seed if self.train_seed is None else self.train_seed

    def identity(self) -> dict:
        """What decides the content of this run's results (no folders): part of every cache key.

        The sizes (:data:`FULL` or :data:`QUICK`) are part of it, so that a
        changed mesh, number of draws or grid never serves results cached
        with the old one.
        """
        return {"source": self.source, "seed": self.seed, "train_seed": self.training_seed,
                "box_size": self.box_size, "quick": self.quick, "sizes": asdict(self.sizes),
                "options": {k: os.fspath(v) if isinstance(v, os.PathLike) else v
                            for k, v in sorted(self.options.items())}}

    def catalogue_path(self, root: str | os.PathLike | None = None) -> Path:
        """The catalogue file of this run (absolute when ``root`` is given)."""
        if self.catalogue is not None:
            path = Path(self.catalogue)
        else:
            path = Path(self.data_dir) / self.data_source.default_file_name(self)
        return path if root is None or path.is_absolute() else Path(root) / path

    def resolve(self, root: str | os.PathLike) -> RunConfig:
        """The same configuration with ``data_dir`` and ``catalogue`` made absolute under ``root``."""
        root = Path(root).resolve()
        data = Path(self.data_dir)
        return replace(self, data_dir=str(data if data.is_absolute() else root / data),
                       catalogue=str(self.catalogue_path(root)))

    def with_source(self, source: str, **options) -> RunConfig:
        """The same seed, size and folders for another source (its default box and file); ``self`` if the same."""
        if source == self.source and not options:
            return self
        return replace(self, source=source, box_size=None, catalogue=None, options=options)

    # -- plain data ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        out = asdict(self)
        out["options"] = self.identity()["options"]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict | RunConfig | None) -> RunConfig:
        """Build from plain data (e.g. the notebooks' papermill parameter); unknown keys are an error."""
        if isinstance(data, RunConfig):
            return data
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown run setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def quick_config(cls, seed: int = DEFAULT_SEED, **overrides) -> RunConfig:
        """The small, fast configuration used by CI."""
        return cls(seed=seed, quick=True, **overrides)


__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_SEED", "FULL", "QUICK", "TNG300_BOX_SIZE", "ConfigError", "RunConfig",
           "Sizes"]
