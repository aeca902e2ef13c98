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
# software on the same kind of processor gives the same tables. On another processor the
# networks' float32 rounding differs (their arithmetic is compiled for its vector
# instructions), and with it where a fit stops early and what it draws: the book's flow of
# 2026-11-28 (before its averaged weights), refitted on a 2-core AMD EPYC with AVX2, stopped at
# the epoch recorded that day, 64, but at a validation log-density of 1.7729 instead of 1.7765
# nats. This page records how this build was made and how long it took, and shows the
# benchmarks kept in `bench/results/` (each measured by the script named in it, on the machine
# it names, with its processor and its widest vector instructions where the record has them).

# %% tags=["parameters"]
config = {}  # the run: hgtools.config.RunConfig fields ({} = the full-size default)

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from hgtools import artefacts, downloads
from hgtools.book import TIMINGS_FILE, bench_results
from hgtools.catalogue import BOOK_LIBRARIES, software_versions
from hgtools.pipeline import open_run, project_root

run = open_run(config)
meta = run.meta
display(run)  # the banner naming the data source

# %% [markdown]
# ## Downloads
#
# The catalogue this build made and the models it trained, with their cards (`hgtools.downloads`).
# The stacks' ExtraTrees and kNN members are not offered (hundreds of MB at full size): rebuild
# them with `make book`, which caches them under `data/cache/models/`.

# %%
rows = downloads.export(run, "downloads")  # beside this page: Sphinx copies linked files into the site
display(Markdown("\n".join(f"- {{download}}`{row['file']} <downloads/{row['file']}>` ({row['size [MB]']} MB): "
                            f"{row['what']}" for row in rows)))

# %% [markdown]
# ## This build

# %%
build = {**run.config.identity(), "sizes": run.config.sizes.name, "catalogue file": run.catalogue.path.name}
display(pd.Series({k: str(v) for k, v in build.items()}, name="value").to_frame())
versions = pd.DataFrame({"this build": software_versions(BOOK_LIBRARIES),
                         "catalogue written with": pd.Series(meta.get("versions", {}))}).fillna("")
versions.index.name = "library (computes numbers of this book)"
display(versions)
if Path(TIMINGS_FILE).exists():  # written by the build beside the executed notebooks
    timings = pd.Series(json.loads(Path(TIMINGS_FILE).read_text()), name="seconds").to_frame()
    timings.index.name = "stage (notebooks executed before this page)"
    display(timings)
    print(f"total so far: {timings['seconds'].sum():.1f} s")

# %% [markdown]
# (artefact-map)=
# ## Where every figure and table comes from
#
# Each figure and table of the book is declared once in `hgtools.artefacts`: the function that
# computes it, the one that draws it, the modules of `hgtools` whose code decides it and the data
# it reads. Cached tables are stored under a key made of exactly those declarations, the run
# configuration above and the identity of the catalogue, so editing any declared module recomputes
# them on the next build.

# %%
display(Markdown(artefacts.map_markdown(run.catalogue.has_oracle)))

# %% [markdown]
# ## Benchmarks
#
# Run `make bench` to measure them again; each result names its command, date and machine.

# %%
results = bench_results(project_root())
if not results:
    print("no benchmark results yet: run `make bench`")
for _, caption, table in results:
    display(Markdown(caption))
    display(table)
