"""A run, opened in one call: its catalogue, trained models and cached artefacts.

>>> from hgtools.pipeline import open_run
>>> run = open_run({"seed": 0, "quick": True})      # doctest: +SKIP
>>> run.catalogue.table, run.models.predictions      # doctest: +SKIP
>>> run.artefact("table-1")                          # doctest: +SKIP

Every notebook starts from :func:`open_run` with its one papermill parameter
(the run configuration, :class:`hgtools.config.RunConfig`).  The catalogue is
read if a file of this run exists, built if the source can build it, and a
file that belongs to another source or other settings is refused, never
overwritten.  Models and derived tables are cached under keys that
:mod:`hgtools.artefacts` derives from what they are declared to depend on.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path

import pandas as pd

from hgtools import artefacts
from hgtools.catalogue import Catalogue, read_metadata
from hgtools.config import RunConfig
from hgtools.io import report


#: Layout of the cached artefact files (part of their key: a change recomputes them).
ARTEFACT_FORMAT = 2


class CatalogueMismatchError(ValueError):
    """A catalogue file exists but belongs to another source or other settings."""


def project_root() -> Path:
    """The project's root folder (holding ``_toc.yml``) when hgtools runs from a checkout, else the cwd."""
    checkout = artefacts.PACKAGE_DIR.parent
    return checkout if (checkout / "_toc.yml").exists() else Path.cwd()


def make_catalogue(config: RunConfig, *, verbose: bool = True) -> Catalogue:
    """Build the catalogue of a run from its source (nothing is written)."""
    table, meta = config.data_source.build(config, verbose=verbose)
    return Catalogue(table, meta)


def ensure_catalogue(config: RunConfig | dict, *, root: str | os.PathLike | None = None,
                     verbose: bool = True) -> Catalogue:
    """The catalogue of a run: read from its file, or built and written if the source can build it.

    Raises
    ------
    CatalogueMismatchError
        If the file holds a catalogue of another source or other settings; the
        message says what is there and how to proceed.  It is never overwritten.
    FileNotFoundError
        If there is no file and the source reads files (build it with ``hgtools catalogue``).
    """
    config = RunConfig.from_dict(config)
    path = config.catalogue_path(project_root() if root is None else root)
    source = config.data_source
    if path.exists():
        meta = read_metadata(path)
        wrong = source.mismatches(meta, config)
        if wrong:
            raise CatalogueMismatchError(
                f"{path} holds another catalogue: {'; '.join(wrong)}. It is kept as it is: choose another "
                f"file (--catalogue), or remove it or rebuild it with `hgtools catalogue --overwrite` "
                f"if it is no longer needed")
        if verbose:
            report(f"catalogue: reusing {path.name}")
        return Catalogue.read(path)
    if not source.generated:
        raise FileNotFoundError(f"catalogue file not found: {path}; build it with "
                                f"`hgtools catalogue --source {config.source} ... --out {path}`")
    return make_catalogue(config, verbose=verbose).write(path)


class Run:
    """One run of hgtools: configuration, catalogue, models, oracle and cached artefacts.

    Parameters
    ----------
    config : RunConfig
        With absolute folders (:meth:`RunConfig.resolve`).
    catalogue : Catalogue
    code_root : path
        Where the declared modules of cache keys are read (the installed package),
        once, when the run opens, with the source of the functions here that
        compute the artefacts: every cache key of the run is of that code.
    verbose : bool
        Say on the terminal (stderr) what is reused and what is computed, and how long it took.
    """

    def __init__(self, config: RunConfig, catalogue: Catalogue, *, code_root: str | os.PathLike = artefacts.PACKAGE_DIR,
                 verbose: bool = True):
        self.config, self.catalogue, self.code_root, self.verbose = config, catalogue, Path(code_root), verbose
        self.code_digests = artefacts.code_digests(self.code_root)
        self.compute_digests = {key: artefacts.source_digest(compute) for key, compute in _COMPUTE.items()}

    @property
    def cache_dir(self) -> Path:
        """Where trained models and derived tables of every run are cached."""
        return Path(self.config.data_dir) / "cache"

    @property
    def meta(self) -> dict:
        return self.catalogue.meta

    def train(self, alongside=(), **settings):
        """The training run (:func:`hgtools.training.train`) with these settings, from the cache or trained now.

        ``settings`` are fields of :class:`hgtools.training.TrainingConfig`
        (e.g. ``paths``, ``smogn_compat``); seed and grids come from the run.
        ``alongside``: other fits for the same pool (:meth:`fit_models`).
        """
        from hgtools import training

        config = training.TrainingConfig.from_run(self.config, **settings)
        key = artefacts.cache_key(artefacts.TRAINING, self.config.identity(), self.catalogue.identity(),
                                  code_root=self.code_root, extra=config.identity(), digests=self.code_digests)
        return training.train(self.catalogue.table, self.meta, config, folder=self.cache_dir / "models" / key,
                              card={"run": self.config.to_dict(), "cache_key": key,
                                    "catalogue": self.catalogue.identity()}, alongside=alongside)

    def fit_models(self) -> None:
        """Fit the book's missing models in one pool: the density models beside the training run's steps.

        The flow's fit is the longest of the book (about three minutes of one
        core at full size): started first, it leaves the other core to the
        Gaussian and kNN fits and then to the training steps, instead of
        waiting alone at the end of its own pool.  Afterwards :attr:`models`
        and :attr:`density_models` are read from the cache; with either
        cached, this fits the other one as they would.
        """
        from hgtools import density
        from hgtools.models import read_card

        missing = self._missing_density()  # the flow first
        if missing and "models" not in self.__dict__:
            self.__dict__["models"] = self.train(alongside=[(density.fit_and_save, {**self._density_task(name),
                                                                                       "verbose": False})
                                                            for name in missing])
            if self.verbose and not self._missing_density():
                report("density models, fitted beside the training run: " + ", ".join(
                    f"{name} in {read_card(self.density_folder / name)['fit_seconds']:.0f} s"
                    for name in missing))
        _ = self.models, self.density_models  # what is still missing (a cached training run), as each fits it

    def _missing_density(self) -> list[str]:
        from hgtools import density

        return [name for name in density.DENSITY_MODELS if not (self.density_folder / name / "card.json").exists()]

    @cached_property
    def models(self):
        """The book's training run: every model of both paths (:class:`hgtools.training.TrainingResult`)."""
        return self.train()

    @property
    def predictions(self) -> pd.DataFrame:
        """The test split with the true targets and every model's predictions."""
        return self.models.predictions

    @cached_property
    def density_models(self) -> dict:
        """The conditional density models (:data:`hgtools.density.DENSITY_MODELS`), from the cache or fitted now.

        Saved under :attr:`density_folder` (``<data_dir>/cache/density/<key>/<model>``)
        like the point models; missing ones are fitted side by side (:meth:`fit_density` refits one).
        """
        from hgtools import density
        from hgtools.parallel import run_concurrently

        missing = self._missing_density()
        if missing:  # side by side, one process per core: the Gaussian and kNN fits hide behind the flow's
            tasks = [{**self._density_task(name), "verbose": self.verbose and len(missing) == 1}  # else one bar: fits
                     for name in missing]
            fits = run_concurrently(density.fit_and_save, tasks, None, "density models")
            if self.verbose:
                report("density models: " + ", ".join(f"{n} fitted in {fit['seconds']:.0f} s"
                                                      for n, fit in zip(missing, fits)))
        out = {}
        for name in density.DENSITY_MODELS:
            out[name], _ = density.load_density(self.density_folder / name)
            if self.verbose and name not in missing:
                report(f"density model {name}: reusing the cached fit")
        return out

    def _density_task(self, name: str) -> dict:
        params = {} if name == "residual" else {"epochs": self.config.sizes.density_epochs}
        return {"table": self.catalogue.table, "name": name, "seed": self.config.training_seed, "params": params,
                "folder": self.density_folder / name, "verbose": self.verbose, "overwrite": True,
                "card": {"run": self.config.to_dict(), "cache_key": self._density_key(),
                         "catalogue": self.catalogue.identity()}}

    def fit_density(self, name: str):
        """Fit density model ``name`` on the training split (early stopping on the validation split) and cache it.

        Uses the run's seed and sizes; replaces a cached fit of this run.  Fitted
        in a worker process, as :attr:`density_models` fits (the same model).
        """
        from hgtools import density
        from hgtools.parallel import run_concurrently

        fit, = run_concurrently(density.fit_and_save, [self._density_task(name)], 1, f"density model {name}")
        if self.verbose:
            report(f"density model {name}: fitted in {fit['seconds']:.0f} s")
        return density.load_density(self.density_folder / name)[0]

    def refit_density(self, name: str, model_seeds: list[int], folder) -> dict[int, object]:
        """Density model ``name`` refitted with other model seeds, as the book fits it; the cache is untouched.

        The same training and validation split (the run's seed) and sizes as
        :attr:`density_models`; only the model's own seed (initial weights,
        batch order) changes.  Fitted side by side, one process per core, and
        saved under ``folder/<name>-<seed>`` (which must not exist yet).

        Returns
        -------
        dict
            Model seed → the fitted model.
        """
        from hgtools import density
        from hgtools.parallel import run_concurrently

        tasks = []
        for seed in model_seeds:
            task = self._density_task(name)
            tasks.append({**task, "params": {**task["params"], "random_state": int(seed)}, "verbose": False,
                          "overwrite": False, "folder": Path(folder) / f"{name}-{seed}",
                          "card": {**task["card"], "model_seed": int(seed)}})
        taken = [str(task["folder"]) for task in tasks if task["folder"].exists()]
        if taken:
            raise FileExistsError(f"refit folders exist already: {', '.join(taken)}")
        run_concurrently(density.fit_and_save, tasks, None, f"{name} refits")
        return {seed: density.load_density(task["folder"])[0] for seed, task in zip(model_seeds, tasks)}

    @cached_property
    def larger_universe(self) -> pd.DataFrame:
        """The "Painting" chapter's dark-matter-only box (:func:`hgtools.painting.larger_universe`)."""
        from hgtools import painting
        from hgtools.universe import config_from_metadata

        t0 = time.perf_counter()
        haloes = painting.larger_universe(config_from_metadata(self.meta), self.config.sizes.painting_box,
                                          self.config.seed)
        if self.verbose:
            report(f"larger universe: {len(haloes):,} haloes in a {self.config.sizes.painting_box:g} Mpc/h box "
                   f"({time.perf_counter() - t0:.0f} s)")
        return haloes

    @cached_property
    def painted_universe(self) -> tuple[pd.DataFrame, dict]:
        """The larger universe's haloes painted by the raw LightGBM models (``hgtools populate``) and a summary."""
        return _paint(self)

    @cached_property
    def painted_truth(self) -> pd.DataFrame:
        """The law's galaxies of the painted haloes (:func:`hgtools.painting.true_galaxies`)."""
        from hgtools import painting
        from hgtools.universe import config_from_metadata

        return painting.true_galaxies(self.painted_universe[0], config_from_metadata(self.meta), self.config.seed)

    @cached_property
    def oracle(self) -> pd.DataFrame | None:
        """The source's exact conditional means on the test split (None when the source has no oracle)."""
        return self.catalogue.oracle(self.predictions)

    def artefact(self, key: str) -> pd.DataFrame:
        """A cached artefact's table: read under its key, or computed now and written atomically.

        The table comes back as it was computed, index included (a named or
        multi-level index is stored as columns and restored on reading).
        """
        from hgtools.catalogue import read_metadata, write_table

        artefact = artefacts.get(key)
        compute = _COMPUTE[key]
        data = self._data_identity(artefact)
        cache_key = artefacts.cache_key(artefact, self.config.identity(), data, code_root=self.code_root,
                                        compute=self.compute_digests[key], extra={"format": ARTEFACT_FORMAT},
                                        digests=self.code_digests)
        path = self.cache_dir / "artefacts" / f"{key}-{cache_key}.parquet"
        if path.exists():
            if self.verbose:
                report(f"{artefact.number or key}: reusing the cached table")
            index = read_metadata(path).get("index") or []
            table = pd.read_parquet(path)
            return table.set_index(index) if index else table
        t0 = time.perf_counter()
        table = compute(self)
        index = [] if isinstance(table.index, pd.RangeIndex) else [
            name if name is not None else f"level_{i}" for i, name in enumerate(table.index.names)]
        card = {"artefact": key, "number": artefact.number, "cache_key": cache_key, "config": self.config.to_dict(),
                "code": list(artefact.code), "data": data, "index": index,
                "seconds": round(time.perf_counter() - t0, 2)}
        stored = table.rename_axis(index).reset_index() if index else table
        write_table(stored, path, card, overwrite=True)
        if self.verbose:
            report(f"{artefact.number or key}: computed in {card['seconds']:.1f} s")
        return table.rename_axis(index) if index else table

    def _data_identity(self, artefact: artefacts.Artefact) -> dict:
        data = {"catalogue": self.catalogue.identity()}
        if "models" in artefact.data:
            data["models"] = self.models.folder.name
        if "density" in artefact.code:
            data["density"] = self._density_key()
        return data

    @property
    def density_folder(self) -> Path:
        """Where this run's density models are saved, one sub-folder per model."""
        return self.cache_dir / "density" / self._density_key()

    def _density_key(self) -> str:
        """The density models' cache key: their code, the run and the catalogue."""
        return artefacts.cache_key(artefacts.DENSITY, self.config.identity(), self.catalogue.identity(),
                                   code_root=self.code_root, extra={"epochs": self.config.sizes.density_epochs},
                                   digests=self.code_digests)

    def truth_law(self) -> dict | None:
        """The source's exact conditional law of the galaxies, as two functions, or None without one.

        ``sample(features, n_draws, seed)`` → (n_draws, n, 4) and
        ``log_prob(features, values)`` → (n,) (:mod:`hgtools.universe.oracle`).
        """
        if not self.catalogue.has_oracle:
            return None
        from hgtools.universe import config_from_metadata
        from hgtools.universe import oracle

        cfg = config_from_metadata(self.meta)
        return {"sample": lambda f, n, seed: oracle.sample_conditional(f, cfg.law, cfg.halos, n, seed),
                "log_prob": lambda f, values: oracle.log_prob(f, values, cfg.law, cfg.halos)}

    def banner(self) -> str:
        """A MyST admonition naming the data source (shown at the top of every chapter)."""
        from hgtools.plots import source_banner

        return source_banner(self.meta)

    def _repr_markdown_(self) -> str:
        return self.banner()


def open_run(config: RunConfig | dict | None = None, *, root: str | os.PathLike | None = None,
             verbose: bool = True) -> Run:
    """Open a run from its configuration (a :class:`RunConfig` or its plain-data form).

    Relative folders are taken from ``root`` (default :func:`project_root`).
    The catalogue is read or built (:func:`ensure_catalogue`); models and
    artefacts are computed on first use.
    """
    config = RunConfig.from_dict(config).resolve(project_root() if root is None else root)
    return Run(config, ensure_catalogue(config, verbose=verbose), verbose=verbose)


# -- how each cached artefact is computed from a run ----------------------------------------------------


def _joint_table(run: Run) -> pd.DataFrame:
    from hgtools import evaluation

    return evaluation.joint_table(run.predictions, run.oracle)


def _spectra(run: Run) -> pd.DataFrame:
    from hgtools import clustering, evaluation

    samples = evaluation.clustering_samples(run.predictions, run.oracle)
    return clustering.split_spectra(samples, run.catalogue.box_size, n_mesh=run.config.sizes.n_mesh,
                                    skip_empty=True)


def _importances(run: Run) -> pd.DataFrame:
    from hgtools import importance

    sizes = run.config.sizes
    oracle = (lambda features: run.catalogue.oracle(features)) if run.catalogue.has_oracle else None
    features, stacks = importance.model_importances(run.models.folder / "models", run.predictions,
                                                    n_repeats=sizes.importance_repeats,
                                                    max_rows=sizes.importance_rows, seed=run.config.training_seed,
                                                    oracle=oracle)
    return pd.concat({"features": features, "stacks": stacks}, names=["kind"]).reset_index(0)


def _paint(run: Run) -> tuple[pd.DataFrame, dict]:
    """The larger universe's haloes painted by the raw LightGBM models with populate, and a summary."""
    import tempfile

    import numpy as np

    from hgtools import populate
    from hgtools.catalogue import HALO_POSITION
    from hgtools.overdensity import delta3

    haloes, box = run.larger_universe, run.config.sizes.painting_box
    run.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=run.cache_dir, prefix=".painting-") as tmp:
        source = Path(tmp) / "haloes.parquet"
        haloes.to_parquet(source, row_group_size=250_000)
        result = populate.populate(run.models.folder / "models" / "raw", source, Path(tmp) / "painted",
                                   box_size=box, delta3_min_mass=float(haloes["M_h"].min()), base_model="LGBM",
                                   progress=run.verbose)
        painted = pd.concat([pd.read_parquet(p) for p in sorted(result.out.glob("part-*.parquet"))],
                            ignore_index=True)
    direct = delta3(painted[list(HALO_POSITION)].to_numpy(), haloes[list(HALO_POSITION)].to_numpy(), box)
    summary = {"box side [Mpc/h]": box, "haloes (delta_3 tracers, down to 10^10 Msun/h)": len(haloes),
               "haloes painted (log M_h >= 10.5)": len(painted),
               "max |delta_3 on slabs - direct count|": float(np.abs(painted["Delta3_h"] - direct).max()),
               "partitions": result.partitions,
               "populate (delta_3 and painting) [s]": round(result.seconds, 1)}
    return painted, summary


def _painting_table(run: Run) -> pd.DataFrame:
    from hgtools.catalogue import LOG_STELLAR_MASS_MIN

    painted, summary = run.painted_universe
    truth = run.painted_truth
    summary = {**summary, "true galaxies with log M* >= 8.75": int((truth["stellar_mass"] >= LOG_STELLAR_MASS_MIN).sum()),
               "painted galaxies with log M* >= 8.75": int((painted["stellar_mass"] >= LOG_STELLAR_MASS_MIN).sum())}
    return pd.DataFrame({"quantity": list(summary), "value": [str(v) for v in summary.values()]})


def _painting_spectra(run: Run) -> pd.DataFrame:
    from hgtools import painting

    painted, _ = run.painted_universe
    return painting.painted_spectra(painted, run.painted_truth, run.config.sizes.painting_box,
                                    run.config.sizes.n_mesh)


def _delta3_thresholds(run: Run) -> pd.DataFrame:
    from hgtools import painting

    haloes = run.larger_universe
    return painting.delta3_thresholds(haloes, run.config.sizes.painting_box,
                                      (float(haloes["M_h"].min()), 10.5, 11.0))


def _density_scores(run: Run) -> pd.DataFrame:
    """Table J1, Fig. J3 and Tables J2-J3 in one long table (column ``part``)."""
    from hgtools import sampling
    from hgtools.catalogue import TARGETS

    sizes = run.config.sizes
    reference = (run.oracle[list(TARGETS)].to_numpy() if run.oracle is not None
                 else sampling.stack_values(run.predictions, "raw"))
    tables = sampling.score_tables(run.density_models, run.predictions, n_draws=sizes.density_draws,
                                   seed=run.config.training_seed, reference=reference, truth_law=run.truth_law(),
                                   energy_haloes=sizes.energy_haloes)
    summary = tables.pop("summary").rename_axis("score").reset_index()
    return pd.concat([summary.assign(part="summary"), *(t.assign(part=k) for k, t in tables.items())],
                     ignore_index=True)


def _training_noise(run: Run) -> pd.DataFrame:
    """Table J4: the per-bin spread scores of the training split's galaxies and of sets drawn anew from the law.

    Empty for a source without a known law.
    """
    from hgtools import density_scores as ds
    from hgtools.catalogue import FEATURES, TARGETS, split

    law = run.truth_law()
    if law is None:
        return pd.DataFrame()
    table, seed = run.catalogue.table, run.config.training_seed
    train = table.iloc[split(table, seed).train].reset_index(drop=True)
    features, log_mass = train[list(FEATURES)], train["M_h"].to_numpy(dtype=float)
    reference = run.catalogue.oracle(train)[list(TARGETS)].to_numpy()
    truth = law["sample"](features, run.config.sizes.density_draws, seed + 5)
    noise = ds.sample_noise(law["sample"](features, run.config.sizes.noise_sets, seed + 6), truth, reference,
                            log_mass)
    own = ds.bin_errors(ds.conditional_spread(train[list(TARGETS)].to_numpy(dtype=float), truth, reference, log_mass))
    noise.insert(1, "training split", own.set_index(["M_h_bin", "score"])["error"])
    return noise.reset_index()


def _sampled_spectra(run: Run) -> pd.DataFrame:
    from hgtools import sampling

    sizes = run.config.sizes
    law = run.truth_law()
    return sampling.sampled_spectra(run.density_models["flow"], run.predictions, run.catalogue.box_size,
                                    n_draws=sizes.clustering_draws, seed=run.config.training_seed, n_mesh=sizes.n_mesh,
                                    law=None if law is None else sampling.LawModel(law))


def _galaxy_assembly(run: Run) -> pd.DataFrame:
    from hgtools import sampling

    return sampling.galaxy_assembly_bias(run.predictions, run.density_models["flow"], run.catalogue.box_size,
                                         n_draws=run.config.sizes.clustering_draws, seed=run.config.training_seed)


def headline(run: Run) -> dict[str, pd.DataFrame | None]:
    """The discussion's numbers, computed once from the chapters' cached tables.

    Keys: ``scores`` (every model and stack, :func:`hgtools.evaluation.score_table`),
    ``chi2`` (Fig. 9), ``oracle`` (the oracle's scores, None without one),
    ``informed`` (Fig. 10's networks and their ``informed_scores``),
    ``comparison`` (Table 3) and ``claims`` (Table 4).
    """
    from hgtools import claims, clustering, evaluation, importance
    from hgtools.catalogue import GALAXY_INPUTS

    pred = run.predictions
    scores = evaluation.score_table(pred)
    chi2 = clustering.chi2_table(run.artefact("fig-9"))
    best = None if run.oracle is None else evaluation.oracle_scores(pred, run.oracle)
    informed = run.artefact("fig-10")
    informed_scores = evaluation.score_table(informed, paths=(GALAXY_INPUTS,), models=("NN",)).set_index("target")
    joint = run.artefact("table-1")
    features, stack_importance = importances(run)
    return {"scores": scores, "chi2": chi2, "oracle": best, "informed": informed, "informed_scores": informed_scores,
            "comparison": evaluation.comparison_table(scores, joint, chi2, best),
            "claims": claims.claims_table(scores, joint, importance.relative(features, "M_h"), stack_importance, chi2,
                                          informed_scores, best, synthetic=run.catalogue.source.synthetic)}


def density_scores(run: Run) -> dict[str, pd.DataFrame]:
    """Table J1 (``summary``: scores × models, with the goals) and the long tables behind Fig. J3 and Tables J2-J3."""
    table = run.artefact("table-density")
    out = {}
    for part, rows in table.groupby("part", sort=False):
        rows = rows.drop(columns="part").dropna(axis=1, how="all")
        out[part] = rows.set_index("score") if part == "summary" else rows.reset_index(drop=True)
    return out


def _galaxy_inputs(run: Run) -> pd.DataFrame:
    from hgtools.training import TrainingConfig, train_with_galaxy_inputs

    return train_with_galaxy_inputs(run.catalogue.table, TrainingConfig.from_run(run.config))


#: How each cached artefact is computed (Figs. 7 and 8 share one table, stored as Fig. 7's).
_COMPUTE = {"table-1": _joint_table, "fig-9": _spectra, "fig-7": _importances, "fig-10": _galaxy_inputs,
            "table-painting": _painting_table, "fig-painting": _painting_spectra,
            "fig-delta3-threshold": _delta3_thresholds, "table-density": _density_scores,
            "table-training-noise": _training_noise, "fig-density-pk": _sampled_spectra,
            "fig-galaxy-assembly": _galaxy_assembly}


def importances(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figs. 7-8: permutation importances of the halo features (per model) and of the base models (per stack)."""
    table = run.artefact("fig-7")
    return tuple(table[table["kind"] == k].drop(columns="kind").reset_index(drop=True)
                 for k in ("features", "stacks"))
