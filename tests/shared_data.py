"""Third-party data in ../shared/data: tests that read it are marked ``shared_data`` and skip,
saying why, where it is not present (the core suite does not need it)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relative: str) -> Path:
    """The file at ``relative`` below shared/data, or a skip that names the missing path."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"third-party data not present at {path} (the core suite does not need it)")
    return path
