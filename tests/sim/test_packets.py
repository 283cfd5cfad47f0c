"""The simulator's uploads carry what a CEMS logger sends, corrected means (ZsAvg) included."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from offsite.hj212.times import CST
from offsite.sim.packets import interval_packet

AT = datetime(2026, 11, 10, 8, tzinfo=CST)


def _fields(o2: float, o2_ref: float | None) -> dict[str, str]:
    values = {
        "a21026": np.array([40.0, 50.0, 60.0]),  # SO2
        "a19001": np.full(3, o2),
        "a01012": np.full(3, 55.0),  # flue temperature: a parameter, never corrected
        "a00000": np.full(3, 80.0),
    }
    packet = interval_packet(
        mn="MN1", pw="pw", st="31", medium="gas", period="hour", start=AT, values=values, qn=None, o2_ref=o2_ref
    )
    return dict(packet.cp)


def test_a_pollutant_carries_its_mean_corrected_to_the_outlets_reference_o2() -> None:
    fields = _fields(o2=15.0, o2_ref=6.0)
    assert float(fields["a21026-ZsAvg"]) == pytest.approx(50.0 * (21 - 6) / (21 - 15))
    assert "a01012-ZsAvg" not in fields
    assert "a19001-ZsAvg" not in fields


@pytest.mark.parametrize(("o2", "o2_ref"), [(19.5, 6.0), (10.0, None)])
def test_no_corrected_value_where_the_logger_cannot_correct(o2: float, o2_ref: float | None) -> None:
    assert "a21026-ZsAvg" not in _fields(o2=o2, o2_ref=o2_ref)
