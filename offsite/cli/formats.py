"""The ``--format`` option every listing takes, and how numbers read for people.

Tables are for people (zh-CN headers, units, rounding, ``-`` for none); ``--format json`` or
``csv`` (``--json`` and ``--csv`` for short) hand the same rows to machines unrounded, times in
ISO 8601 with their +08:00 offset (``output.emit_rows``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from offsite.cli.output import Format

FormatOption = Annotated[
    Format,
    typer.Option(
        "--format", help="table for people; json or csv for machines (times ISO 8601 with +08:00).", show_default=True
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Same as --format csv.")]


def chosen(fmt: Format, as_json: bool = False, as_csv: bool = False) -> Format:
    """The format asked for; ``--json`` and ``--csv`` together are a contradiction, refused."""
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json/--csv")
    if as_json:
        return Format.json
    if as_csv:
        return Format.csv
    return fmt


def percent(share: float | None) -> str:
    """``0.9583`` → ``95.8 %``; none (nothing to divide by) → ``-``."""
    return "-" if share is None else f"{share:.1%}".replace("%", " %")


def amount(value: float | None, digits: int = 3) -> str:
    """A quantity rounded for reading: ``digits`` significant figures, thousands grouped, no
    exponent below 10¹⁵; none → ``-``."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    decimals = max(0, digits - magnitude) if abs(value) >= 1 else digits + _leading_zeros(abs(value))
    return f"{value:,.{decimals}f}"


def _leading_zeros(value: float) -> int:
    zeros = 0
    while value < 0.1 and zeros < 12:
        value *= 10
        zeros += 1
    return zeros
