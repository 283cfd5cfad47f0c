"""超标倍数: how far a value is above its limit, as officers write it.

The exceedance multiple is (C − L) / L ("超标 0.5 倍" for 150 against 100), the ratio C / L
("1.5 倍于限值"). A range (pH 6–9) has no multiple: being 2 units outside it is not "times" anything.
"""

from __future__ import annotations

import polars as pl


def exceedance_multiple(value: float | None, limit: float | None) -> float | None:
    """(value − limit) / limit; none without a positive upper limit or a value."""
    if value is None or limit is None or limit <= 0:
        return None
    return (value - limit) / limit


def limit_ratio(value: float | None, limit: float | None) -> float | None:
    """value / limit; none without a positive upper limit or a value."""
    if value is None or limit is None or limit <= 0:
        return None
    return value / limit


def multiple_columns(value: str = "value", limit: str = "limit", lower: str | None = "lower") -> list[pl.Expr]:
    """``ratio`` (C / L) and ``multiple`` ((C − L) / L) of a frame's rows; null where the limit is
    a range (it has a lower bound, as pH does) or there is no upper limit."""
    upper = pl.col(limit)
    usable = upper.is_not_null() & (upper > 0)
    if lower is not None:
        usable = usable & pl.col(lower).is_null()
    ratio = pl.when(usable).then(pl.col(value) / upper)
    return [ratio.alias("ratio"), (ratio - 1.0).alias("multiple")]
