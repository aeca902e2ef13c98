"""Benchmark: the conditional density models at full size (the "Beyond the conditional mean" chapter).

Measures, on the full-size default run (embedded universe, 205 Mpc/h, seed 0):
the time to fit each density model on the training split (early stopping on
the validation split), the time to draw 10^6 galaxies (the median of three runs; for the flow also that
of its MADE networks alone: its sampler with the identity in place of its
splines, which bounds what a faster spline could gain), that the same seed
gives the same draws, and the chapter's score table (Table J1) with the χ² per
bandpower of sampled populations (Fig. J4) and, per property, Table J3 in the
bin where the flow's width at fixed halo is furthest from the true law's.  The
models are fitted anew into the run's cache under data/ (the fit time includes
saving them), so the scores and a later `make book` use exactly the models
timed here.
Usage: python bench/density.py [--rows N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _record import record, rounded, timings

from hgtools import density, sampling
from hgtools.catalogue import FEATURES, TARGETS
from hgtools.pipeline import density_scores, open_run

#: Timed runs of each sampler, of which the median is recorded (this machine's speed drifts by tens of
#: per cent over minutes: one run of the flow's 10^6 draws took 7.2 s; minutes later, 2^20 draws of a flow of the
#: same architecture took 2.2-2.9 s in eleven runs out of twelve, 6.2 s in one).
TIMING_RUNS = 3


def networks_only_seconds(flow: density.FlowDensity, X: np.ndarray) -> float:
    """Seconds the flow's sampler takes on X with the identity in place of its splines (its MADE networks alone).

    The identity still reads every spline parameter (their sum times zero), so that
    XLA cannot drop any part of the networks' last layers.
    """
    import tensorflow as tf

    def identity(params, x):
        return x + 0.0 * tf.reduce_sum(params, axis=0)

    f = flow._compiled("networks only", flow._blocks(lambda z, x: flow._forward(z, x, identity)),
                       (len(TARGETS), len(FEATURES)))
    x = flow._standardise(X)
    flow._sample_std(x[:density.SAMPLE_CHUNK_ROWS], 1, np.random.default_rng(1), forward=f)  # compile, as the draws
    return float(np.median(timings(lambda: flow._sample_std(x, 1, np.random.default_rng(1), forward=f),
                                   TIMING_RUNS)[0]))


def decomposition_rows(parts: pd.DataFrame) -> list[dict]:
    """Table J3 where the flow's width at fixed halo is furthest from the true law's: one bin per property."""
    wide = parts.pivot_table(index=["property", "M_h_bin"], columns="model", sort=False,
                             values=["width at fixed halo", "halo-mean error (rms)"])
    width = wide["width at fixed halo"]
    error = (width["flow"] / width[sampling.TRUE_LAW] - 1).abs().drop(index="all", level="M_h_bin")
    rows = []
    for prop, bin_ in error.groupby(level="property", sort=False).idxmax():  # (property, M_h bin) labels
        for part in ("width at fixed halo", "halo-mean error (rms)"):
            rows.append({"score": f"{part}, {prop} ({bin_})",
                         **{model: rounded(v) for model, v in wide[part].loc[(prop, bin_)].items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000, help="galaxies drawn in the sampling benchmark")
    args = ap.parse_args()
    run = open_run({})
    table = run.catalogue.table
    rows = []
    for name in density.DENSITY_MODELS:  # fitted anew (timed) into the run's cache, which the scores then use
        t0 = time.perf_counter()
        model = run.fit_density(name)
        fit = time.perf_counter() - t0
        X = np.resize(table[list(FEATURES)].to_numpy(), (args.rows, len(FEATURES)))
        model.sample(X[:density.CHUNK_ROWS], 1, seed=0)  # trace (and compile) once, as a model in use is
        sample = float(np.median(timings(lambda: model.sample(X, 1, seed=1), TIMING_RUNS)[0]))
        same = bool(np.array_equal(model.sample(X[:100_000], 1, seed=2), model.sample(X[:100_000], 1, seed=2)))
        networks = networks_only_seconds(model, X) if name == "flow" else None
        rows.append({"model": name, "training haloes": int(0.48 * len(table)),
                     "epochs": getattr(model, "epochs_run_", None), "fit [s]": round(fit, 1),
                     f"draw {args.rows:,} galaxies [s]": round(sample, 1),
                     "of which networks [s]": None if networks is None else round(networks, 1),
                     "same seed, same draws": same,
                     "validation mean log-density [nats]": getattr(model, "validation_log_prob_", None)})
    record("density", "Conditional density models: fit and sampling time (full-size run)", rows)

    scores = density_scores(run)
    summary = scores["summary"]
    spectra = run.artefact("fig-density-pk")
    chi2 = spectra[spectra["sample"] != "true"].drop_duplicates(["property", "bin", "sample"])
    table_rows = [{"score": score, **{k: rounded(v) for k, v in summary.loc[score].items()}} for score in summary.index]
    table_rows += [{"score": f"χ² per bandpower, {r['property']} bin {r['bin']} ({r['sample']})",
                    {"sampled": "flow"}.get(r["sample"], r["sample"]): round(float(r["chi2 per bandpower"]), 3)}
                   for _, r in chi2.iterrows() if np.isfinite(r["chi2 per bandpower"])]
    table_rows += decomposition_rows(scores["decomposition"])
    record("density_scores", "Table J1 at full size: density models and stacks against the truth; Table J3's "
           "worst bin per property", table_rows)


if __name__ == "__main__":
    main()
