"""Benchmark: hgtools.clustering.power_spectrum (Pylians3 CIC + FFT) at 128^3, 256^3 and 512^3.

Positions: 70,000 uniform points in a 205 Mpc/h box (the size of a full test split).
Usage: python bench/power_spectrum.py
"""

from __future__ import annotations

import os

import numpy as np
from _record import record, timings

from hgtools.clustering import power_spectrum


def main() -> None:
    box, n = 205.0, 70_000
    pos = np.random.default_rng(0).random((n, 3)) * box
    rows = []
    for n_mesh in (128, 256, 512):
        power_spectrum(pos, box, n_mesh=n_mesh)  # warm-up (FFTW plans, page faults)
        times, _ = timings(lambda: power_spectrum(pos, box, n_mesh=n_mesh, threads=os.cpu_count()), 3)
        rows.append({"mesh": f"{n_mesh}^3", "points": n, "threads": os.cpu_count(),
                     "best of 3 [s]": round(min(times), 3), "median [s]": round(float(np.median(times)), 3),
                     "mesh memory [MiB]": round(4 * n_mesh**3 / 2**20)})
    record("power_spectrum", "Power spectrum of 70,000 points (CIC, FFT, 22 bandpowers) by mesh size", rows,
           universe=False)


if __name__ == "__main__":
    main()
