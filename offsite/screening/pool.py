"""Screening in parallel by device: a process pool over batches of devices (one Parquet file or
one slice of devices each), on one machine. Each worker runs the whole catalogue on its batch;
devices are independent, so nothing is lost at the seams (R14 compares windows within a batch)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from offsite.screening.engine import screen
from offsite.screening.inputs import Inputs
from offsite.screening.parameters import Catalogue


def screen_batches(
    batches: Iterable[Path],
    load_batch: Callable[[Path], Inputs],
    catalogue: Catalogue,
    *,
    workers: int | None = None,
) -> pl.DataFrame:
    """The clues of every batch (``load_batch`` reads one into ``Inputs``), highest score first."""
    workers = workers or os.cpu_count() or 1
    jobs = [(path, load_batch, catalogue) for path in batches]
    found = [_one(job) for job in jobs] if workers == 1 else _in_pool(jobs, workers)
    clues = [c for c in found if c.height]
    if not clues:
        return found[0] if found else pl.DataFrame()
    return pl.concat(clues).sort("score", "mn", "start", descending=[True, False, False])


def _in_pool(jobs: list[tuple[Path, Callable[[Path], Inputs], Catalogue]], workers: int) -> list[pl.DataFrame]:
    # Spawned, not forked: forking a process whose Polars thread pool is running can deadlock.
    # Each worker's Polars keeps to one thread (read from the environment when it starts): the
    # pool is the parallelism.
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_one, jobs))
    finally:
        if before is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = before


def _one(job: tuple[Path, Callable[[Path], Inputs], Catalogue]) -> pl.DataFrame:
    path, load_batch, catalogue = job
    return screen(load_batch(path), catalogue).clues
