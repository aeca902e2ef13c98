"""Independent fits side by side: a small process pool whose results do not depend on it.

The study's models are small — a network or a tree search uses about one core —
so the book's independent fits (one per training path and target, one network
per property, one per density model) run on one worker process per core.  Workers are fresh
(spawned) interpreters and each task carries its own seed, so the numbers do not depend on how
many workers there are, nor on which worker runs which task.

Side by side, each worker still runs its library's own thread pool (LightGBM's and
scikit-learn's OpenMP threads, :data:`hgtools.models` sets two), so the cores are
oversubscribed.  OpenMP threads that wait actively then spin against each other's work:
measured on the 2-core machine, the four LightGBM fits of the Methods page's smogn-0.1.2
comparison took 28–179 s side by side, 16–21 s with passive waiting, same models.  Workers are
therefore started with :data:`WORKER_ENVIRONMENT` (a value the caller set is kept).  A pool of
one worker keeps OpenMP's default, active waiting: with no other worker to spin against,
passive waiting only slows the library down — the residual density model's fit (LightGBM
means, full-size catalogue) took 36.9–44.4 s with it, 9.9–11.3 s without.

TensorFlow gets one thread per worker.  Its training steps are small (batches of 512–1,024
rows), and two workers with a pool of two threads each slowed each other down: the book's three
density models took 186–213 s side by side with TensorFlow's default pools, 164–173 s with one
thread each, and 236 s one after the other in one process (full-size catalogue, 2 cores, two
sessions of measurements).  It also
fixes the numbers: how TensorFlow splits a sum between threads changes its rounding, so a
network trained with two threads is not the network trained with one (the flow stopped after
69 epochs with TensorFlow's default pools on this 2-core machine, 57 with one thread).  Every
fit therefore runs in a worker, even one task alone (``workers=1`` too), so that a model does
not depend on the number of workers nor on the machine's core count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tqdm.auto import tqdm

#: Environment of worker processes: OpenMP threads sleep while they wait (read when a library
#: loads OpenMP, so it is set before the worker starts), TensorFlow runs one thread (read when
#: it starts) and its C++ start-up messages stay out of the terminal.
WORKER_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "TF_CPP_MIN_LOG_LEVEL": "3",
                      "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


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


def worker_environment(workers: int = 2) -> dict[str, str]:
    """:data:`WORKER_ENVIRONMENT` for a pool of ``workers`` processes, except the variables the caller
    has set already; a pool of one worker leaves ``OMP_WAIT_POLICY`` to OpenMP (active waiting)."""
    values = {key: os.environ.get(key, value) for key, value in WORKER_ENVIRONMENT.items()}
    if workers == 1 and "OMP_WAIT_POLICY" not in os.environ:
        del values["OMP_WAIT_POLICY"]
    return values


def call(function, kwargs: dict):
    """``function(**kwargs)``: with :func:`run_concurrently`, runs tasks of different functions in one pool
    (``run_concurrently(call, [{"function": f, "kwargs": task}, ...], ...)``)."""
    return function(**kwargs)


def run_concurrently(function, tasks: list[dict], workers: int | None, desc: str) -> list:
    """``[function(**task) for task in tasks]``, on ``workers`` processes, results in the tasks' order.

    ``function`` must be importable (a module-level function) and the tasks
    picklable.  ``workers=None``: one per core (at most one per task);
    ``workers=1``: one worker process, one task after another (never the
    calling process, whose thread pools may differ).  A progress bar counts
    finished tasks.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    results = [None] * len(tasks)
    if not tasks:
        return results
    workers = min(len(tasks), os.cpu_count() or 1) if workers is None else max(1, workers)
    progress = tqdm(total=len(tasks), desc=desc, unit="fit")
    spawn = get_context("spawn")
    with environment(worker_environment(workers)), ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        futures = {pool.submit(call, function, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.update()
    progress.close()
    return results


__all__ = ["WORKER_ENVIRONMENT", "call", "environment", "run_concurrently", "worker_environment"]
