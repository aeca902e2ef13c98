"""Every figure and table of the book, declared once: what it is, where it is, what makes it.

>>> from hgtools.artefacts import ARTEFACTS, get
>>> get("fig-9").chapter, get("fig-9").code
('05_clustering', ('clustering', 'evaluation', 'reference', 'universe', 'universe.haloes', 'universe.law', 'universe.oracle'))

Each :class:`Artefact` names its number in the study, caption, chapter (the
notebook that shows it), the function that computes it and the one that draws
it, and the *declared* code (modules of ``hgtools``) and data it depends on.
Cache keys derive from the declarations and nothing else (:func:`cache_key`):
a digest of the declared modules' source, the run configuration's identity and
the input data's identity.  Editing a declared module changes the key, and the
artefact is recomputed in the next run that uses it (a
:class:`hgtools.pipeline.Run` reads the sources once, when it opens).  The
training run is declared the same way (:data:`TRAINING`).

The MyST label of an artefact (``fig-9``, ``table-1``, ...) is its ``key``;
the book's introduction links each entry of the map to its page.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The folder of the hgtools package: declared modules are read from here by default.
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Artefact:
    """One figure or table of the book.

    Attributes
    ----------
    key : str
        Stable identifier and MyST label (``fig-9``).
    number : str
        Its name in the study (``Fig. 9``) or in the book (``Fig. A3``).
    caption : str
        What it shows.
    chapter : str
        Stem of the notebook that shows it.
    compute : str
        ``module.function`` of ``hgtools`` that computes its numbers ("" when the
        chapter draws straight from the catalogue or the trained models).
    draw : str
        ``module.function`` that draws it ("" for a table).
    code : tuple of str
        Modules of ``hgtools`` whose source decides its content.
    data : tuple of str
        What it reads: ``catalogue``, ``models`` (the training run), ``oracle``.
    cached : bool
        Stored on disk under :func:`cache_key` by :meth:`hgtools.pipeline.Run.artefact`.
    study : bool
        One of the study's figures and tables (else this book's own).
    law : bool
        Drawn only where the source knows its law (the embedded universe); its
        page says why it is absent otherwise, and the maps do not link it.
    """

    key: str
    number: str
    caption: str
    chapter: str
    compute: str
    draw: str
    code: tuple[str, ...]
    data: tuple[str, ...]
    cached: bool = False
    study: bool = True
    law: bool = False

    @property
    def label(self) -> str:
        return self.key


#: The embedded universe's modules, declared by every artefact that uses its oracle.
_UNIVERSE = ("universe", "universe.haloes", "universe.law", "universe.oracle")
_CAT = ("catalogue",)
_MOD = ("catalogue", "models")
_ORC = ("catalogue", "models", "oracle")

#: Every figure and table of the book, in reading order.
ARTEFACTS: tuple[Artefact, ...] = (
    Artefact("table-cuts", "Table D1", "Objects left after each selection step", "01_data",
             "", "", ("catalogue",), _CAT, study=False),
    Artefact("fig-features", "Fig. D1", "Distributions of the five halo features", "01_data",
             "", "plots.distributions", ("plots",), _CAT, study=False),
    Artefact("fig-targets", "Fig. D2", "Distributions of the four galaxy properties", "01_data",
             "", "plots.distributions", ("plots",), _CAT, study=False),
    Artefact("fig-correlations", "Fig. D3", "Pearson correlations of features and targets", "01_data",
             "", "plots.correlation_matrix", ("plots",), _CAT, study=False),
    Artefact("fig-1", "Fig. 1", "The two training paths: raw and SMOGN-augmented", "02_methods",
             "", "plots.methods_schematic", ("plots",), (), study=True),
    Artefact("table-search", "Table M1", "Hyper-parameters chosen on the validation split", "02_methods",
             "training.train", "", ("models", "smogn", "training"), _MOD, study=False),
    Artefact("appendix-a", "Appendix A", "Training targets after SMOGN, published algorithm and smogn 0.1.2",
             "02_methods", "training.train", "plots.augmented_distributions", ("smogn", "training", "plots"), _MOD),
    Artefact("fig-2", "Fig. 2", "Distributions of true and predicted galaxy properties", "03_predictions",
             "", "plots.prediction_histograms", ("plots",), _MOD),
    Artefact("fig-3", "Fig. 3", "Pearson r of every model and path", "03_predictions",
             "evaluation.score_table", "plots.scores_by_model", ("evaluation", "metrics", "plots"), _ORC),
    Artefact("fig-4", "Fig. 4", "1D KS distance of every model and path", "03_predictions",
             "evaluation.score_table", "plots.scores_by_model", ("evaluation", "metrics", "plots"), _MOD),
    Artefact("fig-5", "Fig. 5", "True against predicted values, both stacks", "03_predictions",
             "", "plots.true_vs_predicted", ("plots",), _MOD),
    Artefact("fig-6", "Fig. 6", "Joint relations: true and predicted", "03_predictions",
             "", "plots.joint_relations", ("plots", "reference"), _MOD),
    Artefact("table-1", "Table 1", "2D KS distance of the joint relations, both stacks and the oracle",
             "03_predictions", "evaluation.joint_table", "", ("evaluation", "metrics", "reference", *_UNIVERSE),
             _ORC, cached=True),
    Artefact("table-b1", "Table B1", "MSE, Pearson r and 1D KS of both stacks with bootstrap intervals",
             "03_predictions", "evaluation.stack_table", "", ("evaluation", "metrics", "reference"), _ORC),
    Artefact("fig-7", "Fig. 7", "Permutation importance of the halo features", "04_feature_importance",
             "importance.model_importances", "plots.feature_importances",
             ("importance", "models", *_UNIVERSE), _ORC, cached=True),
    Artefact("fig-8", "Fig. 8", "Permutation importance of the base models in each stack (cached with Fig. 7)",
             "04_feature_importance", "importance.model_importances", "plots.stack_importances",
             ("importance", "models", *_UNIVERSE), _ORC),
    Artefact("table-2", "Table 2", "Two-bin splits of each property: counts and medians", "05_clustering",
             "clustering.bin_table", "", ("clustering", "evaluation", "reference"), _ORC),
    Artefact("fig-9", "Fig. 9", "Power spectra of the two-bin splits, true and predicted", "05_clustering",
             "clustering.split_spectra", "plots.power_spectra",
             ("clustering", "evaluation", "reference", *_UNIVERSE), _ORC, cached=True),
    Artefact("fig-10", "Fig. 10", "Networks given the halo and the other galaxy properties", "06_discussion",
             "training.train_with_galaxy_inputs", "plots.galaxy_inputs", ("models", "training"), _MOD, cached=True),
    Artefact("table-comparison", "Table 3", "This run beside the study and the oracle", "06_discussion",
             "evaluation.comparison_table", "", ("evaluation", "clustering", "reference"), _ORC, study=False),
    Artefact("table-claims", "Table 4", "The study's claims tested on this run: evidence and verdict",
             "06_discussion", "claims.claims_table", "", ("claims", "evaluation", "importance", "clustering",
                                                             "reference"), _ORC, study=False),
    Artefact("table-painting", "Table P1", "A larger universe painted by the raw LightGBM models: haloes, tracers, "
             "galaxies and the check of delta_3", "07_painting", "painting.larger_universe", "",
             ("painting", "populate", "overdensity", "models", *_UNIVERSE), _MOD, cached=True, study=False),
    Artefact("fig-painting", "Fig. P1", "Power spectra of the two-bin splits in the larger universe: true and "
             "painted galaxies", "07_painting", "painting.painted_spectra", "plots.power_spectra",
             ("painting", "populate", "overdensity", "clustering", "models", *_UNIVERSE), _MOD, cached=True,
             study=False, law=True),
    Artefact("fig-delta3-threshold", "Fig. P2", "delta_3 against halo mass for tracers above three masses",
             "07_painting", "painting.delta3_thresholds", "plots.delta3_thresholds",
             ("painting", "overdensity", *_UNIVERSE), _CAT, cached=True, study=False, law=True),
    Artefact("table-throughput", "Table P2", "Throughput of hgtools populate (bench/populate.py)", "07_painting",
             "", "", ("populate",), (), study=False),
    Artefact("table-density", "Table J1", "Conditional density models and the stacks against the truth: "
             "every score (worst case) beside its goal", "08_beyond_mean", "sampling.score_tables", "",
             ("density", "density_scores", "sampling", "metrics", "reference", *_UNIVERSE), _ORC, cached=True,
             study=False),
    Artefact("fig-density-marginals", "Fig. J1", "Distributions of the four properties: true, sampled, stacks",
             "08_beyond_mean", "sampling.draw_all", "plots.sampled_distributions", ("density",), _MOD,
             study=False),
    Artefact("fig-density-joint", "Fig. J2", "Joint relations of sampled galaxies and of the stacks (contours: "
             "true)", "08_beyond_mean", "sampling.draw_all", "plots.sampled_joint", ("density",),
             _MOD, study=False),
    Artefact("fig-density-calibration", "Fig. J3", "PIT histograms and interval coverage per halo-mass bin",
             "08_beyond_mean", "sampling.score_tables", "plots.density_calibration",
             ("density", "density_scores", "sampling", "metrics"), _ORC, study=False),
    Artefact("table-density-spread", "Table J2", "Conditional standard deviation and residual correlations per "
             "halo-mass bin: models against the truth", "08_beyond_mean", "sampling.score_tables", "",
             ("density", "density_scores", "sampling"), _ORC, study=False),
    Artefact("table-density-width", "Table J3", "Width at fixed halo and rms error of the halo means per "
             "halo-mass bin: density models and the true law", "08_beyond_mean", "sampling.score_tables", "",
             ("density", "density_scores", "sampling"), _ORC, study=False),
    Artefact("table-training-noise", "Table J4", "How precisely the training galaxies fix the per-bin scatter and "
             "correlations: sets drawn anew from the law, scored like a model", "08_beyond_mean",
             "density_scores.sample_noise", "", ("density_scores", *_UNIVERSE), ("catalogue", "oracle"), cached=True,
             study=False),
    Artefact("fig-density-pk", "Fig. J4", "Power spectra of the two-bin splits: sampled populations (bands from "
             "independent draws), truth and raw stack", "08_beyond_mean", "sampling.sampled_spectra",
             "plots.sampled_power_spectra", ("density", "sampling", "clustering"), _MOD, cached=True, study=False),
    Artefact("fig-galaxy-assembly", "Fig. J5", "Galaxy assembly bias at fixed halo mass: truth, sampled "
             "galaxies and the raw stack", "08_beyond_mean", "sampling.galaxy_assembly_bias",
             "plots.galaxy_assembly_bias", ("density", "sampling", "counts_in_cells"), _MOD, cached=True,
             study=False),
    Artefact("table-calibration", "Table A1", "The embedded universe against the TNG300 numbers it is "
             "calibrated to", "A1_embedded_universe", "diagnostics.calibration_table", "",
             ("diagnostics", "reference", *_UNIVERSE), _CAT, study=False),
    Artefact("fig-law", "Fig. A1", "The embedded universe's galaxy law", "A1_embedded_universe", "",
             "plots.law_relations", ("plots", *_UNIVERSE), _CAT, study=False),
    Artefact("fig-bias", "Fig. A2", "Halo bias and assembly bias by mass", "A1_embedded_universe",
             "diagnostics.bias_table", "plots.bias_by_mass", ("plots", "diagnostics", "counts_in_cells"), _CAT,
             study=False),
    Artefact("fig-oracle", "Fig. A3", "The oracle against the truth", "A1_embedded_universe",
             "universe.catalogue_oracle", "plots.oracle_vs_truth", ("plots", *_UNIVERSE), _CAT,
             study=False),
    Artefact("table-law", "Table A2", "The embedded universe's law against TNG300-1's law tables",
             "A1_embedded_universe", "diagnostics.law_comparison", "", ("diagnostics", "reference", *_UNIVERSE),
             _CAT, study=False),
    Artefact("fig-law-calibration", "Fig. A4", "The embedded universe's law against TNG300-1's, bin by bin, "
             "and the law's feature importances", "A1_embedded_universe", "diagnostics.law_importance",
             "plots.law_calibration", ("diagnostics", "plots", "reference", *_UNIVERSE), _CAT, study=False),
)

#: The training run (every model of both paths), declared like an artefact: its cache key
#: follows the learning code.
TRAINING = Artefact("models", "", "Trained models of both paths", "02_methods", "training.train", "",
                    ("models", "smogn", "training"), _CAT, cached=True, study=False)


#: The conditional density models of the "Beyond the conditional mean" chapter, declared likewise.
DENSITY = Artefact("density", "", "Conditional density models (flow, Gaussian network, residual baseline)",
                   "08_beyond_mean", "density.fit_on_catalogue", "", ("density", "models"), _CAT, cached=True,
                   study=False)


def get(key: str) -> Artefact:
    """The artefact with this key (or :data:`TRAINING` for ``"models"``, :data:`DENSITY` for ``"density"``)."""
    for artefact in (*ARTEFACTS, TRAINING, DENSITY):
        if artefact.key == key:
            return artefact
    raise KeyError(f"no artefact {key!r}; known: {', '.join(a.key for a in ARTEFACTS)}")


def by_chapter() -> dict[str, list[Artefact]]:
    """The artefacts of each chapter, in reading order."""
    out: dict[str, list[Artefact]] = {}
    for artefact in ARTEFACTS:
        out.setdefault(artefact.chapter, []).append(artefact)
    return out


def module_file(module: str, code_root: str | os.PathLike = PACKAGE_DIR) -> Path:
    """The source file of a module of ``hgtools`` (``"universe.law"`` → ``universe/law.py``)."""
    base = Path(code_root) / Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"declared module hgtools.{module} not found under {code_root}")


@lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_digest(module: str, code_root: str | os.PathLike) -> str:
    path = module_file(module, code_root)
    stat = path.stat()
    return _file_digest(str(path), stat.st_mtime_ns, stat.st_size)


def declared_modules() -> tuple[str, ...]:
    """Every module declared by an artefact, the training run or the density models, sorted."""
    return tuple(sorted({module for artefact in (*ARTEFACTS, TRAINING, DENSITY) for module in artefact.code}))


def code_digests(code_root: str | os.PathLike = PACKAGE_DIR) -> dict[str, str]:
    """The digest of every declared module's source, read now from ``code_root``.

    A run keys all its artefacts with the digests read when it opens, so that a
    source file edited while it runs cannot give one run two keys (models
    fitted under one and looked for under the other, or a table computed by
    one code and filed under the other's key).
    """
    return {module: _module_digest(module, code_root) for module in declared_modules()}


def code_digest(modules: tuple[str, ...], code_root: str | os.PathLike = PACKAGE_DIR,
                digests: Mapping[str, str] | None = None) -> str:
    """A digest of the source of the declared modules (read from ``code_root``, or taken from ``digests``)."""
    h = hashlib.sha256()
    for module in sorted(set(modules)):
        digest = digests[module] if digests is not None and module in digests else _module_digest(module, code_root)
        h.update(module.encode() + b"\0" + digest.encode())
    return h.hexdigest()


def source_digest(function) -> str:
    """A digest of a function's source (read now, from its file)."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def cache_key(artefact: Artefact, config: dict, data: dict, *, code_root: str | os.PathLike = PACKAGE_DIR,
              compute: str | None = None, extra: dict | None = None,
              digests: Mapping[str, str] | None = None) -> str:
    """The one cache key of hgtools: declared code + run configuration + input data.

    Parameters
    ----------
    artefact : Artefact
        What is cached (its declared ``code`` is hashed).
    config : dict
        The run configuration's identity (:meth:`hgtools.config.RunConfig.identity`).
    data : dict
        The identity of the inputs (the catalogue's, the training run's key, ...).
    code_root : path
        Where the declared modules are read (the installed package by default).
    compute : str, optional
        The :func:`source_digest` of the glue function that computes the artefact (its source joins the key).
    extra : dict, optional
        Further settings that decide the content.
    digests : mapping, optional
        The modules' digests read earlier (:func:`code_digests`); by default they are read now.
    """
    blob = {"artefact": artefact.key, "code": code_digest(artefact.code, code_root, digests), "config": config,
            "data": data, "extra": extra or {},
            "compute": compute or ""}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def map_table():
    """Every artefact with its number, caption, chapter and declared dependencies (one row each)."""
    import pandas as pd

    return pd.DataFrame([{"artefact": a.number, "label": a.label, "caption": a.caption, "chapter": a.chapter,
                          "computed by": a.compute or "(the chapter)", "drawn by": a.draw or "(table)",
                          "code it depends on": ", ".join(a.code), "data": ", ".join(a.data),
                          "cached": a.cached} for a in ARTEFACTS])


def link(artefact: Artefact, has_law: bool = True) -> str:
    """A MyST link to the artefact on its page, or its name alone where this run does not draw it."""
    if artefact.law and not has_law:
        return f"{artefact.number} (not drawn: the source has no known law)"
    return f"{{ref}}`{artefact.number} <{artefact.label}>`"


def map_markdown(has_law: bool = True) -> str:
    """:func:`map_table` as a MyST table, each artefact linked to its label on its page (see :func:`link`)."""
    rows = ["| artefact | computed by | drawn by | code it depends on | data | cached |",
            "|---|---|---|---|---|---|"]
    for a in ARTEFACTS:
        rows.append(f"| {link(a, has_law)} | `{a.compute or '(the chapter)'}` | "
                    f"`{a.draw or '(table)'}` | {', '.join(f'`{m}`' for m in a.code)} | {', '.join(a.data)} | "
                    f"{'yes' if a.cached else ''} |")
    return "\n".join(rows)


__all__ = ["ARTEFACTS", "PACKAGE_DIR", "TRAINING", "Artefact", "by_chapter", "cache_key", "code_digest", "code_digests",
           "declared_modules", "get", "link", "map_markdown", "map_table", "module_file", "source_digest"]
