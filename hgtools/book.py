"""Execute the book's notebooks with papermill and render them with Jupyter Book.

The notebooks live in ``notebooks/`` as Jupytext py:percent sources.  A build
copies the book sources (``_config.yml``, ``_toc.yml``, ``book/``) to a staging
folder ``<out>/_build/source``, executes every notebook listed in ``_toc.yml``
(in order) into ``book/generated/`` there, and builds the HTML into
``<out>/_build/html``.  Nothing is written into the source tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from hgtools.config import RunConfig
from hgtools.parallel import environment

if TYPE_CHECKING:
    import pandas as pd

GENERATED = "book/generated"


def notebook_order(root: Path) -> list[str]:
    """Stems of the notebooks that ``_toc.yml`` lists under ``book/generated/``, in order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    files.append(str(node[key]))
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [Path(f).name for f in files if f.startswith(GENERATED + "/")]


def stage_sources(root: Path, staging: Path, has_law: bool = True) -> None:
    """Copy the book's configuration and prose pages into a fresh staging folder.

    The introduction gets the map of every figure and table (from
    :data:`hgtools.artefacts.ARTEFACTS`), each linked to its label on its page
    (``has_law``: whether the run's source knows its law; :func:`artefact_map`).
    """
    if staging.exists():
        shutil.rmtree(staging)
    (staging / GENERATED).mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    shutil.copytree(root / "book", staging / "book", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("generated"))
    intro = staging / "book" / "intro.md"
    if intro.exists():
        intro.write_text(intro.read_text() + "\n" + artefact_map(has_law))


def artefact_map(has_law: bool = True) -> str:
    """The introduction's map: every figure and table of the book, linked to where it is shown.

    Without a known law (``has_law`` false), the figures only such a source
    lacks are named without a link (:func:`hgtools.artefacts.link`).
    """
    from hgtools.artefacts import ARTEFACTS, link

    lines = ["## Map of the figures and tables", "",
             "Each entry links to where the book shows it; the reproducibility page lists the code and "
             "data each one is computed from.", "",
             "| | what | page |", "|---|---|---|"]
    for a in ARTEFACTS:
        lines.append(f"| {link(a, has_law)} | {a.caption}{'' if a.study else ' (this book)'} "
                     f"| {{doc}}`{GENERATED.split('/', 1)[1]}/{a.chapter}` |")
    return "\n".join(lines) + "\n"


def execute_notebook(source: Path, target: Path, parameters: dict, kernel: str = "python3") -> float:
    """Convert a py:percent notebook and execute it with papermill; return the seconds taken."""
    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.read(source)
    notebook.metadata.setdefault("kernelspec", {"name": kernel, "display_name": "Python 3",
                                                "language": "python"})
    for cell in notebook.cells:  # the defaults are superseded by papermill's injected cell
        if "parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
    jupytext.write(notebook, target, fmt="ipynb")
    t0 = time.perf_counter()
    with environment(KERNEL_ENVIRONMENT):  # progress bars and log lines (stderr) stream to the terminal
        papermill.execute_notebook(str(target), str(target), parameters=parameters,
                                   kernel_name=kernel, cwd=str(target.parent), progress_bar=False,
                                   stderr_file=sys.stderr)
    seconds = time.perf_counter() - t0
    executed = nbformat.read(target, as_version=4)
    for cell in executed.cells:  # absolute build paths stay off the pages (the run is printed on the last one)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
    nbformat.write(executed, target)
    return seconds


def build(root: Path | str = ".", out: Path | str | None = None, config: RunConfig | None = None,
          notebooks: list[str] | None = None) -> Path:
    """Build the whole book; return the folder holding ``index.html``.

    Parameters
    ----------
    root : path
        Repository root (holds ``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``).
    out : path, optional
        Where ``_build/`` goes (default: ``root``).
    config : RunConfig, optional
        The run (default :class:`RunConfig`); relative folders are taken from ``root``.
    notebooks : list of str, optional
        Only execute these notebook stems (default: all in ``_toc.yml``).

    Raises
    ------
    RuntimeError
        If a notebook raises or Jupyter Book reports a warning or an error.
    """
    from hgtools.pipeline import ensure_catalogue

    root = Path(root).resolve()
    out = root if out is None else Path(out).resolve()
    config = (RunConfig() if config is None else config).resolve(root)
    staging = out / "_build" / "source"
    stage_sources(root, staging, config.data_source.has_oracle)

    t_start = time.perf_counter()
    ensure_catalogue(config)  # before any notebook: a wrong catalogue file stops the build here
    timings = {"catalogue": round(time.perf_counter() - t_start, 2)}
    parameters = {"config": config.to_dict()}
    stems = notebook_order(root) if notebooks is None else notebooks
    progress = tqdm(stems, desc="executing notebooks", unit="notebook")
    for stem in progress:
        progress.set_postfix_str(stem)
        _write_timings(staging, timings)
        seconds = execute_notebook(root / "notebooks" / f"{stem}.py",
                                   staging / GENERATED / f"{stem}.ipynb", parameters)
        timings[stem] = round(seconds, 2)
        progress.write(f"notebooks/{stem}.py executed in {seconds:.1f} s")
    _write_timings(staging, timings)

    t0 = time.perf_counter()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(staging), "--builder", "html", "--warningiserror",
           "--keep-going", "--path-output", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    html = out / "_build" / "html"
    print(f"book: rendered in {time.perf_counter() - t0:.1f} s -> {html / 'index.html'}")
    return html


#: What the notebook kernels inherit: figures inline whatever MPLBACKEND the caller set, and
#: TensorFlow's C++ start-up messages kept out of the pages.
KERNEL_ENVIRONMENT = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "TF_CPP_MIN_LOG_LEVEL": "3"}


#: The file, beside the executed notebooks, where a build records how long each stage took.
TIMINGS_FILE = "timings.json"
#: Where the benchmarks of ``bench/`` record their results (``<name>.json``).
BENCH_RESULTS = "bench/results"


def bench_results(root: Path, names: list[str] | None = None,
                  max_columns: int = 6) -> list[tuple[str, str, pd.DataFrame | None]]:
    """Recorded benchmark results for the book: ``(name, caption, table)`` per name (default: every one).

    The caption (MyST) names the title, command, date and machine of the
    recorded run; the table has empty cells where a row has no value, and is
    transposed when it has more than ``max_columns`` columns and fewer rows (so
    that it fits the page).  A result not recorded yet gives table None and a
    caption saying so; one measured on the embedded universe says so (it is synthetic,
    whatever the page's source), and one recorded with other universe parameters than the
    shipped ones (or older, without their digest) says that too; a digest of null
    marks a benchmark that does not use the embedded universe.
    """
    import pandas as pd

    from hgtools.universe import UniverseConfig

    universe = UniverseConfig().digest  # of the shipped parameters
    folder = Path(root) / BENCH_RESULTS
    if names is None:
        names = sorted(p.stem for p in folder.glob("*.json"))
    out = []
    for name in names:
        path = folder / f"{name}.json"
        if not path.exists():
            out.append((name, f"No recorded benchmark `{BENCH_RESULTS}/{name}.json` (run `make bench`).", None))
            continue
        record = json.loads(path.read_text())
        table = pd.DataFrame(record["rows"]).convert_dtypes()
        caption = (f"**{record.get('title', name)}** — `{record.get('command', '')}`, {record.get('date', '')}, "
                   f"{record.get('machine', '')}")
        if record.get("universe_digest"):  # never read as results of the page's own source
            caption += f"; data: the hgtools embedded universe (synthetic; parameters {record['universe_digest']})"
        if "universe_digest" not in record or record["universe_digest"] not in (None, universe):
            recorded = record.get("universe_digest") or "not recorded"
            caption += (f". **Recorded with other universe parameters** ({recorded}; this book: {universe}): "
                        f"its numbers may not describe this book's universe — rerun "
                        f"`{record.get('command', 'the benchmark')}`")
        table = table.astype(object).where(table.notna(), "")
        if table.shape[1] > max_columns and len(table) < table.shape[1]:
            first = table.columns[0]  # its values name the columns when they can
            table = (table.set_index(first).T if table[first].is_unique
                     else table.T.set_axis([f"row {i + 1}" for i in range(len(table))], axis=1))
        out.append((name, caption, table))
    return out


def _write_timings(staging: Path, timings: dict) -> None:
    from hgtools.io import write_text

    write_text(staging / GENERATED / TIMINGS_FILE, json.dumps(timings, indent=1))
