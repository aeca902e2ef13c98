"""Benchmark: the per-bin scores against the one true galaxy per halo, that galaxy drawn anew from the law.

Table J1's per-bin scores "against the one true galaxy" (the largest conditional-std error,
residual-correlation error and coverage error over the M_h bins) compare each model's draws with
the single galaxy each test halo has.  That galaxy is one draw of the true law, so these scores move
with it — a perfect model's too.  This keeps the draws of Table J1 (the book's density models and the
true law, as many per halo and with the same seeds) and scores them against K sets of one galaxy
per test halo drawn anew from the law, after the test split's own galaxies: per model and score the
median and the 10th and 90th percentiles over the K sets, and the share of sets within each goal
and within all three.  The full-size default run (205 Mpc/h, seed 0).
Usage: python bench/density_truths.py [--sets K] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _record import record, rounded

from hgtools import density_scores as ds
from hgtools import sampling
from hgtools.catalogue import FEATURES, TARGETS
from hgtools.config import RunConfig
from hgtools.pipeline import open_run

#: The per-bin scores measured against single galaxies.
SCORES = ("conditional std, largest relative error", "residual correlation, largest error",
          "coverage error, largest [points]")
#: Seed of the first set of galaxies drawn anew (apart from every seed of the run's own draws).
FIRST_SET_SEED = 9000


def worst(values: np.ndarray, truth: np.ndarray, reference: np.ndarray, log_mass: np.ndarray) -> pd.Series:
    """The three per-bin scores of draws ``values`` (n_draws, n, 4) against one galaxy per halo ``truth`` (n, 4)."""
    spread = ds.conditional_spread(values, truth, reference, log_mass)
    return ds.worst_cases(spread, ds.calibration(values, truth, log_mass)[0])["error"][list(SCORES)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=20, help="sets of one galaxy per test halo drawn anew from the law")
    ap.add_argument("--quick", action="store_true", help="the quick configuration (CI sizes); prints, records nothing")
    args = ap.parse_args()
    run = open_run(RunConfig(quick=args.quick))
    law = run.truth_law()
    if law is None:
        raise SystemExit("density_truths: the run's source has no known law")
    predictions, seed, n_draws = run.predictions, run.config.training_seed, run.config.sizes.density_draws
    features = predictions[list(FEATURES)]
    log_mass = predictions["M_h"].to_numpy(dtype=float)
    reference = run.oracle[list(TARGETS)].to_numpy()
    draws = sampling.draw_all({**run.density_models, sampling.TRUE_LAW: sampling.LawModel(law)}, predictions,
                              n_draws, seed)  # Table J1's draws
    own = predictions[list(TARGETS)].to_numpy(dtype=float)
    fresh = [law["sample"](features, 1, FIRST_SET_SEED + k)[0] for k in range(args.sets)]
    rows = []
    for name, values in draws.items():
        scores = pd.DataFrame([worst(values, truth, reference, log_mass) for truth in fresh])
        within = scores.le(pd.Series(ds.GOALS)[list(SCORES)])
        on_own = worst(values, own, reference, log_mass)
        for score in SCORES:
            rows.append({"model": name, "score": score, "test split's galaxies": rounded(on_own[score]),
                         "median": rounded(scores[score].median()), "p10": rounded(scores[score].quantile(0.1)),
                         "p90": rounded(scores[score].quantile(0.9)), "goal": ds.GOALS[score],
                         "share within goal": rounded(within[score].mean(), 3)})
        rows.append({"model": name, "score": "all three within their goals",
                     "share within goal": rounded(within.all(axis=1).mean(), 3)})
    if args.quick:
        for row in rows:
            print(row)
        return
    record("density_truths", f"Table J1's per-bin scores against one galaxy per test halo, over {args.sets} sets "
           "drawn anew from the true law (full-size run)", rows)


if __name__ == "__main__":
    main()
