"""The artefact registry, the one cache-key scheme and the run configuration."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from hgtools import artefacts, pipeline
from hgtools.catalogue import Catalogue
from hgtools.config import FULL, QUICK, TNG300_BOX_SIZE, ConfigError, RunConfig
from hgtools.training import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
STUDY = [*(f"Fig. {i}" for i in range(1, 11)), "Table 1", "Table 2", "Table B1", "Appendix A"]


def test_every_figure_and_table_of_the_study_is_registered_once():
    numbers = [a.number for a in artefacts.ARTEFACTS]
    assert set(STUDY) <= set(numbers)
    assert len(numbers) == len(set(numbers)) and len({a.key for a in artefacts.ARTEFACTS}) == len(numbers)
    page = artefacts.map_markdown()
    for number in STUDY:
        assert f"{{ref}}`{number} <" in page


def test_every_cached_artefact_has_its_computation():
    cached = {a.key for a in artefacts.ARTEFACTS if a.cached}
    assert cached == set(pipeline._COMPUTE)


def test_every_artefact_is_labelled_in_its_chapter():
    for artefact in artefacts.ARTEFACTS:
        source = (ROOT / "notebooks" / f"{artefact.chapter}.py").read_text()
        # a section label, or the name of a captioned figure (its cell's MyST metadata)
        assert (f"# ({artefact.label})=" in source or f'"name": "{artefact.label}"' in source), \
            (artefact.key, artefact.chapter)
        for module in artefact.code:
            artefacts.module_file(module)  # every declared module exists
        for function in (artefact.compute, artefact.draw):
            if function:
                module, name = function.rsplit(".", 1)
                assert f"def {name}(" in artefacts.module_file(module).read_text(), function


def test_the_intro_map_links_every_artefact(tmp_path):
    from hgtools.book import artefact_map, stage_sources

    stage_sources(ROOT, tmp_path / "staging")
    intro = (tmp_path / "staging" / "book" / "intro.md").read_text()
    assert artefact_map() in intro
    for artefact in artefacts.ARTEFACTS:
        assert f"<{artefact.label}>`" in intro


@pytest.fixture()
def code_copy(tmp_path):
    copy = tmp_path / "hgtools"
    shutil.copytree(artefacts.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(copy: Path, module: str) -> None:
    path = artefacts.module_file(module, copy)
    path.write_text(path.read_text() + "\n# an edit\n")


@pytest.fixture()
def stub_run(tmp_path, code_copy, small_catalogue, universe, monkeypatch):
    """A run whose models are a stand-in and whose cached artefacts count their computations."""
    calls = []

    def counting(key):
        def compute(run):
            calls.append(key)
            return small_catalogue.iloc[:5][["ID", "M_h"]].copy()
        return compute

    monkeypatch.setitem(pipeline._COMPUTE, "table-1", counting("table-1"))
    monkeypatch.setitem(pipeline._COMPUTE, "fig-9", counting("fig-9"))
    config = RunConfig(box_size=128.0, data_dir=str(tmp_path / "data"))
    run = pipeline.Run(config, Catalogue(small_catalogue, {**universe[1]}), code_root=code_copy, verbose=False)
    return reopened(run), calls


def reopened(run: pipeline.Run) -> pipeline.Run:
    """The same run opened anew (it reads the code again), its models the same stand-in."""
    run = pipeline.Run(run.config, run.catalogue, code_root=run.code_root, verbose=False)
    run.__dict__["models"] = SimpleNamespace(folder=Path("models-key"), predictions=run.catalogue.table)
    return run


def test_editing_a_declared_dependency_recomputes_the_artefact(stub_run, code_copy):
    run, calls = stub_run
    first = run.artefact("table-1"), run.artefact("fig-9")
    run.artefact("table-1"), run.artefact("fig-9")
    assert calls == ["table-1", "fig-9"]  # the second time both come from the cache
    edit(code_copy, "evaluation")  # declared by both
    run = reopened(run)
    run.artefact("table-1"), run.artefact("fig-9")
    assert calls == ["table-1", "fig-9"] * 2
    edit(code_copy, "metrics")  # Table 1's 2D KS: not a dependency of the spectra
    run = reopened(run)
    run.artefact("table-1"), run.artefact("fig-9")
    assert calls[4:] == ["table-1"]
    edit(code_copy, "reference")  # the bin edges of Fig. 9, the study's values of Table 1
    run = reopened(run)
    run.artefact("table-1"), run.artefact("fig-9")
    assert calls[5:] == ["table-1", "fig-9"]
    edit(code_copy, "plots")  # declared by neither
    run = reopened(run)
    run.artefact("table-1"), run.artefact("fig-9")
    assert len(calls) == 7
    assert first[0].equals(run.artefact("table-1"))


def test_a_source_edited_while_a_run_is_open_does_not_move_its_keys(stub_run, code_copy):
    # the code a run imported is the code it opened with: one run, one key per artefact
    run, calls = stub_run
    density_folder = run.density_folder
    run.artefact("table-1")
    edit(code_copy, "density")
    edit(code_copy, "evaluation")
    assert run.density_folder == density_folder
    run.artefact("table-1")
    assert calls == ["table-1"]
    later = reopened(run)
    assert later.density_folder != density_folder
    later.artefact("table-1")
    assert calls == ["table-1"] * 2


def test_a_glue_function_edited_while_a_run_is_open_does_not_move_its_key(stub_run, monkeypatch):
    # the source of the function computing an artefact (hgtools.pipeline) joins its key, read when the run opens
    run, calls = stub_run
    run.artefact("table-1")
    monkeypatch.setattr(artefacts.inspect, "getsource", lambda function: "def edited(run): ...")  # its file edited
    run.artefact("table-1")
    assert calls == ["table-1"]
    reopened(run).artefact("table-1")
    assert calls == ["table-1"] * 2


def test_a_cached_table_keeps_its_index(stub_run, monkeypatch):
    run, _ = stub_run
    table = pd.DataFrame({"relation": ["a vs b", "c vs d"], "D": [0.1, 0.2]}).set_index("relation")
    monkeypatch.setitem(pipeline._COMPUTE, "table-1", lambda run: table)
    pd.testing.assert_frame_equal(run.artefact("table-1"), table)
    pd.testing.assert_frame_equal(run.artefact("table-1"), table)  # read back from the cache
    multi = table.set_index(pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["p", None]))
    monkeypatch.setitem(pipeline._COMPUTE, "fig-9", lambda run: multi)
    run.artefact("fig-9")
    assert list(run.artefact("fig-9").index.names) == ["p", "level_1"]
    assert run.artefact("fig-9").index.tolist() == [("x", 1), ("y", 2)]


def test_the_artefact_card_says_what_made_it(stub_run):
    import json

    import pyarrow.parquet as pq

    run, _ = stub_run
    run.artefact("table-1")
    (path,) = (Path(run.config.data_dir) / "cache" / "artefacts").glob("table-1-*.parquet")
    card = json.loads(pq.read_schema(path).metadata[b"hgtools"])
    assert card["code"] == list(artefacts.get("table-1").code)
    assert card["config"]["seed"] == 0 and card["data"]["models"] == "models-key"
    assert card["data"]["catalogue"]["rows"] == len(run.catalogue)


def test_one_key_scheme_for_training_too(code_copy, universe, small_catalogue):
    config, data = RunConfig(box_size=128.0).identity(), Catalogue(small_catalogue, universe[1]).identity()
    key = artefacts.cache_key(artefacts.TRAINING, config, data, code_root=code_copy)
    assert key == artefacts.cache_key(artefacts.TRAINING, config, data, code_root=code_copy)
    assert key != artefacts.cache_key(artefacts.TRAINING, RunConfig(box_size=128.0, seed=1).identity(), data,
                                      code_root=code_copy)
    assert key != artefacts.cache_key(artefacts.TRAINING, RunConfig(box_size=128.0, train_seed=1).identity(), data,
                                      code_root=code_copy)
    assert key == artefacts.cache_key(artefacts.TRAINING, RunConfig(box_size=128.0, train_seed=0).identity(), data,
                                      code_root=code_copy)
    assert key != artefacts.cache_key(artefacts.TRAINING, config, data, code_root=code_copy,
                                      extra={"smogn_compat": "smogn-0.1.2"})
    changed = Catalogue(small_catalogue.assign(radius=small_catalogue["radius"] + 1e-9), universe[1]).identity()
    assert key != artefacts.cache_key(artefacts.TRAINING, config, changed, code_root=code_copy)
    resized = {**config, "sizes": {**config["sizes"], "n_mesh": 2 * config["sizes"]["n_mesh"]}}
    assert key != artefacts.cache_key(artefacts.TRAINING, resized, data, code_root=code_copy)
    for module in ("models", "smogn", "training"):
        edit(code_copy, module)
        new = artefacts.cache_key(artefacts.TRAINING, config, data, code_root=code_copy)
        assert new != key
        key = new
    edit(code_copy, "plots")
    assert artefacts.cache_key(artefacts.TRAINING, config, data, code_root=code_copy) == key


def test_the_run_configuration_is_the_one_place_of_defaults():
    assert RunConfig().box_size == FULL.box_size == TNG300_BOX_SIZE
    assert RunConfig(quick=True).box_size == QUICK.box_size < TNG300_BOX_SIZE
    assert RunConfig(source="tng").box_size is None  # the files decide
    config = RunConfig(seed=2, quick=True, options={"a": Path("/x")})
    assert RunConfig.from_dict(config.to_dict()) == RunConfig(seed=2, quick=True, options={"a": "/x"})
    assert "data_dir" not in config.identity()
    from hgtools.universe import UniverseConfig

    assert config.catalogue_path().name == f"mock-seed2-box64-{UniverseConfig().digest}.parquet"
    assert config.with_source("tng").box_size is None
    # a training seed of its own moves the fits, not the universe
    other = RunConfig(seed=2, quick=True, train_seed=5)
    assert other.training_seed == 5 and config.training_seed == 2
    assert other.catalogue_path() == config.catalogue_path()
    assert TrainingConfig.from_run(other).seed == 5
    with pytest.raises(ConfigError, match="train_seed"):
        RunConfig(train_seed=-1)
    # no module of the package restates the defaults
    literal = re.compile(r"(?<![\w.])205(?:\.0)?(?![\w.])")
    for path in artefacts.PACKAGE_DIR.rglob("*.py"):
        if path.name == "config.py":
            continue
        code = [line for line in path.read_text().splitlines()
                if not line.lstrip().startswith(("#", '"', "'")) and "205 Mpc/h" not in line]
        assert not any(literal.search(line) for line in code), path
