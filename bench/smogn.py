"""Benchmark: SMOGN, the smogn package (0.1.2) against hgtools' implementation, both modes.

smogn runs in a fresh process per size (it reads memory it never set, so a
fresh process gives its usual behaviour) with a time limit; hgtools runs on
the full training split of the default catalogue.

Usage: python bench/smogn.py [--sizes 1000 3000 10000 30000] [--limit 1800]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _record import record

from hgtools.catalogue import FEATURES, split
from hgtools.pipeline import ensure_catalogue
from hgtools.config import RunConfig
from hgtools.smogn import STUDY_SETTINGS, smoter

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import json, sys, time, random
import numpy as np, pandas as pd, smogn
a = json.loads(sys.argv[1])
np.random.seed(0); random.seed(0)
df = pd.read_parquet(a["input"])
t0 = time.perf_counter()
out = smogn.smoter(data=df, y=a["target"], **a["settings"])
print(json.dumps({"seconds": time.perf_counter() - t0, "rows_out": len(out)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    ap.add_argument("--limit", type=float, default=1800.0, help="seconds allowed per smogn run")
    args = ap.parse_args()
    catalogue = ensure_catalogue(RunConfig(), root=ROOT).table  # the book's default catalogue
    train = catalogue.iloc[split(catalogue, 0).train]
    rows = []
    for target in ("stellar_mass", "sSFR"):
        table = train[[*FEATURES, target]].reset_index(drop=True)
        for compat in (None, "smogn-0.1.2"):
            t0 = time.perf_counter()
            out = smoter(table, target, seed=0, compat=compat, **STUDY_SETTINGS[target])
            rows.append({"implementation": f"hgtools ({compat or 'published algorithm'})", "target": target,
                         "rows in": len(table), "rows out": len(out),
                         "seconds": round(time.perf_counter() - t0, 2)})
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp) / "in.parquet"
                table.sample(n, random_state=0).reset_index(drop=True).to_parquet(src)
                payload = json.dumps({"input": str(src), "target": target, "settings": STUDY_SETTINGS[target]})
                try:
                    done = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, payload],
                                          capture_output=True, text=True, timeout=args.limit)
                    if done.returncode == 0:
                        result = json.loads(done.stdout.strip().splitlines()[-1])
                        seconds, rows_out = round(result["seconds"], 2), result["rows_out"]
                    else:  # e.g. no value beyond the box-plot whiskers in a small sample
                        seconds, rows_out = "failed: " + done.stderr.strip().splitlines()[-1][:120], None
                except subprocess.TimeoutExpired:
                    seconds, rows_out = f"> {args.limit:g} (stopped)", None
            rows.append({"implementation": "smogn 0.1.2", "target": target, "rows in": n,
                         "rows out": rows_out, "seconds": seconds})
            print(rows[-1], flush=True)
    record("smogn", "SMOGN with the study's settings: the smogn package against hgtools", rows)


if __name__ == "__main__":
    main()
