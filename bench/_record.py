"""Write a benchmark result where the book's reproducibility page reads it."""

from __future__ import annotations

import json
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


def record(name: str, title: str, rows: list[dict]) -> Path:
    """Write ``bench/results/<name>.json`` (atomically) and print the rows."""
    from hgtools.io import write_text

    payload = {"title": title, "command": " ".join(["python", *sys.argv]),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine(), "rows": rows}
    path = write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=1) + "\n")
    for row in rows:
        print(row)
    return path
