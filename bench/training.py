"""Benchmark: training every model of both paths on the full-size catalogue, one process against two.

The (path, target) steps are independent; with two worker processes they fit side by side.
Both runs train the same models from the same catalogue in the same session, and the
benchmark checks that their predictions are identical.  Usage: python bench/training.py [--box-size L]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _record import record

from hgtools.config import TNG300_BOX_SIZE, RunConfig
from hgtools.pipeline import ensure_catalogue
from hgtools.training import TrainingConfig, train, train_with_galaxy_inputs

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--box-size", type=float, default=TNG300_BOX_SIZE)
    args = ap.parse_args()
    run = RunConfig(box_size=args.box_size)
    catalogue = ensure_catalogue(run, root=ROOT)
    config = TrainingConfig.from_run(run)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            results[workers] = train(catalogue.table, catalogue.meta, config, folder=Path(tmp) / f"{workers}",
                                     workers=workers)
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            informed = train_with_galaxy_inputs(catalogue.table, config, workers=workers)
            t_informed = time.perf_counter() - t0
            rows.append({"worker processes": workers, "galaxies": len(catalogue),
                         "both paths, 8 stacks [s]": round(t_train, 1),
                         "Fig. 10 networks [s]": round(t_informed, 1)})
            results[workers] = (results[workers].predictions, informed)
    same = all(a.equals(b) for a, b in zip(results[1], results[2], strict=True))
    for row in rows:
        row["identical predictions"] = same
    record("training", f"Training on {args.box_size:g} Mpc/h: one process against two (same session)", rows)


if __name__ == "__main__":
    main()
