"""The bad-input table: every damaged or wrong input gets a clear error, and nothing is written.

Each case checks the message (it names the file or argument and the problem) and that no
file was created, replaced or left half-written.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hgtools import cli, io, models
from hgtools.catalogue import FEATURES, CatalogueError, read_catalogue, write_catalogue
from hgtools.config import ConfigError, RunConfig
from hgtools.pipeline import CatalogueMismatchError, ensure_catalogue
from hgtools.smogn import smoter


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden temporaries included) with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def mock_file(tmp_path, small_catalogue, universe):
    path = tmp_path / "data" / "mock.parquet"
    write_catalogue(small_catalogue, path, {**universe[1], "seed": 0})
    return path


@pytest.fixture()
def tng_file(tmp_path, small_catalogue):
    path = tmp_path / "data" / "tng.parquet"
    write_catalogue(small_catalogue, path, {"source": "tng", "box_size": 128.0, "seed": 0, "snapshot": 99,
                                            "simulation": "TNG-mini"})
    return path


# -- catalogues: wrong sources and settings are refused, never overwritten ------------------------

def test_a_mock_run_refuses_a_tng_catalogue(tmp_path, tng_file):
    before = snapshot(tmp_path)
    with pytest.raises(CatalogueMismatchError, match=r"tng.parquet holds another catalogue: source 'tng'"):
        ensure_catalogue(RunConfig(box_size=128.0, catalogue=str(tng_file)), root=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_tng_run_refuses_a_mock_catalogue(tmp_path, mock_file):
    before = snapshot(tmp_path)
    with pytest.raises(CatalogueMismatchError, match="source 'mock'"):
        ensure_catalogue(RunConfig(source="tng", catalogue=str(mock_file)), root=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_mock_run_refuses_a_mock_catalogue_of_other_settings(tmp_path, mock_file):
    before = snapshot(tmp_path)
    with pytest.raises(CatalogueMismatchError, match=r"seed 0 \(this run: 3\).*--overwrite"):
        ensure_catalogue(RunConfig(seed=3, box_size=128.0, catalogue=str(mock_file)), root=tmp_path)
    with pytest.raises(CatalogueMismatchError, match=r"box 128.0 Mpc/h \(this run: 64\)"):
        ensure_catalogue(RunConfig(box_size=64.0, catalogue=str(mock_file)), root=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_mock_run_refuses_a_catalogue_of_other_universe_parameters(tmp_path, small_catalogue, universe):
    path = tmp_path / "data" / "old.parquet"
    write_catalogue(small_catalogue, path, {**universe[1], "seed": 0, "universe_digest": "0ld0ld00"})
    before = snapshot(tmp_path)
    with pytest.raises(CatalogueMismatchError, match=r"universe parameters 0ld0ld00 \(this run: "):
        ensure_catalogue(RunConfig(box_size=128.0, catalogue=str(path)), root=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_tng_run_without_its_file_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="hgtools catalogue --source tng"):
        ensure_catalogue(RunConfig(source="tng"), root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_write_catalogue_refuses_what_read_catalogue_would_refuse(tmp_path, small_catalogue):
    bad = small_catalogue.copy()
    bad.loc[3, "M_h"] = np.nan
    with pytest.raises(CatalogueError, match=r"'M_h' has 1 NaN"):
        write_catalogue(bad, tmp_path / "x.parquet", {"source": "mock", "box_size": 128.0})
    with pytest.raises(CatalogueError, match="must name its 'source'"):
        write_catalogue(small_catalogue, tmp_path / "x.parquet", {"box_size": 128.0})
    assert not any(tmp_path.iterdir())


def test_a_damaged_catalogue_file_is_named(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(CatalogueError, match="broken.parquet is not a readable parquet file"):
        read_catalogue(path)


@pytest.mark.parametrize("settings, message", [
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"seed": 1.5}, "seed must be a non-negative integer"),
    ({"box_size": 0}, "box_size must be a positive length in Mpc/h"),
    ({"box_size": "big"}, "box_size must be a length in Mpc/h"),
    ({"source": "nowhere"}, "unknown source 'nowhere'; available: mock, tng"),
    ({"boxsize": 100}, "unknown run setting"),
])
def test_bad_run_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(settings)
    assert issubclass(ConfigError, ValueError)


# -- the command line: --overwrite, inputs, no tracebacks -----------------------------------------

def test_catalogue_command_refuses_to_overwrite(tmp_path, capsys, tng_file):
    before = snapshot(tmp_path)
    assert cli.main(["catalogue", "--box-size", "30", "--out", str(tng_file)]) == 1
    err = capsys.readouterr().err
    assert "already exists; pass --overwrite" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before
    assert cli.main(["catalogue", "--box-size", "30", "--out", str(tng_file), "--overwrite"]) == 0
    assert read_catalogue(tng_file)[1]["source"] == "mock"


def test_predict_refuses_its_own_input_and_existing_files(tmp_path, capsys, small_catalogue):
    halos = tmp_path / "halos.parquet"
    small_catalogue[["ID", *FEATURES]].to_parquet(halos)
    (tmp_path / "models").mkdir()
    for extra in ([], ["--overwrite"]):
        assert cli.main(["predict", "--models", str(tmp_path / "models"), "--halos", str(halos),
                         "--out", str(halos), *extra]) == 1
        assert "is an input of this command" in capsys.readouterr().err
    (tmp_path / "old.parquet").write_bytes(b"keep me")
    assert cli.main(["predict", "--models", str(tmp_path / "models"), "--halos", str(halos),
                     "--out", str(tmp_path / "old.parquet")]) == 1
    assert "old.parquet already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "old.parquet").read_bytes() == b"keep me"


@pytest.mark.parametrize("content, suffix, message", [
    (b"not parquet", ".parquet", "cannot be read as parquet"),
    (b"x", ".txt", "unknown format '.txt'"),
])
def test_predict_names_a_bad_halo_table(tmp_path, capsys, content, suffix, message):
    halos = tmp_path / f"halos{suffix}"
    halos.write_bytes(content)
    (tmp_path / "models").mkdir()
    assert cli.main(["predict", "--models", str(tmp_path / "models"), "--halos", str(halos),
                     "--out", str(tmp_path / "p.parquet")]) == 1
    err = capsys.readouterr().err
    assert message in err and "halos" in err and "Traceback" not in err
    assert not (tmp_path / "p.parquet").exists()


def test_ctrl_c_in_the_cli_is_a_message_not_a_traceback(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hgtools.pipeline.make_catalogue", interrupted)
    assert cli.main(["catalogue", "--box-size", "30", "--out", str(tmp_path / "c.parquet")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


# -- model folders: damaged cards and files ------------------------------------------------------

@pytest.fixture(scope="module")
def saved_stack(tmp_path_factory, universe):
    cat = universe[0].iloc[:600]
    X, y = cat[list(FEATURES)].to_numpy(), cat["radius"].to_numpy()
    bases = {"kNN": models.make_model("kNN", n_neighbors=5).fit(X, y),
             "LGBM": models.make_model("LGBM", n_estimators=20).fit(X, y)}
    stack = models.StackedModel(bases).fit(X, y)
    folder = tmp_path_factory.mktemp("models") / "set"
    models.save_model(stack, folder / "radius", {"target": "radius"})
    models.save_model(models.make_model("kNN", n_neighbors=5).fit(X, cat["color"].to_numpy()),
                      folder / "color-knn", {"target": "color"})
    return folder


def damaged_copy(saved_stack, tmp_path, damage) -> Path:
    folder = tmp_path / "set"
    shutil.copytree(saved_stack, folder)
    damage(folder)
    return folder


def _card(folder: Path, **changes):
    card = json.loads((folder / "card.json").read_text())
    card.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        card.pop(key)
    (folder / "card.json").write_text(json.dumps(card))


@pytest.mark.parametrize("damage, message", [
    (lambda f: _card(f / "radius", coefficients=None), "card.json: the card lacks coefficients"),
    (lambda f: (f / "radius" / "card.json").write_text("[1, 2]"), "must hold a JSON object, got list"),
    (lambda f: (f / "radius" / "card.json").write_text("{kind: stack"), "is not valid JSON"),
    (lambda f: _card(f / "radius", kind="torch"), "unknown model kind 'torch'"),
    (lambda f: _card(f / "radius", base_models=["../color-knn"]), "is not a folder name inside"),
    (lambda f: (f / "radius" / "kNN" / "model.skops").write_bytes(pickle.dumps({"a": 1})),
     "model.skops is not a skops file"),
    (lambda f: (f / "radius" / "linear.skops").write_bytes(b"garbage"), "linear.skops is not a skops file"),
    (lambda f: (f / "radius" / "LGBM" / "booster.txt").write_text("garbage\n"),
     "booster.txt is not a LightGBM text model"),
    (lambda f: (f / "radius" / "LGBM" / "booster.txt").unlink(), "booster.txt is missing"),
])
def test_damaged_model_folders_are_named(saved_stack, tmp_path, small_catalogue, damage, message):
    folder = damaged_copy(saved_stack, tmp_path, damage)
    with pytest.raises(models.ModelFileError, match=message):
        models.load_model(folder / "radius")
    halos = tmp_path / "halos.parquet"
    small_catalogue[["ID", *FEATURES]].iloc[:20].to_parquet(halos)
    out = tmp_path / "out" / "p.parquet"
    assert cli.main(["predict", "--models", str(folder), "--halos", str(halos), "--out", str(out)]) == 1
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_a_card_of_other_library_versions_warns(saved_stack, tmp_path):
    folder = damaged_copy(saved_stack, tmp_path, lambda f: _card(f / "radius", versions={"lightgbm": "0.1"}))
    with pytest.warns(UserWarning, match=r"other library versions: lightgbm 0.1"):
        models.load_model(folder / "radius")


# -- SMOGN and power spectra ------------------------------------------------------------------

@pytest.fixture()
def smogn_table(small_catalogue):
    return small_catalogue[[*FEATURES, "sSFR"]].reset_index(drop=True)


@pytest.mark.parametrize("change, kwargs, message", [
    (lambda t: t.__setitem__("sSFR", t["sSFR"].where(t.index != 5, np.inf)), {}, "sSFR hold infinite values"),
    (lambda t: t.__setitem__("C_h", t["C_h"].where(t.index != 7, np.nan)), {}, "C_h hold NaN values"),
    (lambda t: None, {"k": 0}, "k must be a positive integer"),
    (lambda t: None, {"k": -3}, "k must be a positive integer"),
])
def test_smoter_refuses_bad_input(smogn_table, change, kwargs, message):
    change(smogn_table)
    with pytest.raises(ValueError, match=message):
        smoter(smogn_table, "sSFR", seed=0, **kwargs)


@pytest.mark.parametrize("n", [1, 2, 9])
def test_power_spectrum_needs_enough_objects(n):
    from hgtools.clustering import MIN_OBJECTS, power_spectrum

    positions = np.random.default_rng(0).uniform(0, 50, (n, 3))
    with pytest.raises(ValueError, match=rf"{n} object\(s\) are too few .*at least {MIN_OBJECTS}"):
        power_spectrum(positions, 50.0, n_mesh=32, n_bins=4)


# -- the atomic writer --------------------------------------------------------------------------

def test_written_files_follow_the_umask(tmp_path, small_catalogue):
    old = os.umask(0o027)
    try:
        io.write_text(tmp_path / "a.txt", "x")
        write_catalogue(small_catalogue, tmp_path / "c.parquet", {"source": "mock", "box_size": 128.0})
        knn = models.make_model("kNN", n_neighbors=3).fit(small_catalogue[list(FEATURES)], small_catalogue["radius"])
        models.save_model(knn, tmp_path / "m", {"target": "radius"})
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "c.parquet").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "m" / "card.json").stat().st_mode & 0o777 == 0o640


def test_a_temporary_left_by_a_killed_writer_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".out.txt{io.TEMP_MARK}{dead}.1"
    stale.write_text("half")
    io.write_text(tmp_path / "out.txt", "first")
    assert stale.exists()  # recent: it may belong to a writer this process cannot see
    old = stale.stat().st_mtime - io.STALE_AFTER_S - 1
    os.utime(stale, (old, old))
    io.write_text(tmp_path / "out.txt", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_writers_of_neighbouring_folders_do_not_disturb_each_other(tmp_path):
    """Many folders written side by side into one parent (as training workers do): each write
    touches only its own temporary."""
    from concurrent.futures import ThreadPoolExecutor

    def write(name):
        for i in range(25):
            with io.atomic_write(tmp_path / f"{name}-{i % 3}", folder=True) as tmp:
                for j in range(5):
                    (tmp / f"part{j}").mkdir()
                    (tmp / f"part{j}" / "x.txt").write_text(str(i))
        return name

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(write, "abcd")) == list("abcd")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}-{k}" for n in "abcd" for k in range(3)]


def test_sigterm_during_a_write_leaves_nothing(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, time
        from hgtools.io import atomic_write
        with atomic_write({str(tmp_path / 'big.bin')!r}) as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
    assert not any(tmp_path.iterdir())


def test_overwrite_is_explicit_and_inputs_are_never_outputs(tmp_path):
    target = io.write_text(tmp_path / "t.txt", "first", overwrite=False)
    with pytest.raises(io.OutputExistsError, match="already exists; pass --overwrite"):
        io.write_text(target, "second", overwrite=False)
    assert target.read_text() == "first"
    with pytest.raises(ValueError, match="is an input of this command"):
        io.check_output(target, overwrite=True, inputs=[target])
    with pytest.raises(ValueError, match="is an input of this command"):
        io.check_output(tmp_path / "inside" / "x", overwrite=True, inputs=[tmp_path / "inside"])
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        io.check_output(target / "below.txt")
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)  # the writer restored it
