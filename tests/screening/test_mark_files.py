"""The file mode's ``--marks`` file: kinds from the table (停运 is stopped), an unknown kind refused
with its row and the accepted kinds, and an optional ``factor`` column that scopes a mark to one
factor, so that a dust meter's maintenance leaves the SO2 readings judged."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from offsite.quality.markkinds import mark_kinds
from offsite.screening.files import InputError, read_inputs
from offsite.screening.prepared import prepare
from offsite.settings import get_settings

HEADER = "mn,start,end,kind,approved"
WINDOW = "2026-03-01T00:00:00+08:00,2026-03-01T02:00:00+08:00"


def _data(tmp_path: Path) -> Path:
    rows = ["mn,factor,time,value,flag"]
    for hour in range(4):
        for factor, value in (("a21026", 80.0), ("a34013", 12.0)):
            rows.append(f"MN1,{factor},2026-03-01T{hour:02d}:00:00+08:00,{value},N")
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _marks(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "marks.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_mark_filed_as_a_chinese_term_is_read_as_its_kind(tmp_path: Path) -> None:
    inputs = read_inputs(_data(tmp_path), marks=_marks(tmp_path, f"MN1,{WINDOW},停运,true", f"MN1,{WINDOW},D,false"))
    assert inputs.marks["kind"].to_list() == ["stopped", "device_fault"]
    # the stop mark now counts: the two hours it covers are not operating
    operating = prepare(inputs).pollutants.filter(pl.col("factor") == "a21026")["operating"].to_list()
    assert operating == [False, False, True, True]


def test_an_unknown_kind_is_refused_with_its_row_and_the_accepted_kinds(tmp_path: Path) -> None:
    marks = _marks(tmp_path, f"MN1,{WINDOW},stopped,true", f"MN1,{WINDOW},放假,true")
    with pytest.raises(InputError, match=r"marks.csv row 3: kind '放假' is not a mark kind; accepted: stopped \(停运"):
        read_inputs(_data(tmp_path), marks=marks)


def test_a_factor_scoped_mark_hides_only_that_factor(tmp_path: Path) -> None:
    marks = _marks(tmp_path, f"MN1,{WINDOW},维护,true,a34013", header=HEADER + ",factor")
    pollutants = prepare(read_inputs(_data(tmp_path), marks=marks)).pollutants.sort("factor", "time")
    marked = {f: pollutants.filter(pl.col("factor") == f)["marked"].to_list() for f in ("a21026", "a34013")}
    assert marked == {"a21026": [False] * 4, "a34013": [True, True, False, False]}


def test_a_mark_without_a_factor_covers_every_factor_of_the_device(tmp_path: Path) -> None:
    marks = _marks(tmp_path, f"MN1,{WINDOW},maintenance,true,", header=HEADER + ",factor")
    pollutants = prepare(read_inputs(_data(tmp_path), marks=marks)).pollutants
    assert pollutants.group_by("factor").agg(pl.col("marked").sum()).sort("factor")["marked"].to_list() == [2, 2]


def test_a_factor_that_is_not_an_hj212_code_is_refused(tmp_path: Path) -> None:
    marks = _marks(tmp_path, f"MN1,{WINDOW},maintenance,true,dust", header=HEADER + ",factor")
    with pytest.raises(InputError, match="row 2: factor 'dust' is not an HJ 212-2017 factor code"):
        read_inputs(_data(tmp_path), marks=marks)


def test_a_custom_kinds_tables_stop_flags_decide_what_stops_the_plant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "kinds.toml"
    table.write_text(
        '[[kind]]\nkey = "idle"\nterms = ["停工"]\nstop = true\n'
        '[[kind]]\nkey = "stopped"\nterms = ["停运"]\nstop = false\ncategory = "condition"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("OFFSITE_MARK_KINDS_FILE", str(table))
    get_settings.cache_clear()
    try:
        marks = _marks(tmp_path, f"MN1,{WINDOW},停工,true")
        inputs = read_inputs(_data(tmp_path), marks=marks, kinds=mark_kinds(table))
        operating = prepare(inputs).pollutants.filter(pl.col("factor") == "a21026")["operating"].to_list()
        assert operating == [False, False, True, True]
        # this table says stopped is no stop: its hours stay operating
        marks = _marks(tmp_path, f"MN1,{WINDOW},停运,true")
        inputs = read_inputs(_data(tmp_path), marks=marks, kinds=mark_kinds(table))
        operating = prepare(inputs).pollutants.filter(pl.col("factor") == "a21026")["operating"].to_list()
        assert operating == [True] * 4
    finally:
        get_settings.cache_clear()
