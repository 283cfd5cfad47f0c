"""Exceedance days and the 30-day grading, on cases worked by hand."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from offsite.alarms.grading import Bands, changes, exceedance_days, grade

D0 = date(2026, 11, 1)


def daily(rows: list[tuple[str, str, str, int, float, float, bool, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(u, o, f, D0 + timedelta(days=d), v, lim, valid, marked) for u, o, f, d, v, lim, valid, marked in rows],
        schema=["unit", "outlet", "factor", "day", "value", "limit", "valid", "marked"],
        orient="row",
    )


def test_only_valid_unmarked_values_above_the_limit_exceed() -> None:
    rows = [
        ("U1", "DA001", "a21026", 0, 120.0, 100.0, True, False),  # exceeds
        ("U1", "DA001", "a21026", 1, 100.0, 100.0, True, False),  # equal: not above
        ("U1", "DA001", "a21026", 2, 150.0, 100.0, False, False),  # invalid day
        ("U1", "DA001", "a21026", 3, 150.0, 100.0, True, True),  # marked (e.g. approved shutdown)
    ]
    assert exceedance_days(daily(rows))["day"].to_list() == [D0]


def test_levels_follow_the_bands_and_the_window() -> None:
    # unit U1 exceeds on days 0..9 (ten days), then never again
    rows = [("U1", "DA001", "a21026", d, 120.0, 100.0, True, False) for d in range(10)]
    rows += [("U1", "DA001", "a21026", d, 50.0, 100.0, True, False) for d in range(10, 60)]
    graded = {
        r["day"]: (r["days"], r["level"]) for r in grade(daily(rows), D0, D0 + timedelta(days=59)).iter_rows(named=True)
    }
    # day 1: 2 days → blue; day 2: 3 → yellow; day 6: 7 → orange; day 9: 10 → red
    assert graded[D0 + timedelta(days=1)] == (2, "blue")
    assert graded[D0 + timedelta(days=2)] == (3, "yellow")
    assert graded[D0 + timedelta(days=5)] == (6, "yellow")
    assert graded[D0 + timedelta(days=6)] == (7, "orange")
    assert graded[D0 + timedelta(days=9)] == (10, "red")
    # day 30: window days 1..30 holds exceedances 1..9 → 9 → orange; day 39: window 10..39 → 0
    assert graded[D0 + timedelta(days=30)] == (9, "orange")
    assert graded[D0 + timedelta(days=39)] == (0, "none")


def test_a_day_counts_once_per_unit_unless_configured_per_outlet() -> None:
    rows = [
        ("U1", "DA001", "a21026", 0, 120.0, 100.0, True, False),
        ("U1", "DA001", "a21002", 0, 220.0, 200.0, True, False),
        ("U1", "DA002", "a21026", 0, 130.0, 100.0, True, False),
    ]
    once = grade(daily(rows), D0, D0)
    assert once.row(0, named=True)["days"] == 1
    each = grade(daily(rows), D0, D0, Bands(once_per_unit=False))
    assert (each.row(0, named=True)["days"], each.row(0, named=True)["level"]) == (3, "yellow")


def test_changes_open_raise_lower_and_clear() -> None:
    rows = [("U1", "DA001", "a21026", d, 120.0 if d < 3 else 50.0, 100.0, True, False) for d in range(40)]
    events = changes(grade(daily(rows), D0, D0 + timedelta(days=39)))
    assert [(r["day"] - D0).days for r in events.iter_rows(named=True)] == [0, 2, 30, 32]
    assert [(r["previous"], r["level"]) for r in events.iter_rows(named=True)] == [
        ("none", "blue"),
        ("blue", "yellow"),
        ("yellow", "blue"),
        ("blue", "none"),
    ]
