"""The default emission standards table (packaged TOML): fallback limits with their sources."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class Standard:
    key: str
    name: str
    medium: str
    period: str
    status: str
    source: str
    limits: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    o2_ref: float | None = None


class UnknownStandard(KeyError):
    """No standard with that key in the table."""


@lru_cache(maxsize=1)
def default_standards() -> dict[str, Standard]:
    data = tomllib.loads((files("offsite.registry") / "data" / "standards.toml").read_text(encoding="utf-8"))
    table = {}
    for entry in data["standard"]:
        table[entry["key"]] = Standard(
            key=entry["key"],
            name=entry["name"],
            medium=entry["medium"],
            period=entry["period"],
            status=entry["status"],
            source=entry["source"],
            limits={k: float(v) for k, v in entry.get("limits", {}).items()},
            ranges={k: (float(v[0]), float(v[1])) for k, v in entry.get("ranges", {}).items()},
            o2_ref=entry.get("o2_ref"),
        )
    return table


def standard(key: str) -> Standard:
    try:
        return default_standards()[key]
    except KeyError:
        raise UnknownStandard(f"no standard {key!r} in the default table ({len(default_standards())} known)") from None


def reference_o2(own: float | None, standard_key: str | None) -> float | None:
    """An outlet's reference O2: its own where set, else its standard's (none for an unknown
    standard or one without a reference O2: no correction, so corrected-basis limits judge nothing)."""
    if own is not None:
        return own
    if not standard_key:
        return None
    found = default_standards().get(standard_key)
    return found.o2_ref if found is not None else None
