"""The report an import returns: every bad row and column with its reason, or what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    """Line in the file (the header is line 1)."""
    column: str
    reason: str
    sheet: str = ""

    def __str__(self) -> str:
        where = f"{self.sheet}, " if self.sheet else ""
        return f"{where}row {self.row}, {self.column}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    name: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    limits_from: date | None = None
    """The earliest day a created or corrected limit applies from: judgements since then may change."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return f"{self.name}: {len(self.errors)} bad rows, nothing changed"
        return f"{self.name}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
