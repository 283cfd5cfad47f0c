from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from offsite.db import session_factory
from offsite.registry.models import Region
from offsite.registry.regions import city_of, load_anhui, load_regions, packaged_regions


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Region)) or 0)


def test_anhui_ships_in_full(engine: Engine) -> None:
    with session_factory(engine)() as session, session.begin():
        report = load_anhui(session)
    assert report.ok
    assert report.created == 121
    with session_factory(engine)() as session:
        levels = dict(session.execute(select(Region.level, func.count()).group_by(Region.level)).all())
        assert levels == {"province": 1, "city": 16, "county": 104}
        suzhou = city_of(session, "341302")  # 埇桥区
        assert suzhou is not None
        assert (suzhou.code, suzhou.name) == ("341300", "宿州市")
        assert session.get(Region, "340100").name == "合肥市"  # type: ignore[union-attr]


def test_reloading_is_a_no_op_and_a_change_updates_in_place(engine: Engine) -> None:
    maker = session_factory(engine)
    with maker() as session, session.begin():
        load_anhui(session)
    with maker() as session, session.begin():
        again = load_anhui(session)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 121)
    renamed = packaged_regions().replace("341302,埇桥区", "341302,埇桥区（改）")
    with maker() as session, session.begin():
        report = load_regions(session, renamed)
    assert (report.created, report.updated) == (0, 1)
    with maker() as session:
        assert session.get(Region, "341302").name == "埇桥区（改）"  # type: ignore[union-attr]


def test_a_broken_file_changes_nothing_and_names_every_bad_row(engine: Engine, tmp_path: Path) -> None:
    maker = session_factory(engine)
    with maker() as session, session.begin():
        load_anhui(session)
    before = count(engine)
    sheet = tmp_path / "bad.csv"
    sheet.write_text(
        "code,name,level,parent_code\n"
        "340199,新区,county,340100\n"  # fine on its own
        "34019,短码,county,340100\n"
        "340198,,county,340100\n"
        "340197,错级,town,340100\n"
        "340196,孤儿,county,349900\n"
        "340199,重复,county,340100\n",
        encoding="utf-8",
    )
    with maker() as session, session.begin():
        report = load_regions(session, sheet, name="bad.csv")
        assert not report.ok
        session.rollback()
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "code"),
        (4, "name"),
        (5, "level"),
        (6, "parent_code"),
        (7, "code"),
    ]
    assert str(report.errors[3]) == "row 6, parent_code: 349900 is not a known region"
    assert report.summary() == "bad.csv: 5 bad rows, nothing changed"
    assert count(engine) == before
