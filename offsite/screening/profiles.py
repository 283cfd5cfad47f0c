"""Peer profiles: what is usual for an industry, computed in a pass of its own and read by the
rules that compare a device with its peers (R07 out-of-service hours, R08 hours near the limit,
R09 O2).

A province is screened in batches of devices (a process per batch, a batch per Parquet file or
per slice of the store), and a batch seldom holds a whole industry. So the profile pass first
takes ``Observations`` from every batch — the few numbers per device the profiles need — and
only then computes the quantiles per industry, over all of them. The database keeps the last
profiles computed (``peer_profile``), so that the hourly screening of the last day compares a
device with a month of its peers rather than with the other devices of its batch that hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from offsite.screening.detectors.common import china_day, hourly, hours_against_limit, valid
from offsite.screening.inputs import PROFILES
from offsite.screening.parameters import Catalogue
from offsite.screening.prepared import Prepared

OUT_OF_SERVICE, O2_HIGH, NEAR_LIMIT = "out_of_service_hours", "o2", "near_limit_share"
MAINTENANCE_FLAGS = ("M", "C", "D")
ANY_INDUSTRY = "*"


DAYS = pl.Schema(
    {
        "mn": pl.String(),
        "day": pl.Date(),
        "hours": pl.Float64(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
    }
)
O2_HOURS = pl.Schema({"mn": pl.String(), "o2": pl.Float64()})
O2_DAYS = pl.Schema(
    {
        "mn": pl.String(),
        "factor": pl.String(),
        "day": pl.Date(),
        "o2": pl.Float64(),
        "value": pl.Float64(),
        "usual": pl.Float64(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
    }
)
SHARES = pl.Schema(
    {
        "mn": pl.String(),
        "factor": pl.String(),
        "share": pl.Float64(),
        "hours": pl.Int64(),
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True, slots=True)
class Observations:
    """A few numbers per device: what the profiles are computed from, and what the peer rules
    compare with them. Small beside the readings, so a batch's can be sent from a worker process
    and those of a province held together."""

    days: pl.DataFrame
    """``DAYS``: hours out of service (M, C or D) per device-day with data, zeros included, and
    the span of the flagged readings (null on a day with none)."""
    o2: pl.DataFrame
    """``O2_HOURS``: hourly O2 while operating, outside approved marks."""
    o2_days: pl.DataFrame
    """``O2_DAYS``: per series and China day with ``peer_day_hours`` hours or more, the O2 median,
    the pollutant's mean and the series' usual (median) daily mean."""
    shares: pl.DataFrame
    """``SHARES``: per series, its valid hours, the share of them in [``band_low`` × limit,
    limit), and the span of those."""

    @classmethod
    def empty(cls) -> Observations:
        return cls(*(pl.DataFrame(schema=schema) for schema in (DAYS, O2_HOURS, O2_DAYS, SHARES)))

    def __add__(self, other: Observations) -> Observations:
        return Observations(*(pl.concat([a, b]) for a, b in zip(self.frames(), other.frames(), strict=True)))

    def frames(self) -> tuple[pl.DataFrame, ...]:
        return self.days, self.o2, self.o2_days, self.shares

    def only(self, keep: pl.Expr) -> Observations:
        """The observations of the devices ``keep`` (an expression on ``mn``) selects."""
        return Observations(*(frame.filter(keep) for frame in self.frames()))


def observe(p: Prepared, catalogue: Catalogue) -> Observations:
    """What one batch contributes to the profiles and gives the peer rules to judge."""
    o2 = valid(p.pollutants).filter(pl.col("o2").is_not_null() & pl.col("operating") & ~pl.col("marked"))
    return Observations(
        device_days(p).cast(DAYS),
        _o2_hours(o2).cast(O2_HOURS),
        _o2_days(o2, catalogue.params("R09")["peer_day_hours"]).cast(O2_DAYS),
        near_limit_shares(p, catalogue.params("R08")["band_low"]).cast(SHARES),
    )


def profile(observed: Observations, industries: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """The profiles of every industry (``industries``: ``mn, industry``; a device without one,
    and every device when none are given, counts in industry ``*``). An industry with overrides
    of its own (``[override."industry:…".R07]``) is profiled with them."""
    whole = pl.lit(ANY_INDUSTRY).alias("factor")
    frames = []
    for params, keep in _by_industry("R07", catalogue):
        days = _industry(observed.days, industries).filter(keep)
        frames.append(_quantile(days, ["industry"], "hours", params["peer_quantile"], OUT_OF_SERVICE, whole))
    for params, keep in _by_industry("R09", catalogue):
        o2 = _industry(observed.o2, industries).filter(keep)
        frames.append(_quantile(o2, ["industry"], "o2", params["peer_quantile"], O2_HIGH, whole))
    for params, keep in _by_industry("R08", catalogue):
        shares = _industry(observed.shares, industries).filter(keep & (pl.col("hours") >= params["peer_min_hours"]))
        frames.append(_quantile(shares, ["industry", "factor"], "share", params["peer_quantile"], NEAR_LIMIT))
    return pl.concat([f.select(PROFILES.names()).cast(PROFILES) for f in frames]).sort("industry", "metric", "factor")


def _by_industry(rule: str, catalogue: Catalogue) -> list[tuple[dict[str, Any], pl.Expr]]:
    """The rule's parameters for the industries without overrides of their own, then for each
    industry with them (an expression on ``industry`` each)."""
    own = [scope.partition(":")[2] for scope in catalogue.scoped(rule) if scope.startswith("industry:")]
    groups = [(catalogue.params(rule), ~pl.col("industry").is_in(own))]
    return groups + [(catalogue.params(rule, [f"industry:{code}"]), pl.col("industry") == code) for code in own]


def _quantile(
    frame: pl.DataFrame, keys: list[str], column: str, q: float, metric: str, *extra: pl.Expr
) -> pl.DataFrame:
    return frame.group_by(keys).agg(
        pl.lit(metric).alias("metric"),
        pl.col(column).quantile(q).alias("value"),
        pl.col("mn").n_unique().alias("peers"),
        *extra,
    )


def of_device(industries: pl.DataFrame, profiles: pl.DataFrame, metric: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``mn``, and ``factor`` for a per-factor metric) joined to its industry's
    profile for ``metric``: ``typical`` (the profile's value) and ``peers``."""
    chosen = profiles.filter(pl.col("metric") == metric).rename({"value": "typical"})
    with_industry = _industry(frame, industries)
    if (chosen["factor"] == ANY_INDUSTRY).all():
        return with_industry.join(chosen.select("industry", "typical", "peers"), on="industry")
    return with_industry.join(chosen.select("industry", "factor", "typical", "peers"), on=["industry", "factor"])


def _industry(frame: pl.DataFrame, industries: pl.DataFrame) -> pl.DataFrame:
    if industries.is_empty() or "industry" not in industries.columns:
        return frame.with_columns(pl.lit(ANY_INDUSTRY).alias("industry"))
    return frame.join(industries.unique("mn"), on="mn", how="left").with_columns(
        pl.col("industry").fill_null(ANY_INDUSTRY)
    )


def device_days(p: Prepared) -> pl.DataFrame:
    """``mn, day, hours, start, end``: each device-day's hours out of service, and the span of
    its flagged readings (null on a day with none)."""
    # a device-day with nothing out of service counts as zero hours: only the days are needed
    days = p.pollutants.lazy().select("mn", china_day(pl.col("time")).alias("day")).unique().collect()
    flagged = p.pollutants.filter(pl.col("flag").is_in(MAINTENANCE_FLAGS)).with_columns(
        china_day(pl.col("time")).alias("day")
    )
    counted = flagged.group_by("mn", "day").agg(
        # hours out of service, per factor that was out
        (pl.col("step").sum() / pl.col("factor").n_unique() / 3600).alias("hours"),
        pl.col("time").min().alias("start"),
        (pl.col("time").max() + pl.duration(seconds=pl.col("step").max())).alias("end"),
    )
    return (
        days.join(counted, on=["mn", "day"], how="left")
        .with_columns(pl.col("hours").fill_null(0.0))
        .select(DAYS.names())
    )


def _o2_hours(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(schema=O2_HOURS)
    # O2 is the device's, not the factor's: one value per device-hour
    return hourly(frame.unique(["mn", "time"]), ["o2"], keys=("mn",)).select("mn", "o2")


def _o2_days(frame: pl.DataFrame, day_hours: int) -> pl.DataFrame:
    if frame.is_empty():
        return pl.DataFrame(schema=O2_DAYS)
    return (
        hourly(frame, ["value", "o2"])
        .with_columns(china_day(pl.col("hour")).alias("day"))
        .group_by("mn", "factor", "day")
        .agg(
            pl.col("o2").median().alias("o2"),
            pl.col("value").mean().alias("value"),
            pl.col("hour").min().alias("start"),
            (pl.col("hour").max() + pl.duration(hours=1)).alias("end"),
            pl.len().alias("hours"),
        )
        # a day's median and the device's usual level mean little from a few hours of it
        .filter(pl.col("hours") >= day_hours)
        .with_columns(pl.col("value").median().over("mn", "factor").alias("usual"))
        .select(O2_DAYS.names())
    )


def near_limit_shares(p: Prepared, band_low: float) -> pl.DataFrame:
    """``mn, factor, share, hours, start, end``: each series' valid hourly means, the share of
    them in [``band_low`` × limit, limit), and the span of those."""
    hours = hours_against_limit(p.pollutants, ["value", "limit"])
    band = (pl.col("value") >= band_low * pl.col("limit")) & (pl.col("value") < pl.col("limit"))
    return hours.group_by("mn", "factor").agg(
        band.mean().alias("share"),
        pl.len().cast(pl.Int64).alias("hours"),
        pl.col("hour").filter(band).min().alias("start"),
        (pl.col("hour").filter(band).max() + pl.duration(hours=1)).alias("end"),
    )
