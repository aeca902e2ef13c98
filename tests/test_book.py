"""End-to-end: build the quick book and inspect what a reader gets."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hgtools.book import GENERATED, build, notebook_order
from hgtools.config import RunConfig
from hgtools.layout import CHROMIUM_FLAGS, find_browser, layout_problems, measure_page

ROOT = Path(__file__).resolve().parents[1]
REMOTE = re.compile(r"<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*[\"'](?:https?:)?//", re.I)


def test_notebook_order_follows_the_toc():
    stems = notebook_order(ROOT)
    assert stems[0] == "00_findings" and stems[1] == "01_data" and stems[-1] == "Z_reproducibility"
    for stem in stems:
        assert (ROOT / "notebooks" / f"{stem}.py").exists(), stem


def test_bench_results_say_when_they_were_recorded_with_other_universe_parameters(tmp_path):
    from hgtools.book import BENCH_RESULTS, bench_results
    from hgtools.universe.parameters import parameters_digest, read_parameters

    folder = tmp_path / BENCH_RESULTS
    folder.mkdir(parents=True)
    rows = [{"haloes": 10, "seconds": 1.0}]
    current = parameters_digest(*read_parameters())
    for name, digest in (("now", current), ("before", "0123abcd"), ("unknown", ""), ("independent", None)):
        record = {"title": name, "command": f"python bench/{name}.py", "rows": rows}
        if digest != "":
            record["universe_digest"] = digest
        (folder / f"{name}.json").write_text(json.dumps(record))
    captions = {name: caption for name, caption, _ in bench_results(tmp_path)}
    assert "other universe parameters" not in captions["now"]
    assert f"data: the hgtools embedded universe (synthetic; parameters {current})" in captions["now"]
    assert "embedded universe" not in captions["independent"]
    assert "other universe parameters" in captions["before"] and "0123abcd" in captions["before"]
    assert current in captions["before"] and "python bench/before.py" in captions["before"]
    assert "not recorded" in captions["unknown"]
    assert "other universe parameters" not in captions["independent"]  # does not use the universe


@pytest.fixture(scope="module")
def quick_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    config = RunConfig(seed=0, box_size=48.0, quick=True, data_dir=str(out / "data"))
    html = build(ROOT, out, config)
    return out, html


@pytest.mark.slow
def test_the_book_builds_on_a_catalogue_of_tng_files(tmp_path):
    """A run in TNG's layout (miniature: 3,000 random groups in a 60 Mpc/h box): every chapter runs, with the
    scores a source without a known law allows, and the figures only the embedded universe has are not linked."""
    from hgtools import cli
    from hgtools.sources import tng_mini

    mini = tng_mini.write_mini_run(tmp_path / "TNG-mini", n_random=3000, seed=0, box_size=60.0)
    catalogue = tmp_path / "tng.parquet"
    assert cli.main(["catalogue", "--source", "tng", "--base-path", str(mini.base_path), "--snapshot", "99",
                     "--out", str(catalogue)]) == 0
    config = RunConfig(source="tng", catalogue=str(catalogue), quick=True, data_dir=str(tmp_path / "data"))
    html = build(ROOT, tmp_path, config)
    outputs = {}
    for stem in notebook_order(ROOT):
        executed = json.loads((tmp_path / "_build" / "source" / GENERATED / f"{stem}.ipynb").read_text())
        outputs[stem] = [o for c in executed["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs[stem] if o["output_type"] == "error"], stem
    shown = json.dumps(outputs["08_beyond_mean"])
    assert "This source has no known law" in shown and "IllustrisTNG" in shown
    assert "score vs law" not in shown  # nothing measured against a law
    assert "data: the hgtools embedded universe (synthetic" in shown  # the recorded benchmarks say what they ran on
    assert "Fig. P1 (not drawn: the source has no known law)" in (html / "book" / "intro.html").read_text()


@pytest.mark.slow
def test_every_page_is_built(quick_book):
    out, html = quick_book
    assert (html / "index.html").exists()
    for stem in notebook_order(ROOT):
        assert (html / GENERATED / f"{stem}.html").exists(), stem
        executed = json.loads((out / "_build" / "source" / GENERATED / f"{stem}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, (stem, errors)
    assert not (ROOT / GENERATED).exists() or not any((ROOT / GENERATED).glob("*.ipynb")), \
        "a build must not write into the source tree"


@pytest.mark.slow
def test_no_remote_assets_and_labelled_figures(quick_book):
    out, html = quick_book
    for page in html.rglob("*.html"):
        text = page.read_text(errors="replace")
        assert not REMOTE.search(text), f"{page} loads a remote script or stylesheet"
        assert str(out / "data") not in text, f"{page} shows the build's absolute data path"
    figures = {"01_data": 3, "A1_embedded_universe": 3, "03_predictions": 5, "04_feature_importance": 2,
               "05_clustering": 1, "06_discussion": 1, "08_beyond_mean": 5}
    for stem, count in figures.items():
        text = (html / GENERATED / f"{stem}.html").read_text()
        assert "not IllustrisTNG300 results" in text.replace("**", "")
        assert len(set(re.findall(r"<img[^>]+?([0-9a-f]{20,})\.png", text))) >= count, stem
    for stem, words in {"04_feature_importance": ("Fig. 7", "Fig. 8", "oracle"),
                        "05_clustering": ("Table 2", "Fig. 9", "χ²"),
                        "06_discussion": ("Fig. 10", "study raw", "oracle"),
                        "08_beyond_mean": ("Table J1", "flow", "energy distance / noise floor")}.items():
        text = (html / GENERATED / f"{stem}.html").read_text()
        assert all(w in text for w in words), stem
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


@pytest.fixture()
def browser():
    """Debian's chromium: required under CI (``.ci/run`` installs it), else the test is skipped."""
    found = find_browser()
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed")
    return found


@pytest.mark.slow
def test_pages_render_in_headless_chromium(quick_book, browser, tmp_path):
    _, html = quick_book
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000"]
    page = html / GENERATED / "A1_embedded_universe.html"
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "The embedded universe" in dom
    assert "mjx-container" in dom, "MathJax did not typeset the equations"
    shot = tmp_path / "page.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


@pytest.mark.slow
def test_every_table_and_figure_fits_a_1400_px_window_with_readable_text(quick_book, browser):
    _, html = quick_book
    problems, figures = [], 0
    for page in sorted((html / "book").rglob("*.html")):
        rows = measure_page(page, width=1400, browser=browser)
        figures += int((rows["kind"] == "figure").sum())
        problems += layout_problems(rows, page, min_pt=9.0)
    assert figures >= 25, "the measurement found the book's figures"
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_every_artefact_is_on_its_page_and_on_the_map(quick_book):
    from hgtools.artefacts import ARTEFACTS

    _, html = quick_book
    intro = (html / "book" / "intro.html").read_text()
    provenance = (html / GENERATED / "Z_reproducibility.html").read_text()
    for artefact in ARTEFACTS:
        page = (html / GENERATED / f"{artefact.chapter}.html").read_text()
        assert f'id="{artefact.label}"' in page, (artefact.key, artefact.chapter)
        assert f'{artefact.chapter}.html#{artefact.label}"' in intro, artefact.key
        assert f"#{artefact.label}" in provenance and artefact.number in provenance, artefact.key
