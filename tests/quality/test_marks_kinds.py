"""The mark kinds table: Chinese terms and codes of the marking rules map to the stored keys; a
settings file replaces the packaged table; a bad table is refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from offsite.quality.markkinds import MarkKindsError, UnknownMarkKind, mark_kinds


def test_the_packaged_table_holds_todays_keys_and_the_rules_terms_with_tags() -> None:
    table = mark_kinds()
    assert table.keys() == ("stopped", "startup", "shutdown", "fault", "maintenance", "calibration")
    assert table.stop_keys() == ("stopped", "shutdown")
    for term, key in {
        "停运": "stopped",
        "停产": "stopped",
        "启动": "startup",
        "停炉": "shutdown",
        "解列": "shutdown",
    }.items():
        assert table.canonical(term) == key
    assert [table.canonical(c) for c in ("F", "m", "D", "C")] == ["stopped", "maintenance", "fault", "calibration"]
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
    ],
)
def test_a_bad_table_is_refused(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "kinds.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MarkKindsError, match=error):
        mark_kinds(path)
    with pytest.raises(MarkKindsError, match="cannot read"):
        mark_kinds(tmp_path / "missing.toml")
