"""Screening in parallel by device: a process pool over batches of devices (one Parquet file or
one slice of devices each), on one machine. Devices are independent, so nothing is lost at the
seams (R14 compares windows within a batch) — except peers, which are compared across batches:
a first pass over every batch takes what the profiles need (``offsite.screening.profiles``), and
the second, the screening, reads the profiles computed from all of them."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import reduce
from operator import add
from pathlib import Path
from typing import Any

import polars as pl

from offsite.screening import profiles
from offsite.screening.engine import screen
from offsite.screening.inputs import Inputs
from offsite.screening.parameters import Catalogue
from offsite.screening.prepared import prepare

Loader = Callable[[Path], Inputs]


def screen_batches(
    batches: Iterable[Path],
    load_batch: Loader,
    catalogue: Catalogue,
    *,
    workers: int | None = None,
    peer_profiles: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The clues of every batch (``load_batch`` reads one into ``Inputs``), highest score first.
    Peers are profiled over all the batches first, unless ``peer_profiles`` are given."""
    paths = list(batches)
    workers = workers or os.cpu_count() or 1
    with _pool(workers) as run:
        if peer_profiles is None:
            peer_profiles = profile_batches(paths, load_batch, catalogue, run=run)
        found: list[pl.DataFrame] = run(_screen_one, [(path, load_batch, catalogue, peer_profiles) for path in paths])
    clues = [c for c in found if c.height]
    if not clues:
        return found[0] if found else pl.DataFrame()
    return pl.concat(clues).sort("score", "mn", "start", descending=[True, False, False])


def profile_batches(
    paths: list[Path],
    load_batch: Loader,
    catalogue: Catalogue,
    *,
    run: Callable[[Callable[[Any], Any], list[Any]], list[Any]] | None = None,
) -> pl.DataFrame:
    """The peer profiles of the devices of every batch together."""
    jobs = [(path, load_batch, catalogue) for path in paths]
    parts = run(_observe_one, jobs) if run is not None else [_observe_one(job) for job in jobs]
    if not parts:
        return profiles.profile(profiles.Observations.empty(), pl.DataFrame(), catalogue)
    observed = reduce(add, (o for o, _ in parts))
    industries = pl.concat([i for _, i in parts])
    return profiles.profile(observed, industries, catalogue)


@contextmanager
def _pool(workers: int) -> Iterator[Callable[[Callable[[Any], Any], list[Any]], list[Any]]]:
    if workers == 1:
        yield lambda function, jobs: [function(job) for job in jobs]
        return
    # Spawned, not forked: forking a process whose Polars thread pool is running can deadlock.
    # Each worker's Polars keeps to one thread (read from the environment when it starts): the
    # pool is the parallelism.
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield lambda function, jobs: list(pool.map(function, jobs))
    finally:
        if before is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = before


def _observe_one(job: tuple[Path, Loader, Catalogue]) -> tuple[profiles.Observations, pl.DataFrame]:
    path, load_batch, catalogue = job
    inputs = load_batch(path)
    return profiles.observe(prepare(inputs), catalogue), inputs.industries


def _screen_one(job: tuple[Path, Loader, Catalogue, pl.DataFrame]) -> pl.DataFrame:
    path, load_batch, catalogue, peer_profiles = job
    return screen(replace(load_batch(path), profiles=peer_profiles), catalogue).clues
