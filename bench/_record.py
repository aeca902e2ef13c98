"""Write a benchmark result where the book's reproducibility page reads it."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """A one-line description of this machine."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def rounded(value, digits: int = 4) -> float | None:
    """``value`` rounded for a record, or None where it is not finite (JSON has no NaN)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def record(name: str, title: str, rows: list[dict], universe: bool = True) -> Path:
    """Write ``bench/results/<name>.json`` (atomically) and print the rows.

    The record names the shipped universe parameters it ran with (their digest), so that
    the book can say when a result predates the current calibration; ``universe=False``
    records that the benchmark does not use the embedded universe (digest null).
    """
    from hgtools.io import write_text

    from hgtools.universe import UniverseConfig

    payload = {"title": title, "command": " ".join(["python", *sys.argv]),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine(), "universe_digest": UniverseConfig().digest if universe else None,
               "rows": rows}
    path = write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=1) + "\n")
    for row in rows:
        print(row)
    return path
