"""Benchmark: how the headline scores move with the seed of the universe and the seed of training.

Runs the study's pipeline (catalogue, both paths' models and stacks, Table 1, Fig. 9's spectra)
for universe seeds 0, 1, 2 (each trained with its own seed) and, on universe 0, for training
seeds 1 and 2 (same galaxies, another split, other fits, other draws).  Records every run's
stacked Pearson r, 1D KS, the 2D KS of Table 1 and the χ² of the extreme-bin spectra, with the
spread over universe seeds and over training seeds; the discussion page compares the study's
numbers with that spread.  Usage: python bench/seeds.py [--box-size L] [--quick] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from _record import record

from hgtools import clustering, evaluation, reference
from hgtools.catalogue import TARGETS
from hgtools.config import TNG300_BOX_SIZE, RunConfig
from hgtools.pipeline import open_run

ROOT = Path(__file__).resolve().parents[1]


def headline_scores(run) -> tuple[dict[str, float], dict[str, float]]:
    """One run's headline numbers by quantity (stacks of both paths), and the study's where it gives one."""
    scores = evaluation.score_table(run.predictions)
    stacks = scores[scores["model"] == "stack"].set_index(["target", "path"])
    values, study = {}, {}
    for metric in ("PCC", "KS"):
        for target in TARGETS:
            for path in ("raw", "smogn"):
                name = f"{metric} {target} ({path})"
                values[name] = float(stacks.loc[(target, path), metric])
                if metric == "PCC":
                    study[name] = reference.STUDY_TABLE_B1[path][target][1]
    for relation, row in run.artefact("table-1").iterrows():
        for path in ("raw", "smogn"):
            values[f"2D KS {relation} ({path})"] = float(row[f"D {path}"])
            study[f"2D KS {relation} ({path})"] = float(row[f"D {path} (study)"])
    chi2 = clustering.chi2_table(run.artefact("fig-9"))
    for (prop, bin_, sample), row in chi2.iterrows():
        if sample in ("raw stack", "SMOGN stack"):
            values[f"χ² P(k) {prop} bin {bin_} ({sample.split()[0].lower()})"] = float(row["chi2"])
    return values, study


def spread_table(runs: dict[tuple[int, int], dict[str, float]], study: dict[str, float]) -> pd.DataFrame:
    """Per quantity: every run's value, the range over universe seeds and over training seeds, the study's value."""
    table = pd.DataFrame(runs)  # rows: quantity; columns: (universe seed, training seed)
    universe = [c for c in table.columns if c[0] == c[1]]
    training = [c for c in table.columns if c[0] == table.columns[0][0]]
    out = pd.DataFrame(index=table.index)
    for universe_seed, training_seed in table.columns:
        out[f"universe {universe_seed}, training {training_seed}"] = table[(universe_seed, training_seed)]
    out["range over universe seeds"] = table[universe].max(axis=1) - table[universe].min(axis=1)
    out["range over training seeds"] = table[training].max(axis=1) - table[training].min(axis=1)
    out["study (TNG300)"] = [study.get(q) for q in table.index]
    return out.rename_axis("quantity").reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--box-size", type=float, default=None, help=f"default {TNG300_BOX_SIZE:g} (quick: the quick box)")
    ap.add_argument("--quick", action="store_true", help="the quick configuration (CI sizes)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data-dir", default="data", help="catalogues and caches (default data/)")
    args = ap.parse_args()
    first, runs = args.seeds[0], {}
    plan = [(s, s) for s in args.seeds] + [(first, s) for s in args.seeds[1:]]
    for universe_seed, training_seed in plan:
        t0 = time.perf_counter()
        config = RunConfig(seed=universe_seed, train_seed=training_seed, box_size=args.box_size, quick=args.quick,
                           data_dir=args.data_dir)
        runs[(universe_seed, training_seed)], study = headline_scores(open_run(config, root=ROOT))
        print(f"universe seed {universe_seed}, training seed {training_seed}: {time.perf_counter() - t0:.0f} s")
    box = RunConfig(box_size=args.box_size, quick=args.quick).box_size
    rows = spread_table(runs, study).round(4).to_dict("records")
    record("seeds", f"Headline scores over seeds, {box:g} Mpc/h (universe seed = training seed, then universe "
                    f"{first} with training seeds {', '.join(map(str, args.seeds[1:]))})", rows)


if __name__ == "__main__":
    main()
