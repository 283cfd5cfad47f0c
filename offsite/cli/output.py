"""How the command line shows times and tables to people, and hands them to machines.

One clock: every time a person reads is China Standard Time with its offset written out
(``2026-12-07 08:00 +08:00``), whatever the stored value's zone. ``--json`` and ``--csv`` give the
same rows to machines, times in ISO 8601 with the +08:00 offset.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from offsite.hj212.times import CST

CLOCK = "北京时间 UTC+8"
"""How a header or a line names the clock its times are on."""


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def when(moment: datetime | None, *, seconds: bool = False) -> str:
    """A stored (aware) time as a person reads it: China time, offset written; ``-`` for none."""
    if moment is None:
        return "-"
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S +08:00" if seconds else "%Y-%m-%d %H:%M +08:00")


_CONTROLS = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)])


def plain(text: str | None) -> str:
    """A stored name as a terminal may show it: control characters (an ANSI escape in a unit's
    name could clear the screen or forge a line) removed. Pass the result to Rich as ``Text``, never
    as a markup string, so ``[link=…]`` in a name stays text."""
    return "-" if text is None else text.translate(_CONTROLS)


def iso(moment: datetime | None) -> str | None:
    """A stored (aware) time for machines: ISO 8601 in China time with its offset."""
    return None if moment is None else moment.astimezone(CST).isoformat()


def emit_rows(rows: Sequence[dict[str, Any]], fmt: Format, *, columns: Sequence[str] | None = None) -> bool:
    """Write ``rows`` as JSON (one array) or CSV to standard output and return True; False for
    ``table``, which each command renders for people itself. Datetimes become ``iso`` strings."""
    if fmt is Format.table:
        return False
    names = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    clean = [{k: (iso(v) if isinstance(v, datetime) else v) for k, v in row.items() if k in names} for row in rows]
    if fmt is Format.json:
        json.dump(clean, sys.stdout, ensure_ascii=False, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _inert(v) for k, v in row.items()} for row in clean)
    return True


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet recognises a formula (OWASP's CSV-injection list): a unit named
``=HYPERLINK(…)`` must reach an officer's Excel as text, never as a live formula."""


def _inert(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: strings that would start a formula get a leading
    apostrophe; numbers stay numbers (a negative number is data, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
