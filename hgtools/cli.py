"""The ``hgtools`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _catalogue(args: argparse.Namespace) -> int:
    from hgtools.catalogue import write_catalogue
    from hgtools.pipeline import make_catalogue

    options = {}
    if args.source == "tng":
        if args.base_path is None:
            raise ValueError("--source tng needs --base-path (the run's output folder)")
        if args.download:
            from hgtools.sources.tng_api import fetch_group_catalogue

            simulation = args.simulation or args.base_path.resolve().parent.name
            fetched = fetch_group_catalogue(args.base_path, simulation, args.snapshot,
                                            api_key=args.api_key, api_url=args.api_url)
            print(f"downloaded {len(fetched)} group-catalogue chunk(s) of {simulation}")
        from hgtools.sources.tng import read_redshift_table

        options = {"base_path": args.base_path, "snapshot": args.snapshot, "offsets_path": args.offsets,
                   "concentration": args.concentration,
                   "redshift_table": read_redshift_table(args.redshifts) if args.redshifts else None}
    catalogue, metadata = make_catalogue(args.source, seed=args.seed, box_size=args.box_size, **options)
    path = write_catalogue(catalogue, args.out, metadata)
    counts = ", ".join(f"{step}: {n}" for step, n in metadata["cuts"])
    print(f"wrote {path} ({len(catalogue)} galaxies; {counts})")
    return 0


def _book(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hgtools.book import BookConfig, build

    config = BookConfig.quick_config(args.seed) if args.quick else BookConfig(seed=args.seed)
    if args.box_size is not None:
        config = replace(config, box_size=args.box_size)
    build(args.root, args.out, config)
    return 0


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from hgtools.catalogue import write_catalogue
    from hgtools.models import predict_with_set

    if not args.halos.exists():
        raise FileNotFoundError(f"halo table not found: {args.halos}")
    halos = pd.read_csv(args.halos) if args.halos.suffix == ".csv" else pd.read_parquet(args.halos)
    if args.out.suffix != ".parquet":
        raise ValueError(f"--out must be a .parquet file, got {args.out}")
    predictions = predict_with_set(args.models, halos)
    write_catalogue(predictions, args.out, {"source": "predictions", "models": str(args.models.resolve()),
                                            "halos": str(args.halos.resolve())})
    print(f"wrote {args.out} ({len(predictions)} rows, columns: {', '.join(predictions.columns)})")
    return 0


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
    c.add_argument("--source", choices=["mock", "tng"], default="mock",
                   help="mock: the embedded, synthetic TNG300-calibrated universe (default); "
                        "tng: IllustrisTNG files on disk (--base-path)")
    c.add_argument("--seed", type=int, default=0, help="seed of every random step (default 0)")
    c.add_argument("--box-size", type=float, default=205.0,
                   help="side of the mock box in Mpc/h (default 205, as TNG300)")
    c.add_argument("--out", type=Path, required=True, help="output parquet file")
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

    p_ = sub.add_parser("predict", help="apply a saved set of models to a table of haloes",
                        description="Predict galaxy properties for every row of a table (parquet or "
                                    "CSV) holding the five halo features M_h, C_h, S_h, z_h, Delta3_h.")
    p_.add_argument("--models", type=Path, required=True,
                    help="folder with one saved stack per target (written by hgtools.models.save_model)")
    p_.add_argument("--halos", type=Path, required=True, help="input table (.parquet or .csv)")
    p_.add_argument("--out", type=Path, required=True, help="output .parquet file")
    p_.set_defaults(func=_predict)

    b = sub.add_parser("book", help="execute the notebooks with papermill and build the HTML book",
                       description="Execute every notebook of _toc.yml in order, then build "
                                   "<out>/_build/html with Jupyter Book.")
    b.add_argument("--quick", action="store_true",
                   help="small configuration (64 Mpc/h box) for CI and quick checks")
    b.add_argument("--seed", type=int, default=0, help="seed of every random step (default 0)")
    b.add_argument("--box-size", type=float, default=None, help="mock box side in Mpc/h")
    b.add_argument("--root", type=Path, default=Path("."), help="repository root (default .)")
    b.add_argument("--out", type=Path, default=None, help="where _build/ goes (default: root)")
    b.set_defaults(func=_book)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hgtools`` command."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as err:
        print(f"hgtools {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
