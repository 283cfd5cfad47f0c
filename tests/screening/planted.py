"""Three days of simulated flue-gas minutes per device, with one scenario planted in each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

from offsite.screening.engine import Result, screen
from offsite.screening.inputs import MARKS, Inputs
from offsite.screening.parameters import Catalogue, load
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame, video_frame
from offsite.sim.signals import GAS, series

START = datetime(2026, 11, 1, 16, tzinfo=UTC)  # 2026-11-02 00:00 China time
MINUTES = 3 * 1440
LIMIT = 100.0
AT = 1500  # 2026-11-03 01:00 China time


def device(
    mn: str, seed: int, plant: Callable[[sc.Series], None] | None = None, *, start: datetime = START
) -> sc.Series:
    s = sc.Series(mn, start, series(GAS, start, MINUTES, seed=seed))
    if plant is not None:
        plant(s)
    return s


def run(planted: list[sc.Series], *, marks: pl.DataFrame | None = None, catalogue: Catalogue | None = None) -> Result:
    data = long_frame(planted, {"P": "production", "T": "treatment"})
    limits = pl.DataFrame({"mn": [s.mn for s in planted], "factor": "a21026", "limit": LIMIT, "basis": "measured"})
    inputs = Inputs(
        data,
        limits=limits,
        video=video_frame(planted),
        marks=marks if marks is not None else pl.DataFrame(schema=MARKS),
    )
    return screen(inputs, catalogue or load())


def fired(result: Result, mn: str) -> set[str]:
    return {rule for rules in result.clues.filter(pl.col("mn") == mn)["rules"].to_list() for rule in rules}
