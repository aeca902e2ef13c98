# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproducibility
#
# Every random step of this book takes the seed below; rebuilding with the same seed and
# software gives the same tables. This page records how this build was made and how long it
# took, and shows the benchmarks kept in `bench/results/` (each measured by the script named
# in it, on the machine it names).

# %% tags=["parameters"]
seed = 0
box_size = 205.0
quick = False
catalogue_path = "../data/catalogue.parquet"
source = "mock"
bench_dir = "../bench/results"
timings_path = ""

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from hgtools import plots
from hgtools.catalogue import read_metadata

meta = read_metadata(catalogue_path) if Path(catalogue_path).exists() else {}
display(Markdown(plots.source_banner(meta) if meta else "No catalogue has been built yet."))

# %% [markdown]
# ## This build

# %%
build = {"seed": seed, "box size [Mpc/h]": box_size, "quick mode": quick,
         "catalogue": Path(catalogue_path).name, "source": meta.get("source")}
display(pd.Series(build, name="value").to_frame())
display(pd.Series(meta.get("versions", {}), name="version").to_frame())
if timings_path and Path(timings_path).exists():
    timings = pd.Series(json.loads(Path(timings_path).read_text()), name="seconds").to_frame()
    timings.index.name = "stage (notebooks executed before this page)"
    display(timings)
    print(f"total so far: {timings['seconds'].sum():.1f} s")

# %% [markdown]
# ## Benchmarks
#
# Run `make bench` to measure them again; each result names its command, date and machine.

# %%
results = sorted(Path(bench_dir).glob("*.json")) if Path(bench_dir).exists() else []
if not results:
    print("no benchmark results yet: run `make bench`")
for path in results:
    record = json.loads(path.read_text())
    display(Markdown(f"### {record.get('title', path.stem)}\n\n`{record.get('command', '')}` — "
                     f"{record.get('date', '')}, {record.get('machine', '')}"))
    display(pd.DataFrame(record["rows"]))
