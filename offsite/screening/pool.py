"""Screening in parallel by device: a process pool over batches of devices (one Parquet file, or
one slice of the registry's devices in the database mode), on one machine. Devices are
independent, so nothing is lost at the seams (R14 compares windows within a batch) — except
peers, which are compared across batches. So each worker runs the first step of the catalogue on
its batch (``engine.screen_own``: every rule that reads the device's own readings, and the
device's observations for the peers); once all batches are back, the industries are profiled over
all of them, and the second step (``engine.complete``: the peer rules, R11, the joining) runs here
on the workers' small outcomes. Every batch is read and prepared once. (The database mode knows
its profiles beforehand, stored by the nightly pass: there each worker does both steps.)"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import reduce
from operator import add
from pathlib import Path
from typing import TypeVar

import polars as pl

from offsite.screening import profiles
from offsite.screening.engine import Partial, Result, complete, screen_own
from offsite.screening.inputs import Inputs
from offsite.screening.parameters import Catalogue

Loader = Callable[[Path], Inputs]
Job = TypeVar("Job")
Outcome = TypeVar("Outcome")


def screen_batches(
    batches: Iterable[Path],
    load_batch: Loader,
    catalogue: Catalogue,
    *,
    workers: int | None = None,
    peer_profiles: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The clues of every batch (``load_batch`` reads one into ``Inputs``), highest score first.
    Peers are profiled over all the batches together, unless ``peer_profiles`` are given."""
    found = [
        r.clues for _, r in screen_each(batches, load_batch, catalogue, workers=workers, peer_profiles=peer_profiles)
    ]
    clues = [c for c in found if c.height]
    if not clues:
        return found[0] if found else pl.DataFrame()
    return pl.concat(clues).sort("score", "mn", "start", descending=[True, False, False])


def screen_each(
    batches: Iterable[Path],
    load_batch: Loader,
    catalogue: Catalogue,
    *,
    workers: int | None = None,
    peer_profiles: pl.DataFrame | None = None,
) -> list[tuple[Path, Result]]:
    """Each batch with its result (clues, hits, parameters, notices)."""
    paths = list(batches)
    jobs = [(path, load_batch, catalogue) for path in paths]
    partials = in_pool(_first_step, jobs, workers)
    if peer_profiles is None:
        peer_profiles = profile_partials(partials, catalogue)
    return [(path, complete(partial, peer_profiles, catalogue)) for path, partial in zip(paths, partials, strict=True)]


def profile_partials(partials: list[Partial], catalogue: Catalogue) -> pl.DataFrame:
    """The peer profiles of the devices of every batch together."""
    observed = reduce(add, (p.observations for p in partials), profiles.Observations.empty())
    industries = [p.industries for p in partials if not p.industries.is_empty()]
    return profiles.profile(observed, pl.concat(industries) if industries else pl.DataFrame(), catalogue)


def in_pool(work: Callable[[Job], Outcome], jobs: list[Job], workers: int | None) -> list[Outcome]:
    """``work`` done on each job, in a pool of ``workers`` processes (default: one per core), or
    here when one process is all it takes. ``work`` and the jobs must pickle."""
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return [work(job) for job in jobs]
    # Spawned, not forked: forking a process whose Polars thread pool is running can deadlock.
    # Each worker's Polars keeps to one thread (read from the environment when it starts): the
    # pool is the parallelism.
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(work, jobs))
    finally:
        if before is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = before


def _first_step(job: tuple[Path, Loader, Catalogue]) -> Partial:
    path, load_batch, catalogue = job
    return screen_own(load_batch(path), catalogue)
