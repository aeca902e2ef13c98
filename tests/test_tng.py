"""The TNG source, on miniature runs written in TNG's exact layout."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from hgtools import cli
from hgtools.catalogue import read_catalogue
from hgtools.sources import tng, tng_mini
from hgtools.sources.tng_api import fetch_group_catalogue


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return tng_mini.write_mini_run(tmp_path_factory.mktemp("TNG-mini") / "TNG-mini", n_random=30,
                                   seed=0, particles_per_halo=4000)


@pytest.fixture(scope="module")
def built(mini):
    return tng.tng_catalogue(mini.base_path, 99, verbose=False)


def copy_run(mini, tmp_path) -> Path:
    """A writable copy of the miniature run; returns its output folder."""
    root = tmp_path / mini.base_path.parent.name
    shutil.copytree(mini.base_path.parent, root)
    return root / "output"


def kept_truth(mini):
    return mini.truth[mini.truth["status"] == "kept"].set_index("ID")


# -- the layout is TNG's: the official reader loads it ----------------------------

@pytest.mark.parametrize("trees", list(tng_mini.TREE_LAYOUTS))
def test_every_layout_the_official_reader_accepts(tmp_path, trees):
    from illustris_python import groupcat, sublink

    run = tng_mini.write_mini_run(tmp_path / "run", n_random=8, seed=3, trees=trees)
    expected = tng_mini.TREE_LAYOUTS[trees] / "SubLink" / "tree_extended.0.hdf5"
    layout = tng.locate(run.base_path, 99)
    assert layout.tree_files[0].resolve() == (tmp_path / "run" / expected).resolve()
    central = int(kept_truth(run).index[0])
    base = str(run.base_path)
    mpb = sublink.loadTree(base, 99, central, fields=["SnapNum", "SubhaloMass"], onlyMPB=True)
    assert Path(groupcat.gcPath(base, 99)).resolve() == layout.group_files[0].resolve()
    _, _, snaps, _ = tng.main_branches(layout, np.array([central]))
    np.testing.assert_array_equal(mpb["SnapNum"], snaps)
    cat, _ = tng.tng_catalogue(run.base_path, 99, verbose=False)
    assert sorted(cat["ID"]) == sorted(kept_truth(run).index)


def test_missing_trees_name_every_place_tried(tmp_path):
    run = tng_mini.write_mini_run(tmp_path / "run", n_random=4, seed=1)
    shutil.rmtree(tmp_path / "run" / "postprocessing" / "trees")
    with pytest.raises(tng.TNGError) as err:
        tng.locate(run.base_path, 99)
    for relative in ("output/trees/SubLink", "postprocessing/trees/SubLink", "output/postprocessing/trees/SubLink"):
        assert relative.split("/")[-2] in str(err.value)
    assert str(err.value).count("SubLink") >= 3


def test_a_truncated_chunk_is_named(tmp_path):
    run = tng_mini.write_mini_run(tmp_path / "run", n_random=30, seed=1)
    chunk = tng.group_file(run.base_path, 99, 1)
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(tng.TNGError, match=str(chunk.name)):
        tng.tng_catalogue(run.base_path, 99, verbose=False)


def test_illustris_python_reads_the_fixtures(mini):
    from illustris_python import groupcat, snapshot, sublink

    base = str(mini.base_path)
    header = groupcat.loadHeader(base, 99)
    halos = groupcat.loadHalos(base, 99, fields=["GroupFirstSub", "Group_M_Crit200"])
    subs = groupcat.loadSubhalos(base, 99, fields=["SubhaloMass"])
    assert header["Ngroups_Total"] == len(halos["GroupFirstSub"]) == len(mini.truth)
    assert len(subs) == mini.n_subhalos
    central = int(kept_truth(mini).index[0])
    mpb = sublink.loadTree(base, 99, central, fields=["SubhaloMass", "SnapNum"], onlyMPB=True)
    starts, lengths, snaps, masses = tng.main_branches(tng.locate(mini.base_path, 99), np.array([central]))
    np.testing.assert_array_equal(mpb["SnapNum"], snaps)
    np.testing.assert_allclose(mpb["SubhaloMass"], masses)
    full = sublink.loadTree(base, 99, central, fields=["SubhaloMass"])
    assert len(full) == len(masses) + 1  # the side branch exists but is not main
    group = int(mini.truth.index[mini.truth["ID"] == central][0])
    coords = snapshot.loadHalo(base, 99, group, "dm", fields=["Coordinates"])
    assert coords.shape == (4000, 3)


# -- the builder recovers what the fixture was made from ----------------------------

def test_every_known_value_is_recovered(mini, built):
    cat, meta = built
    truth = kept_truth(mini)
    got = cat.set_index("ID").loc[truth.index]
    for col, rtol in [("M_h", 1e-7), ("C_h", 1e-5), ("S_h", 1e-5), ("z_h", 1e-5), ("stellar_mass", 1e-7),
                      ("radius", 1e-6), ("X_h", 1e-6), ("x_g", 1e-6), ("z_g", 1e-6)]:
        np.testing.assert_allclose(got[col], truth[col].astype(float), rtol=rtol, atol=1e-6, err_msg=col)
    np.testing.assert_allclose(got["color"], truth["color"].astype(float), atol=5e-6)
    zero = truth["sfr_zero"].astype(bool)
    assert got["sfr_zero"].tolist() == zero.tolist() and zero.sum() == 1
    np.testing.assert_allclose(got.loc[~zero, "sSFR"], truth.loc[~zero, "sSFR"].astype(float), atol=1e-6)
    assert meta["zero_sfr_recipe"]["n_zero"] == 1
    assert meta["n_z_half_censored"] == int(truth["censored"].sum()) == 1


def test_cut_counts_follow_every_step(mini, built):
    _, meta = built
    assert [n for _, n in meta["cuts"]] == [n for _, n in mini.counts()]
    assert meta["source"] == "tng" and meta["simulation"] == "TNG-mini" and meta["box_size"] == 20.0


def test_delta3_counts_all_subhaloes(mini, built):
    cat, _ = built
    box = mini.box_size
    centres = cat[["X_h", "Y_h", "Z_h"]].to_numpy()
    diff = np.abs(centres[:, None, :] - mini.subhalo_positions[None, :, :])
    diff = np.minimum(diff, box - diff)
    counts = (np.sqrt((diff**2).sum(-1)) <= 3.0).sum(1) - 1
    expected = mini.n_subhalos / box**3 * 4 / 3 * np.pi * 27
    np.testing.assert_allclose(cat["Delta3_h"], counts / expected, rtol=1e-12)


def test_nfw_fit_from_particles(mini, built):
    cat_vmax, _ = built
    cat, meta = tng.tng_catalogue(mini.base_path, 99, concentration="nfw", verbose=False)
    assert meta["concentration_method"] == "nfw"
    c_fit, c_true = 10 ** cat["C_h"].to_numpy(), 10 ** cat_vmax["C_h"].to_numpy()
    assert np.median(np.abs(c_fit / c_true - 1)) < 0.1


def test_redshifts_from_a_table_when_headers_are_missing(mini, tmp_path):
    base = copy_run(mini, tmp_path)
    shutil.rmtree(base / "groups_050")
    with pytest.raises(tng.TNGError, match=r"no redshift for snapshot\(s\) \[50\]"):
        tng.tng_catalogue(base, 99, verbose=False)
    table = tmp_path / "z.csv"
    pd.DataFrame({"snapshot": [50], "redshift": [1.0]}).to_csv(table, index=False)
    out = tmp_path / "cat.parquet"
    assert cli.main(["catalogue", "--source", "tng", "--base-path", str(base), "--redshifts", str(table),
                     "--out", str(out)]) == 0
    cat, meta = read_catalogue(out)
    assert meta["source"] == "tng" and len(cat) == len(kept_truth(mini))


# -- bad input: a clear error naming file or field, and no output ------------------

def _break_missing_chunk(base):
    (base / "groups_099" / "fof_subhalo_tab_099.1.hdf5").unlink()
    return "missing group-catalogue chunk.*fof_subhalo_tab_099.1.hdf5"


def _break_missing_field(base):
    with h5py.File(base / "groups_099" / "fof_subhalo_tab_099.0.hdf5", "a") as f:
        del f["Subhalo/SubhaloVmax"]
    return r"fof_subhalo_tab_099.0.hdf5: field Subhalo/SubhaloVmax is missing"


def _break_header_counts(base):
    with h5py.File(base / "groups_099" / "fof_subhalo_tab_099.0.hdf5", "a") as f:
        f["Header"].attrs["Ngroups_Total"] = 999
    return "inconsistent Header counts: Ngroups_ThisFile adds up to 41.*Ngroups_Total = 999"


def _break_offsets(base):
    (base.parent / "postprocessing" / "offsets" / "offsets_099.hdf5").unlink()
    return "offsets file not found: .*offsets_099.hdf5"


def _break_not_tng(base):
    shutil.rmtree(base / "groups_099")
    return "is not a TNG run output: .*fof_subhalo_tab_099.0.hdf5 not found"


@pytest.mark.parametrize("breaker", [_break_missing_chunk, _break_missing_field, _break_header_counts,
                                     _break_offsets, _break_not_tng])
def test_bad_input_names_the_problem_and_writes_nothing(mini, tmp_path, capsys, breaker):
    base = copy_run(mini, tmp_path)
    pattern = breaker(base)
    out = tmp_path / "out" / "cat.parquet"
    assert cli.main(["catalogue", "--source", "tng", "--base-path", str(base), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert pytest.importorskip("re").search(pattern, err), err
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


# -- the web API, served from loopback ------------------------------------------------

class _Server:
    """A tiny stand-in for the TNG API: serves the fixture's chunks to the right key."""

    def __init__(self, source_dir: Path, key: str = "secret"):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                if self.headers.get("api-key") != key:
                    self.send_response(403)
                    self.end_headers()
                    return
                path = self.path.split("?")[0]
                if path == "/api/TNG-mini/files/groupcat-99/":
                    n = len(list(source_dir.glob("fof_subhalo_tab_099.*.hdf5")))
                    files = [f"http://127.0.0.1:{server.port}/api/TNG-mini/files/groupcat-99.{i}.hdf5"
                             for i in range(n)]
                    body, kind = json.dumps({"files": files}).encode(), "application/json"
                elif path.startswith("/api/TNG-mini/files/groupcat-99."):
                    chunk = path.rsplit(".", 2)[1]
                    body, kind = (source_dir / f"fof_subhalo_tab_099.{chunk}.hdf5").read_bytes(), "application/x-hdf5"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def api(mini):
    server = _Server(mini.base_path / "groups_099")
    yield server
    server.close()


def test_download_fetches_only_missing_chunks(mini, tmp_path, api, monkeypatch):
    base = copy_run(mini, tmp_path)
    for chunk in (1, 2):
        (base / "groups_099" / f"fof_subhalo_tab_099.{chunk}.hdf5").unlink()
    monkeypatch.setenv("TNG_API_KEY", "secret")
    written = fetch_group_catalogue(base, "TNG-mini", 99, api_url=api.url)
    assert sorted(p.name for p in written) == ["fof_subhalo_tab_099.1.hdf5", "fof_subhalo_tab_099.2.hdf5"]
    fetched = [r for r in api.requests if ".hdf5" in r]
    assert len(fetched) == 2 and all("Subhalo=SubhaloFlag" in r for r in fetched)
    assert fetch_group_catalogue(base, "TNG-mini", 99, api_url=api.url) == []  # nothing missing now
    out = tmp_path / "cat.parquet"
    assert cli.main(["catalogue", "--source", "tng", "--base-path", str(base), "--download",
                     "--simulation", "TNG-mini", "--api-url", api.url, "--out", str(out)]) == 0
    assert len(read_catalogue(out)[0]) == len(kept_truth(mini))


def test_download_errors_are_clear(mini, tmp_path, api, monkeypatch):
    monkeypatch.delenv("TNG_API_KEY", raising=False)
    with pytest.raises(tng.TNGError, match="API key is needed"):
        fetch_group_catalogue(tmp_path, "TNG-mini", 99, api_url=api.url)
    with pytest.raises(tng.TNGError, match="key was refused \\(HTTP 403\\)"):
        fetch_group_catalogue(tmp_path, "TNG-mini", 99, api_key="wrong", api_url=api.url)
    assert not list(tmp_path.rglob("*.hdf5*"))
