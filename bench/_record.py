"""Write a benchmark result where the book's reproducibility page reads it."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _processor() -> str:
    """The processor's model name and its widest vector instructions (Linux), or ``""``.

    The networks' float rounding, hence the fits' early stops and scores, depends on them.
    """
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    fields = {key.strip(): value for key, value in (line.split(":", 1) for line in info if ":" in line)}
    name = " ".join(fields.get("model name", "").split())  # the last core's: all alike here
    flags = fields.get("flags", "").split()
    widest = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "")
    return ", ".join(part for part in (name, widest.upper()) if part)


def machine() -> str:
    """A one-line description of this machine."""
    processor = _processor()
    return (f"{platform.machine()}, {processor + ', ' if processor else ''}{os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def timings(f, runs: int) -> tuple[list[float], object]:
    """The times [s] of ``runs`` calls of ``f()``, one after the other, and the last call's result."""
    seconds, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = f()
        seconds.append(time.perf_counter() - t0)
    return seconds, result


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
