"""``offsite archive show`` on a hostile packet: the terminal gets escapes, ``--raw`` the exact bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offsite.cli import app
from offsite.cli.archive import escaped
from offsite.db import make_engine
from offsite.store.archive import ArchiveWriter, Incoming
from tests.hj212.packets import minute_bytes

runner = CliRunner()

HOSTILE = (
    b"##0099QN=1\x1b]0;owned\x07;ST=32\x1b[2J\x1b[1;1H;CN=2011;MN=\xc2\x9b31m\xe2\x80\xae"
    b"\xff\xfe\x7f\\x1b;PW=\xe2\x80\xa8\xe4\xb8\xad\xe3\x80\x80\xe6\x96\x87\r\nECHO\r\n"
)
"""ESC sequences (window title, clear screen, cursor), BEL, the C1 CSI as UTF-8, a right-to-left
override, bytes that are not UTF-8, DEL, a literal backslash, a line separator, CR/LF inside
the record, and harmless Chinese text with an ideographic space."""

CONTROLS = ["\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\u2028", "\ufffd"]


@pytest.fixture
def archived(tmp_path: Path) -> tuple[str, list[int]]:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    engine = make_engine(url)
    at = datetime(2026, 11, 29, tzinfo=UTC)
    stored = ArchiveWriter(engine, "gw-1").append(
        [
            Incoming(
                HOSTILE, "127.0.0.1:1", at, outcome="rejected", error="bad_header_field: \x1b[31mred", mn="\x1b[2J"
            ),
            Incoming(minute_bytes(1), "127.0.0.1:1", at, mn="010000A8900016F000169DC0", cn="2051"),
        ]
    )
    engine.dispose()
    return url, [record.id for record in stored]


def test_a_hostile_packet_is_shown_escaped_and_kept_exact_with_raw(
    archived: tuple[str, list[int]], tmp_path: Path
) -> None:
    url, ids = archived
    raw = tmp_path / "packets.bin"
    shown = runner.invoke(app, ["archive", "show", *map(str, ids), "--raw", str(raw), "--database-url", url])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    for control in CONTROLS:
        assert control not in text, f"{control!r} reached the terminal"
    assert "QN=1\\x1b]0;owned\\x07;ST=32\\x1b[2J\\x1b[1;1H;CN=2011" in text
    assert "MN=\\u009b31m\\u202e\\xff\\xfe\\x7f\\\\x1b;PW=\\u2028中\u3000文\\r\\nECHO" in text
    assert "rejected (bad_header_field: " in text  # header columns and the reason: escaped too (checked above)
    assert minute_bytes(1).decode().strip() in text  # an ordinary packet reads as it came
    assert len(text.splitlines()) == 6  # three lines a record: the CR/LF inside one are escaped
    assert "received 2026-11-29 08:00:00 +08:00 from" in text  # stored 00:00 UTC, read in China time
    assert raw.read_bytes() == HOSTILE + minute_bytes(1)

    as_json = runner.invoke(app, ["archive", "show", str(ids[0]), "--json", "--database-url", url])
    assert as_json.exit_code == 0, as_json.output
    for control in CONTROLS[:-1]:
        assert control not in as_json.stdout, f"{control!r} reached the terminal"
    [record] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert record["packet"] == HOSTILE.decode("utf-8", errors="replace")
    assert record["received_at"] == "2026-11-29T08:00:00+08:00"
    assert "中\u3000文" in as_json.stdout


def test_raw_names_a_file_it_cannot_write(archived: tuple[str, list[int]], tmp_path: Path) -> None:
    url, ids = archived
    missing = tmp_path / "no-such-dir" / "packets.bin"
    result = runner.invoke(app, ["archive", "show", str(ids[1]), "--raw", str(missing), "--database-url", url])
    assert result.exit_code == 2
    assert f"cannot write {missing}" in result.stderr


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"plain ASCII;CP=&&a=1&&", "plain ASCII;CP=&&a=1&&"),
        ("清洗 中\u3000文".encode(), "清洗 中\u3000文"),
        (b"\x00\x1b\x7f\t", "\\x00\\x1b\\x7f\\t"),
        (b"\xc2\x85\xc2\x9b", "\\u0085\\u009b"),  # C1 controls, written as UTF-8
        (b"\x85\x9b\xff", "\\x85\\x9b\\xff"),  # bytes that are not UTF-8
        ("\u200f\u2066\u2029\U000e0001".encode(), "\\u200f\\u2066\\u2029\\U000e0001"),
        (b"a\\b", "a\\\\b"),
    ],
)
def test_escaping(value: bytes, shown: str) -> None:
    assert escaped(value) == shown
