"""The mark kinds table: Chinese terms and codes of the marking rules map to the stored keys; a
settings file replaces the packaged table; a bad table is refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from offsite.quality.markkinds import MarkKindsError, UnknownMarkKind, mark_kinds


def test_the_packaged_table_holds_todays_keys_and_the_rules_terms_with_tags() -> None:
    table = mark_kinds()
    assert table.keys() == ("stopped", "startup", "shutdown", "fault", "device_fault", "maintenance", "calibration")
    assert table.stop_keys() == ("stopped", "shutdown")
    # 工况标记 (the plant) against 设备标记 (an analyser)
    assert table.condition_keys() == ("stopped", "startup", "shutdown", "fault")
    assert {k.key: k.category for k in table.kinds if k.category == "device"} == dict.fromkeys(
        ("device_fault", "maintenance", "calibration"), "device"
    )
    for term, key in {
        "停运": "stopped",
        "停产": "stopped",
        "启动": "startup",
        "停炉": "shutdown",
        "解列": "shutdown",
    }.items():
        assert table.canonical(term) == key
    assert [table.canonical(c) for c in ("F", "m", "D", "C")] == [
        "stopped",
        "maintenance",
        "device_fault",
        "calibration",
    ]
    assert (table.canonical("设备故障"), table.canonical("事故"), table.canonical("烘炉")) == (
        "device_fault",
        "fault",
        "startup",
    )
    assert (table.term("stopped"), table.term("maintenance"), table.term("gone")) == ("停运", "维护", "gone")
    assert table.canonical(" Fault ") == "fault"
    assert all("[V]" in k.tag or "[R]" in k.tag for k in table.kinds)


def test_an_unknown_kind_names_the_accepted_ones() -> None:
    with pytest.raises(UnknownMarkKind) as refused:
        mark_kinds().canonical("停工")
    assert str(refused.value).startswith(
        "unknown mark kind '停工'; accepted: stopped (停运/停产/F), startup (启动/启炉)"
    )


def test_a_settings_file_replaces_the_table(tmp_path: Path) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text('[[kind]]\nkey = "stopped"\nterms = ["停运", "停工"]\nstop = true\n', encoding="utf-8")
    table = mark_kinds(path)
    assert table.canonical("停工") == "stopped"
    with pytest.raises(UnknownMarkKind, match="accepted: stopped"):
        table.canonical("fault")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '[[kind]]\nkey = "stopped"\nterms = ["停运"]\n[[kind]]\nkey = "shutdown"\nterms = ["停运"]\n',
            "'停运' names both",
        ),
        ('[[kind]]\nkey = "a-kind-longer-than-16"\n', "1 to 16 characters"),
        ("", r"no \[\[kind\]\] entries"),
        ("[[kind]\n", "not TOML"),
        ('kind = "x"', r"'kind' must be a list of \[\[kind\]\] tables, not str"),
        (
            '[[kind]]\nkey="stopped"\nterms="停运"\nstop=true',
            r"kind 1 \(stopped\): terms '停运' must be a list of non-empty texts",
        ),
        ('[[kind]]\nkey="stopped"\ncodes=[1]', r"kind 1 \(stopped\): codes \[1\] must be a list of non-empty texts"),
        ('[[kind]]\nkey="stopped"\nterms=[""]', r"terms \[''\] must be a list of non-empty texts"),
        ('[[kind]]\nkey="stopped"\nstop="false"', r"kind 1 \(stopped\): stop 'false' must be true or false"),
        ('[[kind]]\nkey="stopped"\ncategory="plant"', r"category 'plant' must be one of device, condition"),
        ('[[kind]]\nkey="stopped"\nstop=true\ncategory="device"', "its category must be condition"),
        ("[[kind]]\nkey=7", r"kind 1: key 7 must be a text"),
        # names match case-folded, so a key f and another kind's code F name the same thing
        ('[[kind]]\nkey="stopped"\ncodes=["F"]\nstop=true\n[[kind]]\nkey="f"\nterms=["维护"]', "'f' names both"),
    ],
)
def test_a_bad_table_is_refused(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MarkKindsError, match=error) as refused:
        mark_kinds(path)
    assert str(refused.value).startswith(f"{path}: ")
    with pytest.raises(MarkKindsError, match="cannot read"):
        mark_kinds(tmp_path / "missing.toml")


def test_a_table_without_categories_takes_stop_kinds_as_condition_and_others_as_device(tmp_path: Path) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text('[[kind]]\nkey = "stopped"\nstop = true\n[[kind]]\nkey = "fault"\n', encoding="utf-8")
    assert mark_kinds(path).condition_keys() == ("stopped",)


def test_the_cli_says_what_is_wrong_with_a_table_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from offsite.cli import app
    from offsite.settings import get_settings

    kinds, caps = tmp_path / "kinds.toml", tmp_path / "caps.toml"
    kinds.write_text('[[kind]]\nkey="stopped"\ncodes=[1]\n', encoding="utf-8")
    caps.write_text("cap = 5\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv("OFFSITE_MARK_KINDS_FILE", str(kinds))
    get_settings.cache_clear()
    listed = CliRunner().invoke(app, ["marks", "kinds", "--database-url", url])
    assert (listed.exit_code, listed.stderr) == (
        2,
        f'error: {kinds}: kind 1 (stopped): codes [1] must be a list of non-empty texts, e.g. ["停运"]\n',
    )
    monkeypatch.delenv("OFFSITE_MARK_KINDS_FILE")
    monkeypatch.setenv("OFFSITE_MARK_CAPS_FILE", str(caps))
    get_settings.cache_clear()
    from offsite.db.schema import upgraded_engine

    upgraded_engine(url).dispose()
    listed = CliRunner().invoke(app, ["marks", "list", "--database-url", url])
    assert (listed.exit_code, listed.stderr) == (2, f"error: {caps}: 'cap' must be a list of [[cap]] tables, not int\n")
    get_settings.cache_clear()
