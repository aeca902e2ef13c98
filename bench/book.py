"""Benchmark: time of the full-size book build (what `make book` runs after installation).

The catalogue is regenerated (the cached one is moved aside) so that the time
includes every stage.  Usage: python bench/book.py [--box-size 205]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _record import record

from hgtools.book import GENERATED, BookConfig, build

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--box-size", type=float, default=205.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = BookConfig(box_size=args.box_size, catalogue_path=str(Path(tmp) / "catalogue.parquet"))
        t0 = time.perf_counter()
        build(ROOT, Path(tmp), config)
        total = time.perf_counter() - t0
        stages = json.loads((Path(tmp) / "_build" / "source" / GENERATED / "timings.json").read_text())
    rows = [{"stage": stage, "seconds": seconds} for stage, seconds in stages.items()]
    rows.append({"stage": "render HTML (Jupyter Book)", "seconds": round(total - sum(stages.values()), 2)})
    rows.append({"stage": "total", "seconds": round(total, 2)})
    record("book", f"Full book build, {args.box_size:g} Mpc/h (after installation)", rows)


if __name__ == "__main__":
    main()
