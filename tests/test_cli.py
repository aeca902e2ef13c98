"""The hgtools command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hgtools import cli
from hgtools.catalogue import read_catalogue


def test_help_documents_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "catalogue" in out and "book" in out
    with pytest.raises(SystemExit):
        cli.main(["catalogue", "--help"])
    out = capsys.readouterr().out
    assert "--box-size" in out and "--seed" in out and "mock" in out


def test_catalogue_command_writes_a_valid_catalogue(tmp_path, capsys):
    out = tmp_path / "data" / "cat.parquet"
    assert cli.main(["catalogue", "--source", "mock", "--seed", "2", "--box-size", "40",
                     "--out", str(out)]) == 0
    cat, meta = read_catalogue(out)
    assert meta["seed"] == 2 and meta["box_size"] == 40.0 and meta["source"] == "mock"
    assert f"{len(cat)} galaxies" in capsys.readouterr().out


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["catalogue", "--source", "nowhere", "--out", str(tmp_path / "x.parquet")])
    assert "invalid choice: 'nowhere'" in capsys.readouterr().err
    assert cli.main(["catalogue", "--box-size", "-5", "--out", str(tmp_path / "x.parquet")]) == 1
    assert "box_size must be a positive length in Mpc/h, got -5" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "hgtools.cli", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "hgtools" in result.stdout
