"""What the engine screens: one or many devices' series and the context that comes with them.

``data`` holds ``mn, factor, time, value, flag`` (time in UTC). Pollutants, flow, O2 and the
power series (``power:production``, ``power:treatment``) share it, keyed by the device's MN.
The other frames are optional (empty when not given): limits per ``mn, factor`` (``limit``,
``basis``, ``o2_ref``), video outages (``mn, start, end``), data marks (``mn, start, end, kind, approved,
filed_at, factor``) and instrument facts (``mn, factor, range_max, detection_limit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

DATA = pl.Schema(
    {
        "mn": pl.String(),
        "factor": pl.String(),
        "time": pl.Datetime("us", "UTC"),
        "value": pl.Float64(),
        "flag": pl.String(),
    }
)
LIMITS = pl.Schema(
    {"mn": pl.String(), "factor": pl.String(), "limit": pl.Float64(), "basis": pl.String(), "o2_ref": pl.Float64()}
)
"""``o2_ref`` (optional): the reference O2 of a limit on the corrected basis, so that rules judge
the corrected value as the standard does."""
VIDEO = pl.Schema({"mn": pl.String(), "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")})
MARKS = pl.Schema(
    {
        "mn": pl.String(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "kind": pl.String(),
        "approved": pl.Boolean(),
        "filed_at": pl.Datetime("us", "UTC"),
        "factor": pl.String(),
    }
)
"""``factor``: the one factor a mark covers; none: every factor of the device."""
INDUSTRIES = pl.Schema({"mn": pl.String(), "industry": pl.String()})
SCOPES = pl.Schema({"mn": pl.String(), "scope": pl.String()})
"""The unit (``unit:<credit code>``) and outlet (``outlet:<id>``) of each device, for parameter
overrides; its industry's scope comes from ``INDUSTRIES``, its own (``mn:<MN>``) from its MN."""
DEVICES = pl.Schema(
    {"mn": pl.String(), "factor": pl.String(), "range_max": pl.Float64(), "detection_limit": pl.Float64()}
)
CHANGES = pl.Schema(
    {
        "mn": pl.String(),
        "factor": pl.String(),
        "time": pl.Datetime("us", "UTC"),
        "info": pl.String(),
        "before": pl.String(),
        "after": pl.String(),
    }
)
"""Instrument parameters the device reported changed (3020): range i13001, intercept i13007,
slope i13008 … Only the database carries them."""
COMPARISONS = pl.Schema(
    {
        "mn": pl.String(),
        "factor": pl.String(),
        "time": pl.Datetime("us", "UTC"),
        "reference": pl.Float64(),
        "online": pl.Float64(),
        "source": pl.String(),
    }
)
"""Comparison tests (a reference measurement beside the analyser). Only the database carries them."""
PROFILES = pl.Schema(
    {
        "industry": pl.String(),
        "metric": pl.String(),
        "factor": pl.String(),
        "value": pl.Float64(),
        "peers": pl.Int64(),
    }
)
"""Peer profiles (``offsite.screening.profiles``): ``factor`` is ``*`` for a metric of the whole
device, ``peers`` the number of devices behind ``value``."""


@dataclass(frozen=True, slots=True)
class Inputs:
    data: pl.DataFrame
    limits: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LIMITS))
    video: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIDEO))
    marks: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MARKS))
    devices: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DEVICES))
    changes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CHANGES))
    comparisons: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=COMPARISONS))
    industries: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INDUSTRIES))
    """``mn, industry``: the peers a device is compared with (without it, all devices screened together)."""
    scopes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SCOPES))
    """``mn, scope``: where a device sits, for the overrides of the rules' parameters."""
    profiles: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROFILES))
    """The industries' profiles, computed beforehand over all the peers; without them the engine
    profiles the devices it is given."""
