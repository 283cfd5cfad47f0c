from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from offsite.registry.coverage import coverage
from offsite.registry.models import Device
from tests.registry.test_import import anhui, base_rows, run, workbook  # noqa: F401 (fixture)


def test_three_coverages_per_city_and_county(anhui: Engine, tmp_path: Path) -> None:  # noqa: F811
    run(anhui, workbook(tmp_path / "r.xlsx", base_rows()))
    with Session(anhui) as session:
        cities = {c.region_code: c for c in coverage(session, date(2026, 1, 1), "city")}
        assert set(cities) == {"340100", "341300"}
        suzhou = cities["341300"]
        assert (suzhou.region_name, suzhou.units, suzhou.installed, suzhou.networked, suzhou.operated) == (
            "宿州市",
            1,
            1,
            1,
            1,
        )
        hefei = cities["340100"]
        assert (hefei.units, hefei.installed, hefei.networked, hefei.operated) == (1, 1, 0, 0)
        assert [c.region_code for c in coverage(session, date(2026, 1, 1), "county")] == ["340111", "341302"]
        (province,) = coverage(session, date(2026, 1, 1), "province")
        assert (province.units, province.networked) == (2, 1)
        assert coverage(session, date(2025, 5, 31), "province")[0].networked == 0  # not yet networked then
        session.execute(update(Device).values(active=False))
        assert coverage(session, date(2026, 1, 1), "province")[0].installed == 0
