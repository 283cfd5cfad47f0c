from __future__ import annotations

import pytest

from offsite.hj212.codes.factors import FACTORS
from offsite.registry.standards import UnknownStandard, default_standards, standard


def test_every_default_limit_names_its_source_and_a_known_factor() -> None:
    table = default_standards()
    assert len(table) >= 20
    for entry in table.values():
        assert entry.source
        assert entry.status in {"recalled", "verified"}
        assert entry.medium in {"gas", "water"}
        assert set(entry.limits) | set(entry.ranges) <= set(FACTORS), entry.key
        assert all(v > 0 for v in entry.limits.values())
        if entry.medium == "gas":
            assert entry.o2_ref is not None
            assert 0 < entry.o2_ref < 21


def test_known_values() -> None:
    assert standard("ultra-low-coal-power").limits == {"a34013": 10.0, "a21026": 35.0, "a21002": 50.0}
    assert standard("GB18918-2002-1A").ranges["w01001"] == (6.0, 9.0)
    assert standard("GB18485-2014-hour").period == "hour"
    with pytest.raises(UnknownStandard, match="GB0000"):
        standard("GB0000")
