from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def load_vectors() -> list[dict[str, Any]]:
    """The real and published packets of shared/hj212/vectors.jsonl (a copy kept in tests/data)."""
    with open(DATA / "hj212_vectors.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    return load_vectors()
