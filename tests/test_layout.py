"""The browser measurement behind the book's layout test, on pages whose answer is known."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hgtools import layout, plots  # noqa: E402

PAGE = """<html><head><style>article {{ width: 800px; margin-left: 100px; }} img {{ max-width: 100%; }}</style></head>
<body><article>{body}</article></body></html>"""


@pytest.fixture()
def browser():
    found = layout.find_browser()
    if found is None:
        pytest.skip("chromium is not installed")
    return found


def figure_png(path, width_in):
    fig, ax = plt.subplots(figsize=(width_in, 2))
    fig.savefig(path, dpi=plots.FIGURE_DPI)
    plt.close(fig)


def test_a_fitting_page_has_no_problems_and_a_wide_one_is_named(tmp_path, browser):
    figure_png(tmp_path / "small.png", 7.0)  # 700 px: shown at its natural size
    figure_png(tmp_path / "wide.png", 16.0)  # 1600 px: shrunk to the article's 800 px
    columns = "".join(f"<th>column number {i}</th>" for i in range(30))
    (tmp_path / "good.html").write_text(PAGE.format(body='<img src="small.png"><table><tr><th>a</th></tr></table>'))
    (tmp_path / "bad.html").write_text(PAGE.format(
        body=f'<img src="wide.png"><div style="overflow-x:auto"><table><tr>{columns}</tr></table></div>'))
    good = layout.measure_page(tmp_path / "good.html", width=1400, browser=browser)
    assert set(good["kind"]) == {"figure", "table"}
    assert good.loc[good["kind"] == "figure", "width"].item() == pytest.approx(700, abs=1)
    assert layout.layout_problems(good, tmp_path / "good.html") == []
    bad = layout.measure_page(tmp_path / "bad.html", width=1400, browser=browser)
    problems = layout.layout_problems(bad, tmp_path / "bad.html")
    assert any("overflows" in p and "table" in p for p in problems)
    assert any("text renders at 4.7 pt" in p for p in problems)  # 9 pt x 100/96 x 800/1600


def test_a_missing_page_or_browser_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such page"):
        layout.measure_page(tmp_path / "absent.html")
