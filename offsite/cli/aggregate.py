"""``offsite aggregate``: minute data → valid hourly and daily values, from a file to a file, or on
the database (the noted hours with ``--pending``, or every hour of a span with ``--from``/``--to``,
followed by the regrading of the days that changed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine, day_or_today
from offsite.hj212.times import CST
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from offsite.quality.aggregate import Outlet
    from offsite.quality.intervals import Interval

app = typer.Typer(help="Minute → hour → day, on files or on the database.", invoke_without_command=True)


@app.callback()
def run(
    input_file: Annotated[
        Path | None, typer.Option("--input", help="CSV or Parquet: mn,factor,time,value,flag.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output CSV: mn,factor,period,time,value,corrected,valid,n_valid,n_expected."),
    ] = None,
    outlets: Annotated[
        Path | None,
        typer.Option(
            help="CSV mn,medium[,o2_ref,area_m2,standard,minute_interval_s,flow_basis,flow_unit] (medium gas or "
            "water; o2_ref overrides the standard's; minute_interval_s: seconds between minute records, else "
            "inferred; flow_basis actual_wet or standard_dry; flow_unit m3/s, m3/h or L/s)."
        ),
    ] = None,
    flag_map: Annotated[str | None, typer.Option(help="Map flags before judging them, e.g. O=N,X=D.")] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Database: the hours whose minutes were written since last time.")
    ] = False,
    since: Annotated[str | None, typer.Option("--from", help="Database: first day of a span to recompute.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Database: last day of the span (default: --from).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Aggregate minute data to hours and days, judging validity by the data flags."""
    import polars as pl

    from offsite.quality.aggregate import BadInput, aggregate, device_intervals, read_minutes, write_output
    from offsite.quality.intervals import BadInterval

    if input_file is None:
        _on_database(pending=pending, since=since, until=until, database_url=database_url)
        return
    if out is None:
        raise typer.BadParameter("--input needs --out", param_hint="--out")
    mapping = _flag_map(flag_map)
    try:
        minutes = read_minutes(str(input_file), mapping)
        described = _outlets(outlets) if outlets else {}
    except BadInput as exc:
        typer.echo(f"offsite aggregate: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (OSError, pl.exceptions.PolarsError) as exc:
        typer.echo(f"offsite aggregate: cannot read {input_file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        used = device_intervals(minutes, described)
    except BadInterval as exc:
        typer.echo(f"offsite aggregate: {exc}", err=True)
        raise typer.Exit(2) from exc
    result = aggregate(minutes, described, used=used)
    write_output(result, str(out))
    hours = result.filter(pl.col("period") == "hour")
    typer.echo(
        f"{hours.height} hours ({int(hours['valid'].sum())} valid), {result.height - hours.height} days -> {out}"
    )
    typer.echo(_intervals_line(used))


def _intervals_line(used: dict[tuple[str, str], Interval]) -> str:
    """Which interval judged which device (or device's factor, where its factors differ): an hour
    is valid with 75 % of the records it implies."""
    by_device: dict[str, dict[str, Interval]] = {}
    for (mn, factor), interval in used.items():
        by_device.setdefault(mn, {})[factor] = interval
    groups: dict[tuple[int, str], list[str]] = {}
    for mn, factors in sorted(by_device.items()):
        one = set(factors.values())
        for factor, interval in sorted(factors.items()) if len(one) > 1 else [("", next(iter(one)))]:
            groups.setdefault((interval.seconds, interval.source), []).append(f"{mn} {factor}".strip())
    parts = []
    for (seconds, source), mns in sorted(groups.items()):
        shown = ", ".join(mns[:5]) + (f" and {len(mns) - 5} more" if len(mns) > 5 else "")
        parts.append(f"{seconds} s ({source}, {3600 // seconds} records an hour): {shown}")
    return "minute-data interval: " + "; ".join(parts)


def _on_database(*, pending: bool, since: str | None, until: str | None, database_url: str | None) -> None:
    from offsite.alarms.recompute import recompute, recompute_pending
    from offsite.quality.incremental import aggregate_window

    if pending == (since is not None):
        raise typer.BadParameter("give --input FILE --out FILE, or --pending, or --from DAY [--to DAY]")
    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    now = datetime.now(UTC)
    if pending:
        outcome = recompute_pending(engine, settings=settings, now=now)
        typer.echo(outcome.summary() if outcome else "nothing pending for a day already graded")
        return
    today = now.astimezone(CST).date()
    first = day_or_today(since, today, "--from")
    last = day_or_today(until, first, "--to")
    if first > last:
        raise typer.BadParameter(f"{first} is after {last}", param_hint="--from")
    done = aggregate_window(engine, first, last)
    yesterday = today - timedelta(days=1)
    if first > yesterday:  # only days that have ended are graded
        typer.echo(f"{first}..{last}: {done.hours} hourly and {done.days} daily values computed")
        typer.echo(done.intervals_line())
        return
    detail = f"offsite aggregate --from {first} --to {last}"
    outcome = recompute(
        engine,
        first,
        min(last, yesterday),
        settings=settings,
        now=now,
        trigger="manual",
        detail=detail,
        aggregated=done,
    )
    typer.echo(outcome.summary())
    typer.echo(done.intervals_line())


def _flag_map(text: str | None) -> dict[str, str]:
    mapping = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        source, eq, target = pair.partition("=")
        if not eq or not source.strip() or not target.strip():
            raise typer.BadParameter(f"{pair!r} is not X=Y", param_hint="--flag-map")
        mapping[source.strip()] = target.strip()
    return mapping


def _outlets(path: Path) -> dict[str, Outlet]:
    import polars as pl

    from offsite.quality.aggregate import BadInput, Outlet
    from offsite.quality.intervals import interval_problem
    from offsite.registry.models import FLOW_BASES, FLOW_UNITS

    frame = pl.read_csv(path, infer_schema=False)
    if not {"mn", "medium"} <= set(frame.columns):
        raise BadInput(f"{path}: the outlets file needs at least mn,medium")
    out = {}
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        if row["medium"] not in ("gas", "water"):
            raise BadInput(f"{path} row {number}: medium {row['medium']!r} is not gas or water")
        try:
            o2 = float(row["o2_ref"]) if row.get("o2_ref") else None
            area = float(row["area_m2"]) if row.get("area_m2") else None
            seconds = float(row["minute_interval_s"]) if row.get("minute_interval_s") else None
        except ValueError as exc:
            raise BadInput(f"{path} row {number}: {exc}") from exc
        if o2 is None and row.get("standard"):
            o2 = _standard_o2(path, number, row["standard"])
        problem = interval_problem(seconds)
        if problem:
            raise BadInput(f"{path} row {number}: minute_interval_s {problem}")
        interval = None if seconds is None else int(seconds)
        basis, unit = row.get("flow_basis") or None, row.get("flow_unit") or None
        if basis not in (None, *FLOW_BASES):
            raise BadInput(f"{path} row {number}: flow_basis {basis!r} is not one of {', '.join(FLOW_BASES)}")
        if unit not in (None, *FLOW_UNITS):
            raise BadInput(f"{path} row {number}: flow_unit {unit!r} is not one of {', '.join(FLOW_UNITS)}")
        out[row["mn"]] = Outlet(row["medium"], o2, area, interval, basis, unit)
    return out


def _standard_o2(path: Path, number: int, key: str) -> float | None:
    from offsite.quality.aggregate import BadInput
    from offsite.registry.standards import UnknownStandard, standard

    try:
        return standard(key).o2_ref
    except UnknownStandard as exc:
        raise BadInput(f"{path} row {number}: {exc.args[0]}") from exc
