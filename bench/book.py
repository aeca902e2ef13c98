"""Benchmark: time of the full-size book build (what `make book` runs after installation).

The catalogue and the models are made anew in a scratch folder, so that the
time includes every stage.  The previous record's times are kept beside the new
ones (column "before"), with its date, so a change's effect stays on the page.
Usage: python bench/book.py [--box-size L] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _record import RESULTS, record

from hgtools.book import GENERATED, TIMINGS_FILE, build
from hgtools.config import TNG300_BOX_SIZE, RunConfig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--box-size", type=float, default=TNG300_BOX_SIZE)
    ap.add_argument("--keep", metavar="DIR", help="build in DIR (must not exist) and keep it, to read the book")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        config = RunConfig(box_size=args.box_size, data_dir=str(Path(tmp) / "data"))
        t0 = time.perf_counter()
        build(ROOT, Path(tmp), config)
        total = time.perf_counter() - t0
        stages = json.loads((Path(tmp) / "_build" / "source" / GENERATED / TIMINGS_FILE).read_text())
    seconds = {**stages, "render HTML (Jupyter Book)": round(total - sum(stages.values()), 2),
               "total": round(total, 2)}
    previous = RESULTS / "book.json"
    before = json.loads(previous.read_text()) if previous.exists() else {"rows": []}
    label = f"before [s] ({before.get('date', '')})"
    earlier = {row["stage"]: row.get("seconds") for row in before["rows"]}
    rows = [{"stage": stage, "seconds": value, label: earlier.get(stage)} for stage, value in seconds.items()]
    record("book", f"Full book build, {args.box_size:g} Mpc/h (after installation)", rows)


if __name__ == "__main__":
    main()
