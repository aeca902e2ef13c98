"""Benchmark: building the catalogue from a miniature TNG run of about 10^5 subhaloes.

Usage: python bench/tng.py [--groups 40000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _record import record

from hgtools.sources.tng import tng_catalogue
from hgtools.sources.tng_mini import write_mini_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--groups", type=int, default=40_000, help="random FoF groups (about 2.5 subhaloes each)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = write_mini_run(Path(tmp) / "TNG-bench", n_random=args.groups, seed=1, n_chunks=8, n_tree_chunks=4)
        written = time.perf_counter() - t0
        t0 = time.perf_counter()
        cat, meta = tng_catalogue(run.base_path, 99, verbose=False)
        built = time.perf_counter() - t0
    rows = [{"stage": "write the fixture (not part of the builder)", "seconds": round(written, 2)}]
    rows += [{"stage": stage, "seconds": s} for stage, s in meta["stage_seconds"].items()]
    rows.append({"stage": f"total: {run.n_subhalos} subhaloes -> {len(cat)} galaxies", "seconds": round(built, 2)})
    record("tng", "Building the catalogue from TNG files (miniature run in TNG's layout)", rows, universe=False)


if __name__ == "__main__":
    main()
