"""The ``hgtools`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _catalogue(args: argparse.Namespace) -> int:
    from hgtools.catalogue import write_catalogue
    from hgtools.pipeline import make_catalogue

    catalogue, metadata = make_catalogue(args.source, seed=args.seed, box_size=args.box_size)
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
    c.add_argument("--source", choices=["mock"], default="mock",
                   help="mock: the embedded, synthetic TNG300-calibrated universe (default)")
    c.add_argument("--seed", type=int, default=0, help="seed of every random step (default 0)")
    c.add_argument("--box-size", type=float, default=205.0,
                   help="side of the mock box in Mpc/h (default 205, as TNG300)")
    c.add_argument("--out", type=Path, required=True, help="output parquet file")
    c.set_defaults(func=_catalogue)

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
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"hgtools {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
