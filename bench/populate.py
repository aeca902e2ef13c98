"""Benchmark: hgtools populate on a LocalCluster of 2 workers, at 10^6 and 10^7 haloes (and 10^8 with --huge).

The four-model stack is measured at 10^6 haloes only (3,500-6,000 haloes/s here: 10^7 would take 30-50 minutes).

Haloes: the embedded universe (seed 0, 205 Mpc/h) as a dark-matter-only catalogue, tiled periodically
(2x2x2, 3x3x3, ... boxes) and cut to the wanted number of haloes to paint; delta_3 given. Models, trained
on its catalogue: "LightGBM" (one LightGBM model per property, the study's settings), "flow" (the
book's conditional normalizing flow, one draw per halo; trained for 3 epochs only) and "stack" (ERT,
kNN, LightGBM and a Keras network per property with a linear stack; the network trained for at most 30
epochs) — speed, not accuracy, is measured here. LightGBM models are compiled with lleaves once per machine
(cached; the time is reported apart, "compiled once"). For each: the time of `populate` (reading, painting,
writing parquet) on a LocalCluster started beforehand — "first run" on fresh workers, which import hgtools,
load the models (and compile the flow's sampler with XLA), and (LightGBM and the flow, up to 10^7) runs
on the same workers, as on a long-lived cluster (at 10^6 haloes, where one run takes seconds and this
machine's noise is ~20 %, the median of three; at 10^7 the mean of two); the time of the same models'
predict (the compiled models populate paints with — for LightGBM, each property's LightGBM and its
linear map, on half of the rows per thread; the flow: its draws, compiled beforehand) on an in-memory
array of the same rows (one process, both cores; one after each warm run, the median of as many, so
that the two see the same phase of this machine's drifting speed); and the peak memory (VmHWM) of
each worker process.
delta_3 is timed on its own: the 2x2x2 tiling (410 Mpc/h, every halo down to 10^10 Msun/h a tracer),
counted on slabs by populate, checked against the untiled box's delta_3 (tiling does not change it).

Usage: python bench/populate.py [--huge]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _record import record

from hgtools import density, models
from hgtools import populate as pop
from hgtools.catalogue import FEATURES, TARGETS, split
from hgtools.overdensity import delta3
from hgtools.training import NN_ARCHITECTURES
from hgtools.universe import UniverseConfig, universe_catalogue
from hgtools.universe.haloes import dark_matter_haloes

BOX = 205.0
ROW_GROUP = 250_000
#: Haloes painted -> {models: warm runs after the first}.  The stack (3,500-6,000 haloes/s) runs once;
#: at 10^6 a run takes seconds and this machine's noise is ~20 %, so three warm runs give a median (two at 10^7).
SCHEDULE = {10**6: {"LightGBM": 3, "flow": 3, "stack": 0}, 10**7: {"LightGBM": 2, "flow": 2},
            10**8: {"LightGBM": 0}}


def train_sets(folder: Path) -> dict[str, Path]:
    cat, _ = universe_catalogue(UniverseConfig(box_size=BOX, seed=0))
    s = split(cat, 0)
    X, Xv = cat[list(FEATURES)].to_numpy()[s.train], cat[list(FEATURES)].to_numpy()[s.validation]
    sets = {"LightGBM": folder / "lgbm", "flow": folder / "flow", "stack": folder / "stack"}
    density.save_density(density.fit_on_catalogue(cat, "flow", seed=0, epochs=3), sets["flow"])
    print("trained the flow", flush=True)
    for target in TARGETS:
        y, yv = cat[target].to_numpy()[s.train], cat[target].to_numpy()[s.validation]
        lgbm = models.fit_model(models.make_model("LGBM", 0), X, y, Xv, yv)
        models.save_model(models.StackedModel({"LGBM": lgbm}).fit(Xv, yv), sets["LightGBM"] / target,
                          {"target": target, "path": "raw"})
        base = {"ERT": models.make_model("ERT", 0, n_estimators=100, min_samples_leaf=5),
                "kNN": models.make_model("kNN", 0, n_neighbors=30), "LGBM": models.make_model("LGBM", 0),
                "NN": models.make_model("NN", 0, hidden=NN_ARCHITECTURES[target], epochs=30, patience=5,
                                        batch_size=1024)}
        fitted = {n: models.fit_model(m, X, y, Xv, yv) for n, m in base.items()}
        models.save_model(models.StackedModel(fitted).fit(Xv, yv), sets["stack"] / target,
                          {"target": target, "path": "raw"})
        print(f"trained {target}", flush=True)
    return sets


def replica(halos: pd.DataFrame, n_side: int, index: int) -> pd.DataFrame:
    """Replica ``index`` (of n_side^3, x slowest) of a box, shifted into a box n_side times larger; IDs kept unique."""
    part = halos.copy()
    part[["X_h", "Y_h", "Z_h"]] = halos[["X_h", "Y_h", "Z_h"]].to_numpy() + np.array(
        np.unravel_index(index, (n_side,) * 3)) * BOX
    part["ID"] = halos["ID"].to_numpy() + index * len(halos)
    return part


def tiled(halos: pd.DataFrame, n_side: int) -> pd.DataFrame:
    """Periodic replicas of a box, n_side^3 of them, in a box n_side times larger."""
    return pd.concat([replica(halos, n_side, q) for q in range(n_side**3)], ignore_index=True)


def write(table: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=ROW_GROUP)
    return path


def _vm_hwm() -> int:
    """This process's peak resident memory [KiB] (VmHWM: unlike ru_maxrss, not inherited across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_rss(client) -> float:
    """Largest peak resident memory [GiB] of the workers."""
    return max(client.run(_vm_hwm).values()) / 2**20


def run_populate(models_dir, src, out, runs: int = 1, between=None,
                 **kw) -> tuple[list[float], float, pop.PopulateResult, list[float]]:
    """Time ``runs`` populate runs on one fresh LocalCluster: the first pays the workers' start-up.

    ``between()``, when given, is called after every warm run (after the only
    one when ``runs`` is 1) and its results are returned last: the in-memory
    predict, alternated with populate's runs so that both see the same phase
    of this machine's speed, which drifts by 25-60 % over minutes.
    """
    from distributed import Client

    with pop.local_cluster(2) as cluster, Client(cluster) as client:  # the cluster populate makes itself
        seconds, alternated = [], []
        for r in range(runs):
            t0 = time.perf_counter()
            result = pop.populate(models_dir, src, out, scheduler=cluster.scheduler_address, overwrite=True,
                                  progress=False, **kw)
            seconds.append(time.perf_counter() - t0)
            if between is not None and (r > 0 or runs == 1):
                alternated.append(between())
        return seconds, peak_rss(client), result, alternated


def in_memory_predict(models_dir, folder: Path, name: str):
    """A function timing one predict [s] of the same (compiled) models on the rows in memory (one process,
    both cores): LightGBM's stacks (LightGBM and its linear map) on half of the rows per thread, the flow's
    sampler on its threads, the four-model stack on its models' own threads."""
    X = pd.read_parquet(folder, columns=list(FEATURES)).to_numpy()
    if name == "flow":
        flow, _ = density.load_density(models_dir)
        flow.sample(X[:density.CHUNK_ROWS], 1, seed=0)  # XLA compiles the sampler (populate's runs are warm)

        def predict():
            flow.sample(X, 1, seed=0)
    else:
        fast = [pop._compile(stack) for _, _, stack in models.load_set(models_dir)]
        halves = np.array_split(X, 2)

        def predict():
            with ThreadPoolExecutor(2) as pool:
                for model in fast:
                    if name == "LightGBM":  # each half of the rows on a thread of its own, as the two workers
                        list(pool.map(model.predict, halves))
                    else:  # the stack's parts use the cores themselves
                        model.predict(X)

    def timed() -> float:
        t0 = time.perf_counter()
        predict()
        return time.perf_counter() - t0

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--huge", action="store_true", help="also paint 10^8 haloes with LightGBM")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hgtools-bench-populate-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # "compiled once" measures a compilation, not a cache hit
    try:
        sets = train_sets(work / "models")
        compile_seconds = {}
        for name, folder in sets.items():  # LightGBM models are compiled once per machine (cached)
            if name == "flow":
                continue
            t0 = time.perf_counter()
            for _, _, stack in models.load_set(folder):
                pop._compile(stack)
            compile_seconds[name] = round(time.perf_counter() - t0, 1)
        dmo = dark_matter_haloes(UniverseConfig().halos, BOX, np.random.default_rng(0))
        hosts = dmo[dmo["paint"]].drop(columns="paint").reset_index(drop=True)
        hosts["Delta3_h"] = delta3(hosts[["X_h", "Y_h", "Z_h"]].to_numpy(), dmo[["X_h", "Y_h", "Z_h"]].to_numpy(), BOX)
        rows = []
        sizes = [n for n in SCHEDULE if n < 10**8 or args.huge]
        for n in sizes:
            n_side = int(np.ceil((n / len(hosts)) ** (1 / 3)))
            folder = work / f"halos-{n}"
            folder.mkdir()
            if n <= 10**7:
                write(tiled(hosts, n_side).iloc[:n], folder / "halos.parquet")
            else:  # one file per slab of replicas, never the whole table in memory
                for b, chunk in enumerate(_blocks(hosts, n_side, n)):
                    write(chunk, folder / f"halos-{b:03d}.parquet")
            for name, warm in SCHEDULE[n].items():
                # warm runs: on the same workers, as on a long-lived cluster; the stack's run is all compute
                between = in_memory_predict(sets[name], folder, name) if n <= 10**7 else None
                seconds, rss, result, predicts = run_populate(sets[name], folder, work / f"out-{n}-{name}",
                                                              runs=1 + warm, between=between)
                typical = float(np.median(seconds[1:] or seconds))
                row = {"haloes": n, "models": name, "compiled once [s]": compile_seconds.get(name), "workers": 2,
                       "partitions": result.partitions, "first run [s]": round(seconds[0], 1), "warm runs": warm,
                       "populate [s]": round(typical, 1), "haloes/s": round(n / typical),
                       "peak memory per worker [GiB]": round(rss, 2)}
                if predicts:
                    predict = float(np.median(predicts))
                    row.update({"in-memory predict [s]": round(predict, 1),
                                "populate / predict": round(typical / predict, 2)})
                rows.append(row)
                print(row, flush=True)
                shutil.rmtree(work / f"out-{n}-{name}")
            shutil.rmtree(folder)
        # delta_3 at scale: the 2x2x2 tiling of every halo drawn (tracers down to 10^10 Msun/h)
        big = tiled(dmo, 2)
        folder = work / "dmo"
        folder.mkdir()
        write(big, folder / "halos.parquet")
        (seconds,), rss, result, _ = run_populate(sets["LightGBM"], folder, work / "out-dmo", box_size=2 * BOX,
                                                  delta3_min_mass=float(dmo["M_h"].min()))
        painted = pd.concat([pd.read_parquet(p) for p in sorted((work / "out-dmo").glob("part-*.parquet"))])
        by_id = pd.Series(hosts["Delta3_h"].to_numpy(), index=hosts["ID"].to_numpy())  # untiled, per halo
        expected = by_id.reindex(painted["ID"].to_numpy() % len(dmo)).to_numpy()
        diff = float(np.abs(painted["Delta3_h"].to_numpy() - expected).max())
        given = big[big["paint"]].drop(columns="paint").reset_index(drop=True)
        given["Delta3_h"] = by_id.reindex(given["ID"].to_numpy() % len(dmo)).to_numpy()
        (work / "given").mkdir()
        write(given, work / "given" / "halos.parquet")
        (seconds_given,), _, _, _ = run_populate(sets["LightGBM"], work / "given", work / "out-given")
        rows.append({"haloes": int(big["paint"].sum()), "models": "LightGBM + delta_3 counted", "workers": 2,
                     "partitions": result.partitions, "populate [s]": round(seconds, 1),
                     "haloes/s": round(big["paint"].sum() / seconds), "peak memory per worker [GiB]": round(rss, 2),
                     "tracers": len(big), "delta_3 [s]": round(seconds - seconds_given, 1),
                     "max |delta_3 - untiled|": diff})
        print(rows[-1], flush=True)
        record("populate", "hgtools populate on a LocalCluster of 2 workers (2 cores)", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _blocks(hosts: pd.DataFrame, n_side: int, n: int):
    """The n_side^3 replicas of ``hosts``, one slab of n_side^2 boxes at a time, up to ``n`` rows."""
    done = 0
    for i in range(n_side):
        chunk = pd.concat([replica(hosts, n_side, i * n_side**2 + m) for m in range(n_side**2)],
                          ignore_index=True).iloc[:max(n - done, 0)]
        if len(chunk):
            yield chunk
        done += len(chunk)


if __name__ == "__main__":
    main()
