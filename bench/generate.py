"""Benchmark: time to generate the embedded universe, by box size.

Usage: python bench/generate.py [--repeat N]
"""

from __future__ import annotations

import argparse

from _record import record, timings

from hgtools.universe import UniverseConfig, universe_catalogue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for box in (64.0, 128.0, 205.0):
        times, (cat, meta) = timings(lambda: universe_catalogue(UniverseConfig(box_size=box, seed=0)), args.repeat)
        rows.append({"box size [Mpc/h]": box, "galaxies after cuts": len(cat),
                     "haloes drawn": meta["cuts"][0][1], "best of runs [s]": round(min(times), 2),
                     "runs": args.repeat})
    record("generate", "Generating the embedded universe (catalogue, cuts and recipe included)", rows)


if __name__ == "__main__":
    main()
