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

import polars as pl

from offsite.screening.detectors.common import china_day, hourly, valid
from offsite.screening.inputs import PROFILES
from offsite.screening.parameters import Catalogue
from offsite.screening.prepared import Prepared

OUT_OF_SERVICE, O2_HIGH, NEAR_LIMIT = "out_of_service_hours", "o2", "near_limit_share"
MAINTENANCE_FLAGS = ("M", "C", "D")
ANY_INDUSTRY = "*"


@dataclass(frozen=True, slots=True)
class Observations:
    days: pl.DataFrame
    """``mn, day, hours``: hours out of service (M, C or D) per device-day with data, zeros included."""
    o2: pl.DataFrame
    """``mn, o2``: hourly O2 while operating, outside approved marks."""
    shares: pl.DataFrame
    """``mn, factor, share, hours``: per series, its valid hours and the share of them in
    [``band_low`` × limit, limit)."""

    @classmethod
    def empty(cls) -> Observations:
        return cls(
            pl.DataFrame(schema={"mn": pl.String(), "day": pl.Date(), "hours": pl.Float64()}),
            pl.DataFrame(schema={"mn": pl.String(), "o2": pl.Float64()}),
            pl.DataFrame(
                schema={"mn": pl.String(), "factor": pl.String(), "share": pl.Float64(), "hours": pl.UInt32()}
            ),
        )

    def __add__(self, other: Observations) -> Observations:
        return Observations(
            pl.concat([self.days, other.days]), pl.concat([self.o2, other.o2]), pl.concat([self.shares, other.shares])
        )


def observe(p: Prepared, catalogue: Catalogue) -> Observations:
    """What one batch contributes to the profiles."""
    days = device_days(p).select("mn", "day", "hours")
    shares = near_limit_shares(p, catalogue.params("R08")["band_low"]).select("mn", "factor", "share", "hours")
    return Observations(days, _o2(p), shares)


def profile(observed: Observations, industries: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """The profiles of every industry (``industries``: ``mn, industry``; a device without one,
    and every device when none are given, counts in industry ``*``)."""
    r07, r08, r09 = catalogue.params("R07"), catalogue.params("R08"), catalogue.params("R09")
    days = (
        _industry(observed.days, industries)
        .group_by("industry")
        .agg(
            pl.lit(OUT_OF_SERVICE).alias("metric"),
            pl.lit(ANY_INDUSTRY).alias("factor"),
            pl.col("hours").quantile(r07["peer_quantile"]).alias("value"),
            pl.col("mn").n_unique().alias("peers"),
        )
    )
    o2 = (
        _industry(observed.o2, industries)
        .group_by("industry")
        .agg(
            pl.lit(O2_HIGH).alias("metric"),
            pl.lit(ANY_INDUSTRY).alias("factor"),
            pl.col("o2").quantile(r09["peer_quantile"]).alias("value"),
            pl.col("mn").n_unique().alias("peers"),
        )
    )
    shares = (
        _industry(observed.shares.filter(pl.col("hours") >= r08["peer_min_hours"]), industries)
        .group_by("industry", "factor")
        .agg(
            pl.lit(NEAR_LIMIT).alias("metric"),
            pl.col("share").quantile(r08["peer_quantile"]).alias("value"),
            pl.col("mn").n_unique().alias("peers"),
        )
    )
    frames = [f.select(PROFILES.names()).cast(PROFILES) for f in (days, o2, shares)]
    return pl.concat(frames).sort("industry", "metric", "factor")


def of_device(p: Prepared, profiles: pl.DataFrame, metric: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``mn``, and ``factor`` for a per-factor metric) joined to its industry's
    profile for ``metric``: ``typical`` (the profile's value) and ``peers``."""
    chosen = profiles.filter(pl.col("metric") == metric).rename({"value": "typical"})
    with_industry = _industry(frame, p.inputs.industries)
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
    return days.join(counted, on=["mn", "day"], how="left").with_columns(pl.col("hours").fill_null(0.0))


def _o2(p: Prepared) -> pl.DataFrame:
    frame = valid(p.pollutants).filter(pl.col("o2").is_not_null() & pl.col("operating") & ~pl.col("marked"))
    if frame.is_empty():
        return pl.DataFrame(schema={"mn": pl.String(), "o2": pl.Float64()})
    # O2 is the device's, not the factor's: one value per device-hour
    return hourly(frame.unique(["mn", "time"]), ["o2"], keys=("mn",)).select("mn", "o2")


def near_limit_shares(p: Prepared, band_low: float) -> pl.DataFrame:
    """``mn, factor, share, hours, start, end``: each series' valid hourly means, the share of
    them in [``band_low`` × limit, limit), and the span of those."""
    hours = hourly(
        valid(p.pollutants).filter(pl.col("limit").is_not_null() & pl.col("operating") & ~pl.col("marked")),
        ["value", "limit"],
    )
    band = (pl.col("value") >= band_low * pl.col("limit")) & (pl.col("value") < pl.col("limit"))
    return hours.group_by("mn", "factor").agg(
        band.mean().alias("share"),
        pl.len().alias("hours"),
        pl.col("hour").filter(band).min().alias("start"),
        (pl.col("hour").filter(band).max() + pl.duration(hours=1)).alias("end"),
    )
