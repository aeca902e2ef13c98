"""The book's downloads (hgtools.downloads): what is offered, what is not, nothing written over an input."""

from __future__ import annotations

import zipfile
from types import SimpleNamespace

import pytest

from hgtools import downloads
from hgtools.io import OutputExistsError


def fake_run(tmp_path):
    catalogue = tmp_path / "data" / "catalogue.parquet"
    catalogue.parent.mkdir()
    catalogue.write_bytes(b"PAR1 catalogue")
    models = tmp_path / "cache" / "models" / "key"
    for path in ("raw", "smogn"):
        stack = models / "models" / path / "radius"
        for member in ("LGBM", "ERT"):
            (stack / member).mkdir(parents=True)
            (stack / member / "card.json").write_text("{}")
        (stack / "card.json").write_text('{"kind": "stack"}')
        (stack / "LGBM" / "booster.txt").write_text("tree")
        (stack / "ERT" / "model.skops").write_bytes(b"x" * 1000)
    density = tmp_path / "cache" / "density" / "key"
    for name in ("flow", "residual"):
        (density / name).mkdir(parents=True)
        (density / name / "card.json").write_text("{}")
        (density / name / "arrays.npz").write_bytes(b"npz")
    return SimpleNamespace(catalogue=SimpleNamespace(path=catalogue), models=SimpleNamespace(folder=models),
                           density_models={"flow": None, "residual": None}, density_folder=density)


def test_downloads_offer_the_catalogue_lightgbm_and_density_models(tmp_path):
    run = fake_run(tmp_path)
    rows = downloads.export(run, tmp_path / "site" / "downloads")
    assert [r["file"] for r in rows] == ["catalogue.parquet", "lightgbm-models.zip", "density-models.zip"]
    folder = tmp_path / "site" / "downloads"
    assert (folder / "catalogue.parquet").read_bytes() == b"PAR1 catalogue"
    names = zipfile.ZipFile(folder / "lightgbm-models.zip").namelist()
    assert "raw/radius/LGBM/booster.txt" in names and "smogn/radius/card.json" in names
    assert not any("ERT" in n for n in names)  # the heavy members stay in the cache
    assert sorted(zipfile.ZipFile(folder / "density-models.zip").namelist()) == [
        "flow/arrays.npz", "flow/card.json", "residual/arrays.npz", "residual/card.json"]
    assert downloads.export(run, folder)  # a rebuild replaces its own downloads


def test_the_catalogue_is_never_copied_over_itself(tmp_path):
    run = fake_run(tmp_path)
    with pytest.raises((OutputExistsError, ValueError)):
        downloads.export(run, run.catalogue.path.parent)
    assert run.catalogue.path.read_bytes() == b"PAR1 catalogue"
