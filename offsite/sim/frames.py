"""A planted series as the long frames ``offsite screen`` and ``offsite aggregate`` read:
``mn, factor, time, value, flag`` (missing minutes left out), and video outages ``mn, start, end``.
Power rows become factors ``power:production`` / ``power:treatment`` on the device's MN."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import numpy as np
import polars as pl

from offsite.sim.scenarios import Series


def long_frame(planted: Sequence[Series], meter_roles: Mapping[str, str] | None = None) -> pl.DataFrame:
    """``meter_roles``: meter code → ``production`` or ``treatment``."""
    roles = dict(meter_roles or {})
    parts = []
    for s in planted:
        minutes = len(s.missing)
        times = pl.datetime_range(s.start, s.start + timedelta(minutes=minutes - 1), "1m", eager=True, time_zone="UTC")
        keep = ~s.missing
        for factor, values in s.values.items():
            parts.append(
                pl.DataFrame(
                    {
                        "mn": np.full(int(keep.sum()), s.mn),
                        "factor": np.full(int(keep.sum()), factor),
                        "time": times.filter(pl.Series(keep)),
                        "value": values[keep],
                        "flag": s.flags[factor][keep],
                    }
                )
            )
        if s.power:
            parts.append(
                pl.DataFrame(
                    [(s.mn, f"power:{roles.get(meter, meter)}", at, kw, "N") for meter, at, kw in s.power],
                    schema=["mn", "factor", "time", "value", "flag"],
                    orient="row",
                ).with_columns(pl.col("time").dt.convert_time_zone("UTC"))
            )
    schema = pl.Schema(
        {
            "mn": pl.String(),
            "factor": pl.String(),
            "time": pl.Datetime("us", "UTC"),
            "value": pl.Float64(),
            "flag": pl.String(),
        }
    )
    return pl.concat([p.cast(schema) for p in parts]) if parts else pl.DataFrame(schema=schema)


def video_frame(planted: Sequence[Series]) -> pl.DataFrame:
    rows = [(s.mn, start, end) for s in planted for _, _, start, end in s.video]
    return pl.DataFrame(
        rows, schema={"mn": pl.String, "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}, orient="row"
    )
