"""Reading a device's or an outlet's series as a Polars DataFrame, through Arrow (ADBC).

The screening engine reads a month of minute data per outlet at a time; going through Python
row objects would cost seconds, so the query runs on an ADBC connection and lands in Arrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from offsite.db.base import to_micros
from offsite.store.models import MINUTE

INTERVAL_COLUMNS = ("device_id", "factor", "ts", "min", "avg", "max", "cou", "zs_min", "zs_avg", "zs_max", "flag")


def read_interval(
    engine: Engine,
    device_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    period: int = MINUTE,
    factors: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Interval values with ``start <= ts < end``, sorted by device, factor and time; ``ts`` in UTC."""
    if not device_ids:
        return _empty()
    dialect = engine.dialect.name
    ids = ", ".join(str(int(i)) for i in device_ids)
    where = [f"device_id IN ({ids})", f"period = {int(period)}"]
    if dialect == "sqlite":
        where.append(f"ts >= {to_micros(start)} AND ts < {to_micros(end)}")
    else:
        where.append(f"ts >= '{start.isoformat()}' AND ts < '{end.isoformat()}'")
    if factors:
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in factors)
        where.append(f"factor IN ({quoted})")
    query = (
        f"SELECT {', '.join(INTERVAL_COLUMNS)} FROM interval_value WHERE {' AND '.join(where)} "
        "ORDER BY device_id, factor, ts"
    )
    frame = pl.read_database_uri(query, _adbc_uri(engine), engine="adbc")
    if frame.is_empty():
        return _empty()
    if dialect == "sqlite":
        frame = frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    else:
        frame = frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    return frame.with_columns(pl.col("device_id").cast(pl.Int64))


def _adbc_uri(engine: Engine) -> str:
    url = make_url(engine.url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("an in-memory SQLite database cannot be read through a second connection")
        return f"sqlite:///{url.database}"  # Polars strips "sqlite:///": an absolute path keeps its "/"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _empty() -> pl.DataFrame:
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "device_id": pl.Int64,
        "factor": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "flag": pl.String,
    }
    for column in INTERVAL_COLUMNS:
        schema.setdefault(column, pl.Float64)
    return pl.DataFrame(schema={c: schema[c] for c in INTERVAL_COLUMNS})
