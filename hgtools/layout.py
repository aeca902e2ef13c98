"""What a reader's browser shows: rendered widths of figures and tables, and the size of figure text.

:func:`measure_page` opens a built page in headless Chromium at a given window width, lets a small
script measure every figure and table of the article, and returns one row per element.
:func:`layout_problems` turns the rows into readable complaints: an element wider than the
article (cut off, or scrolled sideways), or a figure shrunk so much that its smallest text
(:data:`hgtools.plots.MIN_FONT_PT` at the figure's natural size) renders below ``min_pt``.

Figure text size at the rendered size: a PNG of ``dpi`` dots per inch shows text of ``f`` points as
``f * dpi / 72`` image pixels; drawn ``rendered / natural`` times its natural width on a page where
one CSS point is 4/3 CSS pixels, it measures ``f * (dpi / 96) * (rendered / natural)`` points.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

#: Chromium's flags for a closed network (no background connections) and a throw-away profile.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")

#: Measures the article's figures and tables once the page has loaded; writes JSON into the DOM.
_MEASURE = r"""
<script>
window.addEventListener('load', () => setTimeout(() => {
  const article = document.querySelector('article') || document.querySelector('main') || document.body;
  const box = article.getBoundingClientRect();
  const rows = [];
  const visible = el => el.offsetParent !== null && el.getBoundingClientRect().width > 0;
  for (const img of article.querySelectorAll('img')) {
    if (!visible(img)) continue;
    const r = img.getBoundingClientRect();
    rows.push({kind: 'figure', src: img.getAttribute('src'), width: r.width, natural: img.naturalWidth,
               left: r.left, right: r.right, scrolled: false});
  }
  for (const table of article.querySelectorAll('table')) {
    if (!visible(table)) continue;
    const r = table.getBoundingClientRect();
    let scrolled = false;
    for (let el = table.parentElement; el && el !== article; el = el.parentElement) {
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') scrolled = true;
    }
    const head = table.querySelector('thead') || table.querySelector('th, caption');
    rows.push({kind: 'table', src: head ? head.textContent.replace(/\s+/g, ' ').trim().slice(0, 80) : '', width: r.width,
               natural: table.scrollWidth, left: r.left, right: r.right, scrolled: scrolled});
  }
  const out = {article_left: box.left, article_right: box.right, viewport: document.documentElement.clientWidth,
               rows: rows};
  const pre = document.createElement('pre');
  pre.id = 'hgtools-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 200));
</script>
"""
_RESULT = re.compile(r'<pre id="hgtools-layout"[^>]*>(.*?)</pre>', re.S)


def find_browser() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def measure_page(page: Path, width: int = 1400, height: int = 1000, browser: str | None = None,
                 timeout: float = 120.0) -> pd.DataFrame:
    """Rendered figures and tables of one built page, at a browser window ``width`` px wide.

    Returns
    -------
    pandas.DataFrame
        One row per visible element: ``kind`` ("figure" or "table"), ``src`` (image file, or the
        table's first header), rendered ``width`` [CSS px], ``natural`` width (image pixels, or the
        table's full scroll width), ``left``/``right`` edges, ``scrolled`` (an ancestor scrolls it
        sideways), and the article's ``article_left``/``article_right`` edges.

    Raises
    ------
    FileNotFoundError
        If the page or the browser is missing.
    RuntimeError
        If the browser does not report the measurements.
    """
    page = Path(page)
    if not page.exists():
        raise FileNotFoundError(f"{page}: no such page")
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("chromium not found (Debian: apt-get install chromium)")
    source = page.read_text(errors="replace")
    probe = page.with_name(f".layout-{page.name}")  # beside the page, so its relative links resolve
    probe.write_text(source.replace("</body>", _MEASURE + "</body>") if "</body>" in source else source + _MEASURE)
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                  f"--window-size={width},{height}", "--virtual-time-budget=20000",
                                  "--dump-dom", probe.as_uri()],
                                 capture_output=True, text=True, timeout=timeout).stdout
    finally:
        probe.unlink(missing_ok=True)
    found = _RESULT.search(dom)
    if found is None:
        raise RuntimeError(f"{page}: the browser did not report the layout")
    result = json.loads(html.unescape(found.group(1)))
    rows = pd.DataFrame(result["rows"], columns=["kind", "src", "width", "natural", "left", "right", "scrolled"])
    return rows.assign(article_left=result["article_left"], article_right=result["article_right"],
                       viewport=result["viewport"])


def png_dpi(path: Path) -> float:
    """The resolution a PNG file records (its pHYs chunk) [dots per inch]; 72 when it records none."""
    from PIL import Image

    with Image.open(path) as image:
        return float(image.info.get("dpi", (72.0, 72.0))[0])


def layout_problems(rows: pd.DataFrame, page: Path, min_pt: float = 9.0, slack_px: float = 1.0) -> list[str]:
    """What a reader would find wrong in :func:`measure_page`'s rows of ``page``.

    An element is cut off when it reaches beyond the article's right edge or an ancestor scrolls it
    sideways; a figure's smallest text (:data:`hgtools.plots.MIN_FONT_PT` at natural size) must
    render at ``min_pt`` points or more.
    """
    from hgtools.plots import MIN_FONT_PT

    page = Path(page)
    problems = []
    for row in rows.itertuples():
        name = f"{page.name}: {row.kind} {row.src!r}"
        if row.right > row.article_right + slack_px or row.scrolled:
            problems.append(f"{name} is {row.natural:.0f} px wide and overflows the article "
                            f"({row.article_right - row.article_left:.0f} px)")
        if row.kind == "figure" and row.natural > 0:
            image = (page.parent / row.src).resolve()
            dpi = png_dpi(image) if image.suffix == ".png" and image.exists() else 96.0
            smallest = MIN_FONT_PT * dpi / 96.0 * row.width / row.natural
            if smallest < min_pt - 1e-6:
                problems.append(f"{name}: text renders at {smallest:.1f} pt (shown at {row.width:.0f} of "
                                f"{row.natural:.0f} px), below {min_pt:g} pt")
    return problems
