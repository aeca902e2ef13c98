"""Execute the book's notebooks with papermill and render them with Jupyter Book.

The notebooks live in ``notebooks/`` as Jupytext py:percent sources.  A build
copies the book sources (``_config.yml``, ``_toc.yml``, ``book/``) to a staging
folder ``<out>/_build/source``, executes every notebook listed in ``_toc.yml``
(in order) into ``book/generated/`` there, and builds the HTML into
``<out>/_build/html``.  Nothing is written into the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

GENERATED = "book/generated"
#: Box side [Mpc/h] of the quick configuration (CI, tests).
QUICK_BOX_SIZE = 64.0


@dataclass(frozen=True)
class BookConfig:
    """What a build runs on: plain data, passed to every notebook as papermill parameters."""

    seed: int = 0
    box_size: float = 205.0
    quick: bool = False
    catalogue_path: str = "data/catalogue.parquet"
    source: str = "mock"

    @classmethod
    def quick_config(cls, seed: int = 0) -> BookConfig:
        """The small, fast configuration used by CI."""
        return cls(seed=seed, box_size=QUICK_BOX_SIZE, quick=True,
                   catalogue_path="data/catalogue-quick.parquet")


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


def stage_sources(root: Path, staging: Path) -> None:
    """Copy the book's configuration and prose pages into a fresh staging folder."""
    if staging.exists():
        shutil.rmtree(staging)
    (staging / GENERATED).mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    shutil.copytree(root / "book", staging / "book", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("generated"))


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
    with _kernel_environment():
        papermill.execute_notebook(str(target), str(target), parameters=parameters,
                                   kernel_name=kernel, cwd=str(target.parent), progress_bar=False)
    seconds = time.perf_counter() - t0
    executed = nbformat.read(target, as_version=4)
    for cell in executed.cells:  # the values this build used stay one click away
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata["tags"], "hide-cell"]
    nbformat.write(executed, target)
    return seconds


def build(root: Path | str = ".", out: Path | str | None = None, config: BookConfig | None = None,
          notebooks: list[str] | None = None) -> Path:
    """Build the whole book; return the folder holding ``index.html``.

    Parameters
    ----------
    root : path
        Repository root (holds ``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``).
    out : path, optional
        Where ``_build/`` goes (default: ``root``).
    config : BookConfig, optional
        Seed, box size, quick mode, catalogue path (relative to ``root``).
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
    config = BookConfig() if config is None else config
    staging = out / "_build" / "source"
    stage_sources(root, staging)

    t_start = time.perf_counter()
    catalogue = (root / config.catalogue_path).resolve()
    ensure_catalogue(catalogue, config.source, seed=config.seed, box_size=config.box_size)
    timings = {"catalogue": round(time.perf_counter() - t_start, 2)}
    parameters = {**asdict(config), "catalogue_path": str(catalogue),
                  "bench_dir": str(root / "bench" / "results"),
                  "timings_path": str(staging / GENERATED / "timings.json")}
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


@contextmanager
def _kernel_environment():
    """Set :data:`KERNEL_ENVIRONMENT` while kernels start, then restore the caller's environment."""
    before = {k: os.environ.get(k) for k in KERNEL_ENVIRONMENT}
    os.environ.update(KERNEL_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _write_timings(staging: Path, timings: dict) -> None:
    (staging / GENERATED / "timings.json").write_text(json.dumps(timings, indent=1))
