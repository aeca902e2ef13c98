"""hgtools populate: painting halo tables on a real dask-distributed cluster, delta_3 on slabs, resume, bad input."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from hgtools import cli, models
from hgtools import populate as pop
from hgtools.catalogue import FEATURES
from hgtools.overdensity import delta3

distributed = pytest.importorskip("distributed")
BOX = 128.0


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster: two worker processes, one thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as c:
        yield c


@pytest.fixture(scope="module")
def model_set(tmp_path_factory, universe):
    """Small stacks (ERT, kNN, LightGBM) for two targets."""
    cat, _ = universe
    X = cat[list(FEATURES)].to_numpy()
    folder = tmp_path_factory.mktemp("models")
    for target in ("stellar_mass", "radius"):
        y = cat[target].to_numpy()
        fitted = {"ERT": models.make_model("ERT", 0, n_estimators=10),
                  "kNN": models.make_model("kNN", 0, n_neighbors=10),
                  "LGBM": models.make_model("LGBM", 0, n_estimators=30)}
        fitted = {n: models.fit_model(m, X[:8000], y[:8000], X[8000:9000], y[8000:9000]) for n, m in fitted.items()}
        models.save_model(models.StackedModel(fitted).fit(X[8000:9000], y[8000:9000]), folder / target,
                          {"target": target, "path": "raw"})
    return folder


@pytest.fixture()
def halo_folder(tmp_path, universe):
    """The test universe's haloes without delta_3, in three parquet files of several row groups."""
    cat, _ = universe
    halos = cat[["ID", "M_h", "C_h", "S_h", "z_h", "X_h", "Y_h", "Z_h"]].iloc[:6000].reset_index(drop=True)
    folder = tmp_path / "halos"
    folder.mkdir()
    for k in range(3):
        halos.iloc[k::3].to_parquet(folder / f"h{k}.parquet", row_group_size=700)
    return folder, halos


def _read(out) -> pd.DataFrame:
    parts = sorted(out.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_slabs_with_ghost_zones_count_as_the_whole_box():
    rng = np.random.default_rng(3)
    box = 40.0
    pos = rng.uniform(0, box, (4000, 3))
    pos[:200, 0] = rng.choice([0.0, 1e-9, box - 1e-9, 10.0, 13.333, 20.0, 26.667, 30.0], 200)  # box, slab edges
    pos[200:300] = np.mod(pos[:100] + rng.normal(0, 1.0, (100, 3)), box)  # close pairs across the edges
    mass = rng.uniform(9.5, 12.5, len(pos))
    table = pd.DataFrame({"M_h": mass, "X_h": pos[:, 0], "Y_h": pos[:, 1], "Z_h": pos[:, 2]})
    tracers = mass >= 10.0
    # a tracer does not count itself; a halo below the tracer mass is not among the tracers
    expected = delta3(pos, pos[tracers], box, exclude_self=False) - tracers / (tracers.sum() / box**3 * 4 / 3 * np.pi * 27)
    chunks = np.array_split(np.arange(len(pos)), 5)
    for n_slabs in (1, 2, 3, pop.slab_count(box, len(pos), rows_per_slab=500)):
        pieces = [pop.split_into_slabs(table.iloc[c], box, n_slabs, 10.0) for c in chunks]
        n_tracers = sum(p["n_tracers"] for p in pieces)
        counted = [pop.count_slab(pieces, s, box, n_slabs) for s in range(n_slabs)]
        got = np.concatenate([pop.assemble_delta3([counted[s][i] for s in range(n_slabs)], len(c), n_tracers, box)
                              for i, c in enumerate(chunks)])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=f"{n_slabs} slabs")
    assert pop.slab_count(box, len(pos), rows_per_slab=500) == 4  # 8 wanted, but slabs are >= 3 radii wide


def test_populate_on_a_cluster_equals_predict(tmp_path, cluster, model_set, halo_folder, universe):
    folder, halos = halo_folder
    out = tmp_path / "painted"
    result = pop.populate(model_set, folder, out, box_size=BOX, scheduler=cluster.scheduler_address,
                          rows_per_partition=1500, progress=False)
    assert result.partitions == 6 and result.computed == 6 and result.rows == len(halos)
    got = _read(out).sort_values("ID").reset_index(drop=True)
    assert not list(tmp_path.glob(".*"))  # no partial folder left
    # delta_3 counted on slabs (tracers: these haloes down to 10^10 Msun/h) equals the global count
    ref = halos.sort_values("ID").reset_index(drop=True)
    pos = ref[["X_h", "Y_h", "Z_h"]].to_numpy()
    np.testing.assert_allclose(got["Delta3_h"], delta3(pos, pos, BOX), rtol=0, atol=1e-12)
    # the galaxies are what `predict` gives for the same table
    expected = models.predict_with_set(model_set, got[list(FEATURES)], base=False)
    for target in ("stellar_mass", "radius"):
        np.testing.assert_allclose(got[target], expected[target], rtol=0, atol=1e-9)
    assert list(got.columns[:8]) == ["ID", "M_h", "C_h", "S_h", "z_h", "X_h", "Y_h", "Z_h"]
    # same command, same output; the summary records models, inputs and seed
    again = pop.populate(model_set, folder, tmp_path / "again", box_size=BOX, scheduler=cluster.scheduler_address,
                         rows_per_partition=1500, progress=False)
    pd.testing.assert_frame_equal(_read(again.out), _read(out))
    import json

    summary = json.loads((out / "populate.json").read_text())
    assert summary["seed"] == 0 and summary["rows"] == len(halos) and len(summary["parts"]) == 6
    assert summary["delta3"] == {"counted": True, "min_mass": 10.0, "radius": 3.0}


def test_an_unreadable_file_is_refused_before_any_work(tmp_path, model_set, universe):
    src = tmp_path / "halos.parquet"
    universe[0][list(FEATURES)].iloc[:500].to_parquet(src)
    data = src.read_bytes()
    src.write_bytes(data[:-2000] + b"\0" * 2000)  # the footer is gone
    out = tmp_path / "painted"
    with pytest.raises(pop.PopulateError, match="cannot be read as parquet"):
        pop.populate(model_set, src, out, progress=False)
    assert not out.exists() and not pop.partial_folder(out).exists()


def test_a_file_with_damaged_pandas_metadata_is_refused_before_any_work(tmp_path, model_set, universe):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "halos.parquet"
    table = pa.Table.from_pandas(universe[0][list(FEATURES)].iloc[:500])
    pq.write_table(table.replace_schema_metadata({b"pandas": b"{damaged"}), src)
    out = tmp_path / "painted"
    with pytest.raises(pop.PopulateError, match="halos.parquet: its pandas metadata is damaged"):
        pop.populate(model_set, src, out, progress=False)
    assert not out.exists() and not pop.partial_folder(out).exists()


def test_an_interrupted_run_is_finished_by_the_same_command(tmp_path, cluster, model_set, universe):
    csv = tmp_path / "halos.csv"
    universe[0][["ID", *FEATURES]].iloc[:5000].to_csv(csv, index=False)
    lines = csv.read_text().splitlines()
    fields = lines[2101].split(",")
    fields[1] = "99." + "0" * (len(fields[1]) - 3)  # M_h of data row 2101, same width: the third partition fails
    csv.write_text("\n".join([*lines[:2101], ",".join(fields), *lines[2102:]]) + "\n")
    stat = csv.stat()
    out = tmp_path / "painted"
    run = dict(scheduler=cluster.scheduler_address, rows_per_partition=1000, progress=False)
    with pytest.raises(pop.PopulateError, match=r"halos.csv \(rows 2001-3000\): column 'M_h' .* outside"):
        pop.populate(model_set, csv, out, **run)
    partial = pop.partial_folder(out)
    # a partition already running when another failed was waited for: the folder no longer changes
    done = sorted(p.name for p in partial.glob("part-*.parquet"))
    time.sleep(2.0)
    assert sorted(p.name for p in partial.glob("part-*.parquet")) == done
    assert not list(partial.glob(".*")) and not out.exists() and "part-00002.parquet" not in done
    # the failure stands in for a crash: the file is put back as it was (same size and time), so the
    # manifest sees the same run
    csv.write_text("\n".join(lines) + "\n")
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    if not done:  # the failing partition ran first and the run stopped before any other finished
        pytest.skip("no partition finished before the failure")
    result = pop.populate(model_set, csv, out, **run)
    assert result.partitions == 5 and result.computed == 5 - len(done) and not partial.exists()
    whole = pop.populate(model_set, csv, tmp_path / "whole", **run)
    pd.testing.assert_frame_equal(_read(out), _read(whole.out))
    # a partial run of other settings is refused, and discarded with overwrite
    pop.partial_folder(tmp_path / "other").mkdir()
    (pop.partial_folder(tmp_path / "other") / "manifest.json").write_text("{}")
    with pytest.raises(pop.OutputExistsError, match="unfinished run of other settings"):
        pop.populate(model_set, csv, tmp_path / "other", **run)
    assert pop.populate(model_set, csv, tmp_path / "other", overwrite=True, **run).computed == 5


def test_the_command_paints_on_a_local_cluster(tmp_path, capsys, model_set, universe):
    cat, _ = universe
    src = tmp_path / "halos.csv"
    cat[list(FEATURES)].iloc[:800].to_csv(src, index=False)
    out = tmp_path / "painted"
    assert cli.main(["populate", "--models", str(model_set), "--halos", str(src), "--out", str(out),
                     "--workers", "2", "--rows-per-partition", "300"]) == 0
    said = capsys.readouterr()
    assert "3 partitions" in said.out and "galaxies/s" in said.out and "dashboard" in said.err
    assert len(_read(out)) == 800
    assert cli.main(["populate", "--models", str(model_set), "--halos", str(src), "--out", str(out)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_the_local_clusters_workers_wait_passively_and_keep_glibcs_malloc(monkeypatch):
    # side by side, OpenMP threads (scikit-learn's neighbours, LightGBM) must not spin (hgtools.parallel);
    # Dask's MALLOC_TRIM_THRESHOLD_ makes every partition's arrays mapped afresh (populate.DROPPED_WORKER_VARIABLES)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # inherited too, e.g. from an earlier nanny
    client, cluster = pop._client(1, None)
    with cluster, client:
        assert set(client.run(os.getenv, "OMP_WAIT_POLICY").values()) == {"PASSIVE"}
        assert set(client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
        assert set(client.run(os.getenv, "OMP_NUM_THREADS").values()) == {"1"}  # Dask's other settings stay
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # the caller's environment is given back


@pytest.mark.parametrize("change, args, message", [
    (lambda t: t.drop(columns=["C_h"]), [], "missing column(s) C_h"),
    (lambda t: t.drop(columns=["Delta3_h"]), [], "missing column(s) X_h, Y_h, Z_h (Delta3_h is absent"),
    (lambda t: t.drop(columns=["Delta3_h"]).assign(X_h=1.0, Y_h=1.0, Z_h=1.0), [], "give --box-size"),
    (lambda t: t.drop(columns=["Delta3_h"]).assign(X_h=500.0, Y_h=1.0, Z_h=1.0), ["--box-size", "128"],
     "inside the periodic box"),
    (lambda t: t, ["--draws", "3"], "point-model set (saved stacks), which paints one galaxy"),
    (lambda t: t, ["--box-size", "-1"], "--box-size must be a positive number"),
    (lambda t: t.assign(C_h=np.where(np.arange(len(t)) == 150, np.nan, t["C_h"])), [],
     "(row groups 0-0): column 'C_h' has 1 NaN value(s) (first at row 150)"),
])
def test_bad_input_is_refused_with_nothing_written(tmp_path, capfd, model_set, universe, change, args, message):
    # capfd: the local cluster's workers write to this terminal too, and must not log a traceback there
    cat, _ = universe
    src = tmp_path / "halos.parquet"
    change(cat[list(FEATURES)].iloc[:200].copy()).to_parquet(src)
    out = tmp_path / "painted"
    assert cli.main(["populate", "--models", str(model_set), "--halos", str(src), "--out", str(out),
                     "--workers", "1", *args]) == 1
    err = capfd.readouterr().err
    assert message in err and "Traceback" not in err and "Compute Failed" not in err
    assert not out.exists() and not pop.partial_folder(out).exists()


def test_only_refused_partitions_are_kept_off_the_workers_log():
    import logging

    def record(msg, *args):
        return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, msg, args, None)

    failed = "Compute Failed\nKey: %s\nState: %s\nTask: %s\nException: %r\nTraceback: %r\n"
    keep = pop.RefusalFilter().filter
    assert not keep(record(failed, "paint-1", "executing", "<Task>", 'PopulateError("h.parquet: NaN")', "  File"))
    assert keep(record(failed, "paint-1", "executing", "<Task>", 'ValueError("a bug")', "  File"))
    assert keep(record("Worker process %s was killed", "PopulateError(x)"))


def test_inputs_are_found_and_bad_ones_named(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / "b.parquet").write_bytes(b"")
    assert [p.name for p in pop.input_files(tmp_path)[0]] == ["a.parquet", "b.parquet"]
    assert pop.input_files(str(tmp_path / "a*"))[1] == "parquet"
    (tmp_path / "c.hdf5").write_bytes(b"")
    with pytest.raises(pop.PopulateError, match="unknown format '.hdf5'"):
        pop.input_files(tmp_path / "c.hdf5")
    with pytest.raises(pop.PopulateError, match="no such file or folder"):
        pop.input_files(tmp_path / "nope.parquet")
    (tmp_path / "d.csv").write_text("M_h\n")
    with pytest.raises(pop.PopulateError, match="mixes"):
        pop.input_files(str(tmp_path / "[bd].*"))
    with pytest.raises(pop.PopulateError, match="has no rows"):
        pop.partition_plan([tmp_path / "d.csv"], "csv")
    # --format names the format whatever the suffix; a folder then gives every file that is not hidden
    (tmp_path / ".hidden").write_text("")
    assert pop.input_files(tmp_path / "c.hdf5", "parquet") == ([tmp_path / "c.hdf5"], "parquet")
    assert [p.name for p in pop.input_files(tmp_path, "csv")[0]] == ["a.parquet", "b.parquet", "c.hdf5", "d.csv"]
    assert pop.input_files(str(tmp_path / "[bd].*"), "csv")[1] == "csv"
    with pytest.raises(pop.PopulateError, match="or name it with --format"):
        pop.input_files(tmp_path / "c.hdf5")
    with pytest.raises(pop.PopulateError, match="--format 'hdf5': use one of csv, hlist, parquet"):
        pop.input_files(tmp_path / "c.hdf5", "hdf5")


def test_an_hlist_catalogue_is_painted_host_by_host(tmp_path, cluster, model_set):
    from test_hlist import BOX as HLIST_BOX
    from test_hlist import write_hlist

    from hgtools import hlist

    path = tmp_path / "hlist_1.00000.list"
    write_hlist(path, n_hosts=3000, n_subs=2000)
    every = hlist.read_piece(hlist.pieces(path, 10**6)[0])
    out = tmp_path / "painted"
    result = pop.populate(model_set, path, out, scheduler=cluster.scheduler_address, rows_per_partition=900,
                          progress=False)  # the box comes from the header
    got = _read(out)
    hosts = every[every["paint"]]
    assert result.partitions >= 5 and len(got) == len(hosts) and "paint" not in got
    np.testing.assert_array_equal(got["ID"], hosts["ID"])
    pos = every[["X_h", "Y_h", "Z_h"]].to_numpy()
    tracer = every["M_h"].to_numpy() >= pop.DELTA3_MIN_MASS  # subhaloes are counted too
    ref = delta3(hosts[["X_h", "Y_h", "Z_h"]].to_numpy(), pos[tracer], HLIST_BOX, exclude_self=False) \
        - 1 / (tracer.sum() / HLIST_BOX**3 * 4 / 3 * np.pi * 27)
    np.testing.assert_allclose(got["Delta3_h"], ref, rtol=0, atol=1e-12)
    # the same catalogue under a name without the .list suffix, with --format hlist
    renamed = tmp_path / "out_0.dat"
    renamed.write_bytes(path.read_bytes())
    assert cli.main(["populate", "--models", str(model_set), "--halos", str(renamed), "--format", "hlist",
                     "--out", str(tmp_path / "again"), "--scheduler", cluster.scheduler_address,
                     "--rows-per-partition", "900"]) == 0
    pd.testing.assert_frame_equal(_read(tmp_path / "again"), got)
    # the same haloes as a parquet table of the hlist's columns (the box given): converted alike
    header = hlist.read_header(path)
    lines = pd.read_csv(path, sep=r"\s+", comment="#", header=None)
    raw = pd.DataFrame({name: lines[header.columns[name]] for name in pop.raw_columns().values()})
    raw["id"] = raw["id"].astype(np.int64)
    raw.to_parquet(tmp_path / "raw.parquet", row_group_size=1000)
    pop.populate(model_set, tmp_path / "raw.parquet", tmp_path / "from-table", box_size=HLIST_BOX,
                 scheduler=cluster.scheduler_address, rows_per_partition=900, progress=False)
    pd.testing.assert_frame_equal(_read(tmp_path / "from-table"), got)
    with pytest.raises(pop.PopulateError, match="--mass Mvir: .* no cosmology"):
        pop.populate(model_set, tmp_path / "raw.parquet", tmp_path / "mvir", box_size=HLIST_BOX, mass="Mvir")
    raw.drop(columns="rs").to_parquet(tmp_path / "no-rs.parquet")
    with pytest.raises(pop.PopulateError, match="missing column.*or give an hlist's columns id, upid"):
        pop.populate(model_set, tmp_path / "no-rs.parquet", tmp_path / "no-rs", box_size=HLIST_BOX)
    raw.to_csv(tmp_path / "raw.csv", index=False)  # and as CSV
    pop.populate(model_set, tmp_path / "raw.csv", tmp_path / "from-csv", box_size=HLIST_BOX,
                 scheduler=cluster.scheduler_address, rows_per_partition=900, progress=False)
    pd.testing.assert_frame_equal(_read(tmp_path / "from-csv"), got)


def test_the_studys_released_models_paint_through_populate(tmp_path, cluster, universe):
    import lightgbm as lgb

    from hgtools import released

    folder = tmp_path / "models" / "radius"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((1000, 5))
    booster = lgb.train({"objective": "regression", "verbosity": -1}, lgb.Dataset(Z, Z @ rng.normal(size=5)),
                        num_boost_round=10)
    booster.save_model(str(folder / "raw-LGBM.txt"))
    (folder / "raw-stacked.sav").write_bytes(b"never opened")
    src = tmp_path / "halos.parquet"
    table = universe[0][list(FEATURES)].iloc[:700]
    table.to_parquet(src)
    out = tmp_path / "painted"
    pop.populate(tmp_path / "models", src, out, scheduler=cluster.scheduler_address, progress=False)
    expected = released.load_released(tmp_path / "models")[0].predict(table.to_numpy())
    np.testing.assert_allclose(_read(out)["radius"], expected, rtol=1e-12)
    with pytest.raises(pop.PopulateError, match="no released raw-NN model"):
        pop.populate(tmp_path / "models", src, tmp_path / "nn", released_model="raw-NN", progress=False)


def test_a_base_model_of_the_stacks_paints_alone(tmp_path, cluster, model_set, universe):
    src = tmp_path / "halos.parquet"
    table = universe[0][list(FEATURES)].iloc[:600]
    table.to_parquet(src)
    out = tmp_path / "painted"
    pop.populate(model_set, src, out, base_model="LGBM", scheduler=cluster.scheduler_address, progress=False)
    stacks = models.load_set(model_set)
    for target, _, stack in stacks:
        np.testing.assert_allclose(_read(out)[target], stack.base_models["LGBM"].predict(table.to_numpy()), rtol=1e-12)
    with pytest.raises(pop.PopulateError, match="has no base model 'SVM'"):
        pop.populate(model_set, src, tmp_path / "svm", base_model="SVM", progress=False)


def test_a_worker_killed_mid_run_is_replaced_and_nothing_partial_is_left(tmp_path, model_set, universe):
    import signal
    import threading
    import time

    src = tmp_path / "halos.parquet"
    table = universe[0][list(FEATURES)].iloc[:24_000]
    table.to_parquet(src, row_group_size=400)
    out = tmp_path / "painted"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as c, distributed.Client(c) as client:
        outcome = {}

        def run():
            try:
                outcome["result"] = pop.populate(model_set, src, out, scheduler=c.scheduler_address,
                                                 rows_per_partition=400, progress=False)
            except Exception as err:  # reported below
                outcome["error"] = err

        thread = threading.Thread(target=run)
        thread.start()
        partial = pop.partial_folder(out)
        deadline = time.time() + 120
        while not list(partial.glob("part-*.parquet")) and time.time() < deadline:
            time.sleep(0.05)
        victim = next(iter(client.run(os.getpid).values()))
        running = partial.exists() and len(list(partial.glob("part-*.parquet"))) < 60
        os.kill(victim, signal.SIGKILL)  # mid-run: its task is redone elsewhere
        thread.join(300)
    assert running, "the run ended before the worker was killed"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.partitions == 60 and result.computed == 60
    assert not list(out.glob(".*")) and not partial.exists()
    whole = pop.populate(model_set, src, tmp_path / "whole", rows_per_partition=400, progress=False, workers=1)
    pd.testing.assert_frame_equal(_read(out), _read(whole.out))


def test_a_repeated_partition_of_a_finished_run_writes_nothing(tmp_path, model_set, universe):
    # Dask recomputes a finished partition whose worker died; once the run is renamed into place its
    # partial folder is gone, and the repeat must not bring it back.
    table = universe[0][list(FEATURES)].iloc[:50]
    table.to_csv(tmp_path / "halos.csv", index=False)
    piece = {"file": str(tmp_path / "halos.csv"), "skip": 0, "rows": len(table)}
    meta = {"draws": 1, "seed": 0}
    gone = tmp_path / ".painted.partial"
    args = (str(model_set), pop.model_fingerprint(model_set))
    assert pop._paint_part(piece, 3, None, *args, str(gone), None, meta) == (50, 0)
    assert not gone.exists()
    gone.mkdir()
    pop._paint_part(piece, 3, None, *args, str(gone), None, meta)
    assert (gone / pop.part_name(3)).is_file()


def test_a_part_is_what_paint_gives_for_its_table(tmp_path, model_set, universe):
    # A part goes from parquet to parquet as an Arrow table; `paint` works on a DataFrame. Same galaxies, same
    # columns: a stored pandas index is dropped, and a galaxy column the input already has is replaced, not doubled.
    table = universe[0][["ID", *FEATURES, "stellar_mass"]].iloc[:300].copy()
    table["stellar_mass"] = -1.0
    table.index = pd.Index(np.arange(300) * 7, name="row")
    table.to_parquet(tmp_path / "halos.parquet", row_group_size=100)
    piece = {"file": str(tmp_path / "halos.parquet"), "row_groups": [1, 3], "rows": 200}
    (tmp_path / "parts").mkdir()
    args = (str(model_set), pop.model_fingerprint(model_set))
    assert pop._paint_part(piece, 0, None, *args, str(tmp_path / "parts"), None, {"draws": 1, "seed": 0}) == (200, 0)
    got = pd.read_parquet(tmp_path / "parts" / pop.part_name(0))
    expected = pop.paint(table.iloc[100:], model_set)
    assert list(got.columns) == list(expected.columns) and got.columns.is_unique and (got["stellar_mass"] > 5).all()
    pd.testing.assert_frame_equal(got, expected)


def test_lightgbm_is_compiled_with_the_same_predictions(model_set, universe):
    X = universe[0][list(FEATURES)].to_numpy()[:5000]
    for _, _, stack in models.load_set(model_set):
        lgbm = stack.base_models["LGBM"]
        fast = pop.CompiledLightGBM(lgbm.booster_, lgbm.best_iteration_)
        np.testing.assert_allclose(fast.predict(X), lgbm.predict(X), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(pop._compile(stack).predict(X), stack.predict(X), rtol=1e-12, atol=1e-12)


def test_compiled_models_are_cached_once_per_machine(tmp_path, monkeypatch, model_set, universe):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lgbm = models.load_set(model_set)[0][2].base_models["LGBM"]
    X = universe[0][list(FEATURES)].to_numpy()[:2000]
    first = pop.CompiledLightGBM(lgbm.booster_, lgbm.best_iteration_)
    (cached,) = pop.compiled_cache_dir().glob("*.o")
    stamp = cached.stat().st_mtime_ns
    again = pop.CompiledLightGBM(lgbm.booster_, lgbm.best_iteration_)  # loaded, not compiled
    assert cached.stat().st_mtime_ns == stamp and not list(pop.compiled_cache_dir().glob(".*"))
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    pop.CompiledLightGBM(lgbm.booster_, max(lgbm.best_iteration_ - 1, 1))  # other trees: another entry
    assert len(list(pop.compiled_cache_dir().glob("*.o"))) == 2


def test_an_unwritable_cache_only_costs_a_compilation(tmp_path, monkeypatch, model_set, universe):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder cannot be created
    lgbm = models.load_set(model_set)[0][2].base_models["LGBM"]
    X = universe[0][list(FEATURES)].to_numpy()[:500]
    fast = pop.CompiledLightGBM(lgbm.booster_, lgbm.best_iteration_)
    np.testing.assert_allclose(fast.predict(X), lgbm.predict(X), rtol=1e-12, atol=1e-12)


def test_a_density_model_draws_galaxies_partition_by_partition(tmp_path, cluster, universe):
    from hgtools import density
    from hgtools.catalogue import TARGETS

    cat, _ = universe
    X, Y = cat[list(FEATURES)].to_numpy(), cat[list(TARGETS)].to_numpy()
    flow = density.make_density("flow", hidden=(8,), n_bins=4, epochs=2).fit(X[:2000], Y[:2000])
    folder = density.save_density(flow, tmp_path / "flow")
    src = tmp_path / "halos.parquet"
    table = cat[["ID", *FEATURES]].iloc[:600].reset_index(drop=True)
    table.to_parquet(src, row_group_size=200)
    out = tmp_path / "painted"
    result = pop.populate(folder, src, out, draws=3, seed=4, rows_per_partition=200,
                          scheduler=cluster.scheduler_address, progress=False)
    assert result.partitions == 3 and result.rows == 1800  # galaxies: 600 haloes x 3 draws
    got = _read(out)
    assert len(got) == 1800 and list(got.columns) == ["ID", *FEATURES, "draw", *TARGETS]
    for i in range(3):  # partition i draws with the seed [4, i], whatever the worker
        part = pd.read_parquet(out / pop.part_name(i))
        expected = flow.sample(part[list(FEATURES)].to_numpy()[:200], 3, seed=[4, i])
        np.testing.assert_allclose(part[list(TARGETS)].to_numpy(), expected.reshape(-1, 4), rtol=1e-6)
        np.testing.assert_array_equal(part["draw"], np.repeat(np.arange(3), 200))
    again = pop.populate(folder, src, tmp_path / "again", draws=3, seed=4, rows_per_partition=200,
                         scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(_read(again.out), got)
    assert result.outside == again.outside == 0
    # haloes beyond the training range are counted once for the run, not warned about by every partition
    table.loc[[5, 250, 251], "C_h"] = flow.x_max_[1] + 0.1
    table.to_parquet(tmp_path / "odd.parquet", row_group_size=200)
    odd = pop.populate(folder, tmp_path / "odd.parquet", tmp_path / "odd", rows_per_partition=200,
                       scheduler=cluster.scheduler_address, progress=False)
    assert odd.outside == 3
    assert json.loads((odd.out / pop.SUMMARY).read_text())["last_run"]["haloes_outside_training_range"] == 3
