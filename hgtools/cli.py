"""The ``hgtools`` command line."""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
import warnings
from pathlib import Path


def _run_config(args: argparse.Namespace, **options):
    from hgtools.config import RunConfig

    return RunConfig(source=args.source, seed=args.seed, box_size=args.box_size, quick=getattr(args, "quick", False),
                     train_seed=getattr(args, "train_seed", None),
                     data_dir=str(args.data_dir), catalogue=None if args.catalogue is None else str(args.catalogue),
                     options=options)


def _catalogue(args: argparse.Namespace) -> int:
    from hgtools.io import check_output
    from hgtools.pipeline import make_catalogue, project_root

    options = {}
    if args.parameters is not None:
        if args.source != "mock":
            raise ValueError("--parameters belongs to the embedded universe (--source mock)")
        options = {"parameters": str(args.parameters.resolve())}
    if args.source == "tng":
        if args.base_path is None:
            raise ValueError("--source tng needs --base-path (the run's output folder)")
        options = {"base_path": str(args.base_path.resolve()), "snapshot": args.snapshot,
                   "concentration": args.concentration}
        if args.offsets:
            options["offsets_path"] = str(args.offsets.resolve())
    args.catalogue = args.out
    config = _run_config(args, **options)
    out = check_output(config.catalogue_path(project_root() if args.out is None else None),
                       overwrite=args.overwrite, what="--out")  # before any long work
    if args.source == "tng":
        if args.download:
            from hgtools.sources.tng_api import fetch_group_catalogue

            simulation = args.simulation or args.base_path.resolve().parent.name
            fetched = fetch_group_catalogue(args.base_path, simulation, args.snapshot,
                                            api_key=args.api_key, api_url=args.api_url)
            print(f"downloaded {len(fetched)} group-catalogue chunk(s) of {simulation}")
        if args.redshifts:
            from dataclasses import replace

            from hgtools.sources.tng import read_redshift_table

            config = replace(config, options={**options, "redshift_table": read_redshift_table(args.redshifts)})
    catalogue = make_catalogue(config).write(out, overwrite=args.overwrite)
    counts = ", ".join(f"{step}: {n}" for step, n in catalogue.meta["cuts"])
    print(f"wrote {out} ({len(catalogue)} galaxies; {counts})")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from hgtools.io import check_output
    from hgtools.universe.calibration import calibrate, summary
    from hgtools.universe.parameters import write_parameters

    out = check_output(args.out, overwrite=args.overwrite, what="--out")
    result = calibrate(seed=args.seed, per_bin=args.per_bin, max_nfev=args.iterations, rounds=args.rounds,
                       verbose=True)
    table = summary(result.report)
    write_parameters(out, result.halos, result.law, overwrite=args.overwrite, calibration={
        "command": f"hgtools calibrate --seed {args.seed} --per-bin {args.per_bin} --iterations {args.iterations} "
                   f"--rounds {args.rounds}",
        "seconds": round(result.seconds, 1), "summary": table.to_dict(orient="records"),
        "report": result.report.to_dict(orient="records")})
    print(table.to_string(index=False))
    print(f"wrote {out} (calibrated in {result.seconds:.0f} s)")
    return 0


def _book(args: argparse.Namespace) -> int:
    from hgtools.book import build

    build(args.root, args.out, _run_config(args))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from hgtools.catalogue import write_table
    from hgtools.density import check_n_draws, is_density, predict_draws
    from hgtools.io import check_output
    from hgtools.models import predict_with_set, read_halo_table

    if args.out.suffix != ".parquet":
        raise ValueError(f"--out must be a .parquet file, got {args.out}")
    try:
        draws = check_n_draws(args.draws)
    except ValueError:
        raise ValueError(f"--draws must be a positive integer, got {args.draws}") from None
    density = is_density(args.models)
    if draws > 1 and not density:
        raise ValueError(f"--draws {draws}: {args.models} holds point models (one prediction per halo); "
                         "draws need a density model (hgtools train-density)")
    check_output(args.out, overwrite=args.overwrite, inputs=(args.halos, args.models), what="--out")
    halos = read_halo_table(args.halos)
    meta = {"source": "predictions", "models": str(args.models.resolve()), "halos": str(args.halos.resolve())}
    if density:
        predictions = predict_draws(args.models, halos, draws, args.seed)
        meta.update(draws=draws, seed=args.seed)
    else:
        predictions = predict_with_set(args.models, halos)
    write_table(predictions, args.out, meta, overwrite=args.overwrite, inputs=(args.halos, args.models))
    print(f"wrote {args.out} ({len(predictions)} rows, columns: {', '.join(predictions.columns)})")
    return 0


def _upweight_mass(value: str, model: str) -> float | None:
    """``--upweight-mass``: a halo mass [log10 Msun/h], or None for 'none'; the flow's only."""
    if model != "flow":
        raise ValueError(f"--upweight-mass applies to the flow only, not to --model {model}")
    if value.strip().lower() == "none":
        return None
    try:
        mass = float(value)
    except ValueError:
        mass = float("nan")
    if not math.isfinite(mass):
        raise ValueError(f"--upweight-mass must be a halo mass [log10 Msun/h] or 'none', got {value!r}")
    return mass


def _train_density(args: argparse.Namespace) -> int:
    from hgtools.catalogue import read_catalogue
    from hgtools.density import fit_and_save
    from hgtools.io import check_output
    from hgtools.parallel import run_concurrently

    check_output(args.out, overwrite=args.overwrite, inputs=(args.catalogue,), what="--out")
    table, meta = read_catalogue(args.catalogue)
    params = {"epochs": args.epochs} if args.epochs is not None and args.model != "residual" else {}
    if args.upweight_mass is not None:
        params["upweight_mass"] = _upweight_mass(args.upweight_mass, args.model)
    card = {"catalogue": str(args.catalogue.resolve()), "source": meta.get("source"), "seed": args.seed,
            "split": "training split fitted, validation split for early stopping (hgtools.catalogue.split)"}
    t0 = time.perf_counter()
    fit, = run_concurrently(fit_and_save, [dict(table=table, name=args.model, folder=args.out, seed=args.seed,
                                                params=params, card=card, verbose=True, overwrite=args.overwrite)],
                            1, f"{args.model} density model")
    score = fit["validation_log_prob"]
    print(f"wrote {args.out} ({args.model} density model, trained in {time.perf_counter() - t0:.1f} s"
          + (f"; validation mean log-density {score:.3f} nats)" if score is not None else ")"))
    return 0


def _populate(args: argparse.Namespace) -> int:
    from hgtools.populate import populate

    result = populate(args.models, args.halos, args.out, box_size=args.box_size, draws=args.draws, seed=args.seed,
                      workers=args.workers, scheduler=args.scheduler, overwrite=args.overwrite,
                      rows_per_partition=args.rows_per_partition, delta3_min_mass=args.delta3_min_mass,
                      mass=args.mass, released_model=args.released_model, base_model=args.base_model,
                      input_format=args.format)
    resumed = result.partitions - result.computed
    print(f"wrote {result.out} ({result.partitions} partitions{f', {resumed} from an interrupted run' if resumed else ''};"
          f" {result.rows:,} galaxies painted in {result.seconds:.1f} s, {result.rate:,.0f} galaxies/s)")
    return 0


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    from hgtools.config import DEFAULT_DATA_DIR, DEFAULT_SEED, TNG300_BOX_SIZE
    from hgtools.sources import available

    p.add_argument("--source", choices=available(), default="mock",
                   help="mock: the embedded, synthetic TNG300-calibrated universe (default); "
                        "tng: IllustrisTNG files on disk")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of every random step (default {DEFAULT_SEED})")
    p.add_argument("--box-size", type=float, default=None,
                   help=f"side of the mock box in Mpc/h (default {TNG300_BOX_SIZE:g}, as TNG300; "
                        "smaller with --quick)")
    p.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR),
                   help=f"folder of catalogues and caches (default {DEFAULT_DATA_DIR}/)")


def parser() -> argparse.ArgumentParser:
    """The argument parser (also documents the commands in ``hgtools --help``)."""
    p = argparse.ArgumentParser(
        prog="hgtools",
        description="Learn the halo-galaxy connection with machine learning: build catalogues, "
                    "run the study's notebooks and render the book.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("catalogue", help="build the study's catalogue of central galaxies",
                       description="Build the catalogue (cuts and zero-SFR recipe applied) and "
                                   "write it to parquet with its metadata.")
    _add_run_arguments(c)
    c.add_argument("--out", type=Path, default=None,
                   help="output parquet file (default: the run's file in --data-dir, e.g. "
                        "data/mock-seed0-box205-<parameters digest>.parquet, which `hgtools book` then reads)")
    c.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else an error)")
    c.add_argument("--parameters", type=Path, default=None,
                   help="mock: the universe's parameter file (default: the shipped calibration; "
                        "write one with `hgtools calibrate`)")
    t = c.add_argument_group("TNG source")
    t.add_argument("--base-path", type=Path, help="the run's output folder (holds groups_099/, trees/)")
    t.add_argument("--snapshot", type=int, default=99, help="snapshot number (default 99, z = 0)")
    t.add_argument("--offsets", type=Path, default=None,
                   help="offsets file (default BASE/../postprocessing/offsets/offsets_NNN.hdf5)")
    t.add_argument("--redshifts", type=Path, default=None,
                   help="CSV 'snapshot,redshift' for snapshots whose group catalogue is absent")
    t.add_argument("--concentration", choices=["vmax", "nfw"], default="vmax",
                   help="c_vir from V_max/V_vir (default) or NFW fits to dark-matter particles")
    t.add_argument("--download", action="store_true",
                   help="first fetch missing group-catalogue chunks from the TNG web API")
    t.add_argument("--simulation", default=None, help="API name of the run (default: BASE's parent folder)")
    t.add_argument("--api-key", default=None, help="TNG API key (default: $TNG_API_KEY)")
    t.add_argument("--api-url", default="https://www.tng-project.org/api", help=argparse.SUPPRESS)
    c.set_defaults(func=_catalogue)

    k = sub.add_parser("calibrate", help="fit the embedded universe to TNG300-1's law tables",
                       description="Fit the parameters of the embedded universe (halo latent correlations, "
                                   "the galaxy law) to the TNG300-1 law tables shipped with hgtools and write "
                                   "a parameter file; `hgtools catalogue --parameters FILE` generates with it. "
                                   "The fit is deterministic; the shipped parameters predate its last changes, so "
                                   "the defaults now give a nearby set, not the shipped one (see the book's appendix).")
    k.add_argument("--out", type=Path, required=True, help="parameter file to write (JSON)")
    k.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else an error)")
    k.add_argument("--seed", type=int, default=0, help="seed of the haloes fitted on (default 0)")
    k.add_argument("--per-bin", type=int, default=3000, help="haloes per M_h bin in the fit (default 3000)")
    k.add_argument("--iterations", type=int, default=40,
                   help="least-squares iterations per round (default 40)")
    k.add_argument("--rounds", type=int, default=3,
                   help="rounds of (draw the haloes, fit the law); each corrects the halo correlations "
                        "for what the galaxy selection changes (default 3)")
    k.set_defaults(func=_calibrate)

    p_ = sub.add_parser("predict", help="apply a saved set of models to a table of haloes",
                        description="Predict galaxy properties for every row of a table (parquet or "
                                    "CSV) holding the five halo features M_h, C_h, S_h, z_h, Delta3_h.")
    p_.add_argument("--models", type=Path, required=True,
                    help="folder with one saved stack per target (written by hgtools.models.save_model), "
                         "or a saved density model (hgtools train-density)")
    p_.add_argument("--draws", type=int, default=1,
                    help="galaxies drawn per halo from a density model (default 1; a 'draw' column when > 1)")
    p_.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p_.add_argument("--halos", type=Path, required=True, help="input table (.parquet or .csv)")
    p_.add_argument("--out", type=Path, required=True, help="output .parquet file (never one of the inputs)")
    p_.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else an error)")
    p_.set_defaults(func=_predict)

    from hgtools.density import DENSITY_MODELS, UPWEIGHT_MASS, UPWEIGHT_RAMP

    t_ = sub.add_parser("train-density", help="fit a conditional density model of the galaxies given their haloes",
                        description="Fit p(M*, sSFR, R, colour | halo) on a catalogue's training split (early "
                                    "stopping on its validation split) and save it for hgtools predict --draws.")
    t_.add_argument("--catalogue", type=Path, required=True, help="a catalogue written by hgtools catalogue")
    t_.add_argument("--model", choices=DENSITY_MODELS, default="flow",
                    help="flow: conditional spline flow (default); gaussian: network with a full covariance; "
                         "residual: LightGBM mean plus a neighbour's residual")
    t_.add_argument("--out", type=Path, required=True, help="folder to write (never the catalogue)")
    t_.add_argument("--seed", type=int, default=0, help="seed of the split and the fit (default 0)")
    t_.add_argument("--epochs", type=int, default=None, help="most training epochs (networks; default the model's)")
    t_.add_argument("--upweight-mass", default=None, metavar="LOG_MH",
                    help="flow: halo mass [log10 Msun/h] above which training haloes weigh more in the "
                         f"likelihood, up to 4 times {UPWEIGHT_RAMP} dex above it (default {UPWEIGHT_MASS}); "
                         "'none': all weigh the same")
    t_.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else an error)")
    t_.set_defaults(func=_train_density)

    from hgtools.populate import DELTA3_MIN_MASS, FORMATS, ROWS_PER_PARTITION

    q = sub.add_parser("populate", help="paint galaxies onto a large halo catalogue, partition by partition, on Dask",
                       description="Apply a saved model set to a halo table (parquet or CSV: a file, a folder or a "
                                   "glob) of any size on a Dask cluster and write a parquet dataset (one file per "
                                   "partition). Without a Delta3_h column, delta_3 is counted from the positions "
                                   "X_h, Y_h, Z_h (needs --box-size). An interrupted run is finished by running "
                                   "the same command again.")
    q.add_argument("--models", type=Path, required=True, help="saved model set (one stack per target)")
    q.add_argument("--halos", required=True,
                   help="halo table: .parquet/.csv file, Rockstar/consistent-trees hlist (.list), a folder or a glob")
    q.add_argument("--format", choices=sorted(set(FORMATS.values())), default=None,
                   help="format of the --halos files whatever their names end with (default: from the suffix, "
                        ".parquet, .csv or .list; a folder then gives every file in it)")
    q.add_argument("--out", type=Path, required=True, help="output folder (a parquet dataset)")
    q.add_argument("--box-size", type=float, default=None,
                   help="periodic box side in Mpc/h (needed for delta_3; hlist: read from the header)")
    q.add_argument("--draws", type=int, default=1, help="galaxies per halo (density models; point models: 1)")
    q.add_argument("--seed", type=int, default=0, help="seed of every random step (default 0)")
    cluster = q.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, default=None, help="local Dask worker processes (default 2)")
    cluster.add_argument("--scheduler", default=None, help="address of a running dask-distributed scheduler")
    q.add_argument("--rows-per-partition", type=int, default=ROWS_PER_PARTITION,
                   help=f"rows per partition (default {ROWS_PER_PARTITION:,}; bounds memory per task)")
    q.add_argument("--delta3-min-mass", type=float, default=DELTA3_MIN_MASS,
                   help=f"smallest M_h [log10 Msun/h] of the objects counted in delta_3 (default {DELTA3_MIN_MASS:g})")
    q.add_argument("--mass", choices=["M200c", "Mvir"], default="M200c",
                   help="hlist input: the mass column giving M_h (Mvir is converted to M200c with colossus)")
    q.add_argument("--base-model", choices=["ERT", "kNN", "LGBM", "NN"], default=None,
                   help="paint with this base model of each saved stack instead of the stack "
                        "(LGBM, compiled with lleaves, is by far the fastest)")
    q.add_argument("--released-model", default="raw-LGBM",
                   choices=[f"{p}-{m}" for p in ("raw", "SMOGN") for m in ("LGBM", "NN")],
                   help="with the study's released models (--models pointing at its models/ folder): which one "
                        "(default raw-LGBM; its pickles are never opened)")
    q.add_argument("--overwrite", action="store_true", help="replace --out if it exists (else an error)")
    q.set_defaults(func=_populate)

    b = sub.add_parser("book", help="execute the notebooks with papermill and build the HTML book",
                       description="Execute every notebook of _toc.yml in order, then build "
                                   "<out>/_build/html with Jupyter Book.")
    _add_run_arguments(b)
    b.add_argument("--quick", action="store_true",
                   help="small configuration (smaller box, grids, mesh) for CI and quick checks")
    b.add_argument("--train-seed", type=int, default=None,
                   help="seed of the split, fits and model draws only (default: --seed; the universe keeps --seed)")
    b.add_argument("--catalogue", type=Path, default=None,
                   help="the catalogue file (default: the run's file in --data-dir; built there for mock)")
    b.add_argument("--root", type=Path, default=Path("."), help="repository root (default .)")
    b.add_argument("--out", type=Path, default=None, help="where _build/ goes (default: root)")
    b.set_defaults(func=_book)
    return p


def _show_warning(command: str, message, category, filename, lineno, file=None, line=None) -> None:
    print(f"hgtools {command}: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hgtools`` command."""
    args = parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # a warning is one line naming the command, as the errors are
            warnings.showwarning = functools.partial(_show_warning, args.command)
            return args.func(args)
    except KeyboardInterrupt:
        print(f"hgtools {args.command}: interrupted; nothing half-written was left", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, KeyError, ImportError) as err:
        message = str(err) if not isinstance(err, KeyError) else f"missing key {err}"
        print(f"hgtools {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
