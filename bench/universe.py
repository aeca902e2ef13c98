"""Benchmark: the full-size embedded universe against TNG300-1, for three seeds.

For seeds 0, 1 and 2 at 205 Mpc/h: generation time, galaxy count, the marginal means and
standard deviations (relative to the study's TNG300-1 sample), the six correlations between the
targets, and every comparison of :func:`hgtools.diagnostics.law_summary` (truth and oracle of the
generated catalogue against the TNG300-1 law tables), beside the goals of the calibration.

Usage: python bench/universe.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _record import record

from hgtools import reference as ref
from hgtools.diagnostics import LAW_GOALS, law_comparison, law_summary
from hgtools.universe import UniverseConfig, catalogue_oracle, universe_catalogue


def measure(seed: int) -> list[dict]:
    """Rows of the record for one seed."""
    t0 = time.perf_counter()
    cat, meta = universe_catalogue(UniverseConfig(seed=seed))
    seconds = time.perf_counter() - t0
    rows = [{"seed": seed, "quantity": "generation [s]", "value": round(seconds, 1), "goal": "<= 60"},
            {"seed": seed, "quantity": "galaxies after cuts", "value": len(cat),
             "goal": f"{ref.TNG300_N_GALAXIES} +- 2 %"},
            {"seed": seed, "quantity": "fraction with SFR = 0", "value": round(float(cat['sfr_zero'].mean()), 4),
             "goal": f"{ref.TNG300_ZERO_SFR_FRACTION}"}]
    for column, (mean, std) in ref.TNG300_SAMPLE.items():
        rows.append({"seed": seed, "quantity": f"mean {column} / TNG300 - 1",
                     "value": round(float(cat[column].mean() / mean - 1), 4), "goal": "within 5 %"})
        rows.append({"seed": seed, "quantity": f"std {column} / TNG300 - 1",
                     "value": round(float(cat[column].std() / std - 1), 4), "goal": "within 5 %"})
    for (a, b), r in ref.TNG300_CORRELATIONS.items():
        rows.append({"seed": seed, "quantity": f"corr({a}, {b}) - TNG300",
                     "value": round(float(cat[a].corr(cat[b]) - r), 4), "goal": "within 0.05"})
    oracle = catalogue_oracle(cat, meta)
    for t in ref.STUDY_STACKED_PCC:
        rows.append({"seed": seed, "quantity": f"oracle Pearson r, {t}",
                     "value": round(float(np.corrcoef(oracle[t], cat[t])[0, 1]), 4), "goal": "(an outcome)"})
    parts = law_comparison(cat, oracle)
    for _, row in law_summary(parts).iterrows():
        rows.append({"seed": seed, "quantity": f"{row['comparison']}: {row['of']}",
                     "value": round(float(row["value"]), 4), "goal": f"<= {LAW_GOALS[row['comparison']]}"})
    # the same over every bin, the lightest included (its sampling noise is about half the goal)
    noisiest = float(parts["halo-feature correlations"]["noise"].max())
    for _, row in law_summary(parts, every_bin=True).query("comparison == 'halo-feature correlations'").iterrows():
        rows.append({"seed": seed, "quantity": f"halo-feature correlations, every bin: {row['of']}",
                     "value": round(float(row["value"]), 4), "goal": f"(shown; noise up to {noisiest:.3f})"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    rows = [row for seed in args.seeds for row in measure(seed)]
    record("universe", "The full-size embedded universe against TNG300-1 (goals of the calibration)", rows)


if __name__ == "__main__":
    main()
