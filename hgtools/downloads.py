"""The files a reader of the book can download: the build's catalogue and its models, with their cards.

:func:`export` writes them into a folder beside the reproducibility page, which
links them (Sphinx copies linked files into the built site).  The full stacks
are not offered: their ExtraTrees and kNN members take hundreds of MB at full
size.  Offered instead are the LightGBM member of every stack (the study's
model of choice, text files any LightGBM reads) with every stack's card, and
the conditional density models — everything written atomically, never over
an input.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from hgtools.io import atomic_write


def _zip(path: Path, files: dict[str, Path]) -> Path:
    """A zip archive at ``path`` holding ``files`` (name in the archive -> file), written atomically."""
    with atomic_write(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, source in sorted(files.items()):
                archive.write(source, name)
    return path


def export(run, folder: str | os.PathLike) -> list[dict]:
    """Write the build's downloads into ``folder``; return one row per file (name, what, size in MB).

    Parameters
    ----------
    run : hgtools.pipeline.Run
        The run whose catalogue and models are offered.
    folder : path-like
        Where to write (created if needed); existing downloads are replaced.
    """
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    catalogue = folder / "catalogue.parquet"
    with atomic_write(catalogue, inputs=[run.catalogue.path]) as tmp:
        shutil.copyfile(run.catalogue.path, tmp)
    rows.append({"file": catalogue.name, "what": "the catalogue of this build (schema and provenance in its "
                 "parquet metadata, key 'hgtools')"})
    models = run.models.folder / "models"
    lightgbm = {}
    for card in sorted(models.glob("*/*/card.json")):  # <path>/<target>/card.json of each stack
        stack = card.parent
        lightgbm[f"{stack.parent.name}/{stack.name}/card.json"] = card
        for name in ("card.json", "booster.txt"):
            if (stack / "LGBM" / name).exists():
                lightgbm[f"{stack.parent.name}/{stack.name}/LGBM/{name}"] = stack / "LGBM" / name
    rows.append({"file": _zip(folder / "lightgbm-models.zip", lightgbm).name,
                 "what": "every stack's card and its LightGBM member (booster text files), per path and target"})
    density = {}
    for name in run.density_models:  # fitted and saved if not yet
        source = run.density_folder / name
        density.update({f"{name}/{f.name}": f for f in source.iterdir() if f.is_file()})
    rows.append({"file": _zip(folder / "density-models.zip", density).name,
                 "what": "the conditional density models (hgtools.density.load_density reads each folder)"})
    for row in rows:
        row["size [MB]"] = round((folder / row["file"]).stat().st_size / 1e6, 2)
    return rows


__all__ = ["export"]
