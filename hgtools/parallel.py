"""Independent fits side by side: a small process pool whose results do not depend on it.

The study's models are small — a network or a tree search uses about one core —
so the book's independent fits (one per training path and target, one network
per property) run on one worker process per core.  Workers are fresh (spawned) interpreters and each
task carries its own seed, so the numbers are those of one process.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm


def _call(function, kwargs: dict):
    return function(**kwargs)


def _quiet_worker() -> None:
    """Keep TensorFlow's C++ start-up messages out of the terminal (set before it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_quiet_worker) as pool:
        futures = {pool.submit(_call, function, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.update()
    progress.close()
    return results


__all__ = ["run_concurrently"]
