"""``offsite emissions``: a month's emission totals per unit and factor against the permit caps."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, amount, chosen
from offsite.cli.options import DatabaseUrl, database_engine
from offsite.cli.output import CLOCK, Format, emit_rows
from offsite.hj212.codes.factors import FACTORS
from offsite.hj212.times import CST
from offsite.settings import with_database_url

if TYPE_CHECKING:
    import polars as pl
    from rich.table import Table

TONNE_KG = 1000.0


def emissions(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month, China time).")] = None,
    over: Annotated[bool, typer.Option("--over", help="Only rows over a permit cap.")] = False,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Emission totals from the computed loads: the month, the year to date and the largest day,
    beside the day, month and year caps of the discharge permit, and the days and hours of the
    month each total covers. Tables show kg or t, rounded; --format json|csv gives kg unrounded."""
    import polars as pl
    from rich.console import Console
    from sqlalchemy import select

    from offsite.db import session_factory
    from offsite.quality.coverage import month_span
    from offsite.quality.totals import emission_totals
    from offsite.registry.models import Outlet

    out = chosen(fmt, as_json, as_csv)
    chosen_month = _month(month)
    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    now = datetime.now(CST)
    with session_factory(engine)() as session:
        table = emission_totals(engine, session, chosen_month, now=now)
        outlets: dict[int, str] = {row.id: row.code for row in session.execute(select(Outlet.id, Outlet.code))}
    days, hours = month_span(chosen_month, now)
    table = table.with_columns(
        pl.col("outlet").replace_strict(outlets, default=None, return_dtype=pl.String).alias("outlet_code"),
        pl.lit(days).alias("days_in_month"),
        pl.lit(hours).alias("hours_in_month"),
    )
    if over:
        table = table.filter(pl.col("over"))
    if emit_rows(table.to_dicts(), out, columns=table.columns):
        return
    if table.is_empty():
        typer.echo(f"{chosen_month:%Y-%m} 没有超出许可排放量的总量。" if over else f"{chosen_month:%Y-%m} 没有排放量。")
        return
    Console().print(_people(table, chosen_month, days, hours))


def _people(table: pl.DataFrame, month: date, days: int, hours: int) -> Table:
    from rich.table import Table

    first = month.replace(day=1)
    whole = ((first + timedelta(days=32)).replace(day=1) - first).days
    so_far = "" if days == whole else f"，本月截至今日 {days} 天"
    shown = Table(
        title=f"{month:%Y-%m} 排放量（由小时排放量累计{so_far}；{CLOCK}）",
        caption=(
            f"覆盖：有有效小时的天数 / 本月{'至今' if so_far else ''}天数（有效小时）；"
            f"本月{'至今' if so_far else ''}每个小时只计一次：有效 + 修约 + 停运 + 缺 = {hours} 小时。"
            "修约：按 HJ 75 替代的小时，计入总量；停运：停运、停产或有效零流量，计 0；"
            "缺：没有有效数据且无法替代的小时，不计入总量。"
        ),
        title_justify="left",
        caption_justify="left",
    )
    for header in ("单位", "排放口", "因子"):
        shown.add_column(header)
    for header in ("本月", "覆盖", "年累计", "最大日", "日许可", "超日许可天数", "月许可", "年许可", "超许可"):
        shown.add_column(header, justify="right")
    for r in table.iter_rows(named=True):
        shown.add_row(
            r["unit_name"] or "-",
            r["outlet_code"] or "全厂",
            _factor(r["factor"]),
            _mass(r["month_kg"]) + ("（含修约）" if r.get("substituted") else ""),
            _covers(r, days),
            _mass(r["year_kg"]),
            _mass(r["max_day_kg"]),
            _mass(r["day_cap_kg"]),
            str(r["days_over"]) if r["day_cap_kg"] is not None else "-",
            _mass(r["month_cap_kg"]),
            _mass(r["year_cap_kg"]),
            "是" if r["over"] else "否",
        )
    return shown


def _covers(row: dict[str, Any], days: int) -> str:
    """``3/30 天（72 小时）``, then the hours substituted (修约, HJ 75), stopped and still missing."""
    text = f"{row['days_with_data']}/{days} 天（{row['hours_with_data']} 小时）"
    if row.get("hours_substituted"):
        text += f"，修约 {row['hours_substituted']} 小时"
    if row.get("hours_stopped"):
        text += f"，停运 {row['hours_stopped']} 小时"
    if row.get("hours_missing"):
        text += f"，缺 {row['hours_missing']} 小时"
    return text


def _mass(kg: Any) -> str:
    """kg below a tonne, t above it, three significant figures; ``-`` for none."""
    if kg is None:
        return "-"
    return f"{amount(kg / TONNE_KG)} t" if abs(kg) >= TONNE_KG else f"{amount(kg)} kg"


def _factor(code: str) -> str:
    info = FACTORS.get(code)
    return f"{info.name_zh} {code}" if info is not None else code


def _month(text: str | None) -> date:
    if text is None:
        return datetime.now(CST).date().replace(day=1)
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month written YYYY-MM", param_hint="--month") from None
