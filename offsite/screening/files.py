"""Reading the file mode's inputs (CSV or Parquet), refusing a malformed one with the row at fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from offsite.hj212.codes.factors import factor_info
from offsite.quality.markkinds import MarkKinds, UnknownMarkKind, mark_kinds
from offsite.quality.timestamps import no_offset, offset_missing, parse_utc
from offsite.registry.standards import default_standards
from offsite.screening.inputs import DATA, DEVICES, INDUSTRIES, LIMITS, MARKS, VIDEO, Inputs

KNOWN_FLAGS = ("N", "F", "M", "S", "D", "C", "T", "B", "P")
BASES = ("measured", "corrected")


class InputError(ValueError):
    """An input file that cannot be screened: names the file, the row (header = row 1) and why."""


def read_inputs(
    data: Path,
    *,
    limits: Path | None = None,
    video: Path | None = None,
    marks: Path | None = None,
    devices: Path | None = None,
    industries: Path | None = None,
    kinds: MarkKinds | None = None,
) -> Inputs:
    """``kinds``: the mark kinds table (``mark_kinds_file``); none: the packaged one."""
    return Inputs(
        read_data(data),
        _read(limits, LIMITS, _limits) if limits else pl.DataFrame(schema=LIMITS),
        _read(video, VIDEO, _video) if video else pl.DataFrame(schema=VIDEO),
        _read(marks, MARKS, lambda p, f: _marks(p, f, kinds or mark_kinds()), optional=("filed_at", "factor"))
        if marks
        else pl.DataFrame(schema=MARKS),
        _read(devices, DEVICES, _devices) if devices else pl.DataFrame(schema=DEVICES),
        industries=_read(industries, INDUSTRIES, _industries) if industries else pl.DataFrame(schema=INDUSTRIES),
    )


def read_data(path: Path) -> pl.DataFrame:
    frame = _frame(path, ("mn", "factor", "time", "value", "flag"))
    frame = frame.with_columns(
        _time(path, frame, "time"),
        _number(path, frame, "value"),
        pl.col("flag").fill_null("N").str.strip_chars(),
    )
    bad = frame.filter(~pl.col("flag").is_in(KNOWN_FLAGS) & (pl.col("flag") != ""))
    _refuse(path, bad, lambda r: f"flag {r['flag']!r} is not an HJ 212 data flag")
    missing = frame.filter(pl.col("mn").is_null() | pl.col("factor").is_null())
    _refuse(path, missing, lambda r: "mn and factor are required")
    return frame.with_columns(pl.col("flag").replace("", "N")).select(DATA.names()).cast(DATA)


def _limits(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    for optional in ("limit", "basis", "o2_ref", "standard"):
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(optional))
    frame = frame.with_columns(
        _number(path, frame, "limit"),
        _number(path, frame, "o2_ref"),
        pl.col("standard").str.strip_chars().replace("", None),
    )
    _refuse(
        path,
        frame.filter(pl.col("limit").is_null() & pl.col("standard").is_null()),
        lambda r: "limit is required (or a standard to take it from)",
    )
    known = default_standards()
    _refuse(
        path,
        frame.filter(pl.col("standard").is_not_null() & ~pl.col("standard").is_in(list(known))),
        lambda r: f"standard {r['standard']!r} is not in the default table (known: {', '.join(known)})",
    )
    frame = _from_standards(frame.with_columns(pl.col("basis").fill_null("measured")))
    _refuse(
        path,
        frame.filter(~pl.col("o2_ref").is_between(0, 21, closed="left")),
        lambda r: f"o2_ref {r['o2_ref']!r} is not an O2 content (0 to under 21 %)",
    )
    _refuse(path, frame.filter(~(pl.col("limit") > 0)), lambda r: f"limit {r['limit']!r} is not above 0")
    _refuse(
        path,
        frame.filter(~pl.col("basis").is_in(BASES)),
        lambda r: f"basis {r['basis']!r} is not measured or corrected",
    )
    return frame


def _from_standards(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows that name a standard instead of a limit take the standard's (``factor`` ``*``: every
    factor it limits), on the corrected basis at its reference O2 where it has one. A factor the
    standard does not limit is left without: the engine says so and skips it."""
    given = frame.filter(pl.col("limit").is_not_null())
    rows = []
    for row in frame.filter(pl.col("limit").is_null()).iter_rows(named=True):
        chosen = default_standards()[row["standard"]]
        factors = list(chosen.limits) if row["factor"] == "*" else [row["factor"]]
        for factor in factors:
            if factor not in chosen.limits:
                continue
            corrected = chosen.o2_ref is not None
            rows.append(
                {
                    **row,
                    "factor": factor,
                    "limit": chosen.limits[factor],
                    "basis": "corrected" if corrected else row["basis"],
                    "o2_ref": row["o2_ref"] if row["o2_ref"] is not None else chosen.o2_ref,
                }
            )
    taken = pl.DataFrame(rows, schema=given.schema, orient="row") if rows else given.clear()
    # a limit given for a factor stands before one a standard would give
    return pl.concat([given, taken.join(given, on=["mn", "factor"], how="anti")])


def _video(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(_time(path, frame, "start"), _time(path, frame, "end"))
    _refuse(path, frame.filter(pl.col("end") <= pl.col("start")), lambda r: "the window ends before it starts")
    return frame


def _marks(path: Path, frame: pl.DataFrame, kinds: MarkKinds) -> pl.DataFrame:
    """Marks with their kind as the table's key (停运 → stopped), refused on a kind the table does
    not hold; an optional ``factor`` column scopes a row's mark to that factor of the device."""
    for optional in ("filed_at", "factor"):
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(optional))
    frame = frame.with_columns(pl.col("factor").str.strip_chars().replace("", None))
    _refuse(
        path,
        frame.filter(pl.col("factor").is_not_null() & ~pl.col("factor").map_elements(_known, return_dtype=pl.Boolean)),
        lambda r: f"factor {r['factor']!r} is not an HJ 212-2017 factor code (e.g. a34013)",
    )
    _refuse(path, frame.filter(pl.col("kind").is_null()), lambda r: f"kind is empty; accepted: {kinds.accepted()}")
    canonical: dict[str, str | None] = {}
    for text in frame["kind"].drop_nulls().unique():
        try:
            canonical[text] = kinds.canonical(text)
        except UnknownMarkKind:
            canonical[text] = None
    frame = frame.with_columns(
        pl.col("kind").alias("_kind"), pl.col("kind").replace_strict(canonical, default=None, return_dtype=pl.String)
    )
    _refuse(
        path,
        frame.filter(pl.col("kind").is_null()),
        lambda r: f"kind {r['_kind']!r} is not a mark kind; accepted: {kinds.accepted()}",
    )
    frame = _video(path, frame).with_columns(
        pl.when(pl.col("filed_at").is_null())
        .then(None)
        .otherwise(_time(path, frame, "filed_at", optional=True))
        .alias("filed_at"),
        pl.col("approved").str.to_lowercase(),
    )
    _refuse(
        path,
        frame.filter(~pl.col("approved").is_in(["true", "false"])),
        lambda r: f"approved {r['approved']!r} is not true or false",
    )
    return frame.with_columns(pl.col("approved") == "true")


def _known(code: str) -> bool:
    return factor_info(code) is not None


def _devices(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        _number(path, frame, "range_max", optional=True), _number(path, frame, "detection_limit", optional=True)
    )


def _industries(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    _refuse(path, frame.filter(pl.col("industry").is_null()), lambda r: "industry is required")
    return frame


def _read(
    path: Path,
    schema: pl.Schema,
    check: Callable[[Path, pl.DataFrame], pl.DataFrame],
    *,
    optional: tuple[str, ...] = ("basis", "o2_ref", "limit"),
) -> pl.DataFrame:
    required = [c for c in schema.names() if c not in optional]
    return check(path, _frame(path, tuple(required))).select(schema.names()).cast(schema)


def _frame(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path).cast(pl.String)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing columns {', '.join(missing)} (need {','.join(required)})")
    return frame.with_row_index("row", offset=2)


def _time(path: Path, frame: pl.DataFrame, column: str, *, optional: bool = False) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    _refuse(path, frame.filter(offset_missing(text)), lambda r: no_offset(column, r[column]))
    parsed = frame.select(parse_utc(text)).to_series()
    bad = frame.filter(parsed.is_null() & (frame[column].is_not_null() | (not optional)))
    _refuse(
        path,
        bad,
        lambda r: (
            f"{column} is empty" if r[column] is None else f"{column} {r[column]!r} is not ISO 8601 with an offset"
        ),
    )
    return pl.lit(parsed).alias(column)


def _number(path: Path, frame: pl.DataFrame, column: str, *, optional: bool = True) -> pl.Expr:
    text = frame[column].str.strip_chars()
    parsed = text.cast(pl.Float64, strict=False)
    bad = frame.filter(parsed.is_null() & text.is_not_null() & (text != ""))
    _refuse(path, bad, lambda r: f"{column} {r[column]!r} is not a number")
    if not optional:
        _refuse(path, frame.filter(parsed.is_null()), lambda r: f"{column} is required")
    return pl.lit(parsed).alias(column)


def _refuse(path: Path, bad: pl.DataFrame, reason: Callable[[dict[str, Any]], str]) -> None:
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(f"{path} row {row['row']}: {reason(row)}")
