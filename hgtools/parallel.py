"""Independent fits side by side: a small process pool whose results do not depend on it.

The study's models are small — a network or a tree search uses about one core —
so the book's independent fits (one per training path and target, one network
per property) run on one worker process per core.  Workers are fresh (spawned) interpreters and each
task carries its own seed, so the numbers are those of one process.

Side by side, each worker still runs its library's own thread pool (LightGBM's and
scikit-learn's OpenMP threads, :data:`hgtools.models` sets two), so the cores are
oversubscribed.  OpenMP threads that wait actively then spin against each other's work:
measured on the 2-core machine, the four LightGBM fits of the Methods page's smogn-0.1.2
comparison took 28–179 s side by side, 16–21 s with passive waiting, same models.  Workers are
therefore started with :data:`WORKER_ENVIRONMENT` (a value the caller set is kept).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tqdm.auto import tqdm

#: Environment of worker processes: OpenMP threads sleep while they wait (read when a library
#: loads OpenMP, so it is set before the worker starts), TensorFlow's C++ start-up messages
#: stay out of the terminal.
WORKER_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set environment variables ``values`` inside the block (child processes started there inherit
    them; ``None`` unsets one), then restore the caller's environment."""
    before = {key: os.environ.get(key) for key in values}

    def apply(settings):
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    apply(values)
    try:
        yield
    finally:
        apply(before)


def worker_environment() -> dict[str, str]:
    """:data:`WORKER_ENVIRONMENT`, except the variables the caller has set already."""
    return {key: os.environ.get(key, value) for key, value in WORKER_ENVIRONMENT.items()}


def _call(function, kwargs: dict):
    return function(**kwargs)


def run_concurrently(function, tasks: list[dict], workers: int | None, desc: str) -> list:
    """``[function(**task) for task in tasks]``, on ``workers`` processes, results in the tasks' order.

    ``function`` must be importable (a module-level function) and the tasks
    picklable.  ``workers=None``: one per core (at most one per task);
    ``workers=1`` runs here, one task after another.  A progress bar counts
    finished tasks.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    workers = min(len(tasks), os.cpu_count() or 1) if workers is None else max(1, workers)
    progress = tqdm(total=len(tasks), desc=desc, unit="fit")
    if workers == 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(function(**task))
            progress.update()
        progress.close()
        return results
    results = [None] * len(tasks)
    with environment(worker_environment()), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_call, function, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.update()
    progress.close()
    return results


__all__ = ["WORKER_ENVIRONMENT", "environment", "run_concurrently", "worker_environment"]
