"""The validity and aggregation rules, each with its source; numbers that are recalled
(shared/domain/screening-rules.md marks them [R]) are defaults to override, never constants."""

from __future__ import annotations

from dataclasses import dataclass, field

GAS_MARKERS = frozenset({"a21026", "a21002", "a34013"})
"""A device that sends SO2, NOx or particulate is a flue-gas device."""

O2 = "a19001"
GAS_FLOW, WATER_FLOW = "a00000", "w00000"
VELOCITY = "a01011"
FLUE_TEMPERATURE, FLUE_PRESSURE, FLUE_MOISTURE, AIR_PRESSURE = "a01012", "a01013", "a01014", "a01006"
PH = "w01001"
NOT_CORRECTED = frozenset({O2, GAS_FLOW, VELOCITY, "a01012", "a01013", "a01014", "a01015", "a01016", "a01017"})
"""Flue-gas parameters that are not concentrations (no reference-O2 correction)."""
NO_LOAD = frozenset({PH, WATER_FLOW, AIR_PRESSURE, "w01010", "w01002"})
"""Factors with no mass (pH, flow, temperatures, pressures, colour): no load is computed."""


@dataclass(frozen=True, slots=True)
class Rules:
    valid_flags: frozenset[str] = frozenset({"N"})
    """HJ 212-2017 Table 8 / HJ 75-2017: only N minutes are valid. T (over range) is a lower bound:
    not averaged as a normal value (source: shared/domain/hj212.md §5.1, digest decision)."""
    bound_flags: frozenset[str] = frozenset({"T"})
    """Readings that are lower bounds of the truth (T, over range): not averaged as valid, but a
    period's mean with them at their reading (``bound``) proves an exceedance [D: the digest's decision]."""
    known_flags: frozenset[str] = frozenset({"N", "F", "M", "S", "D", "C", "T", "B", "P"})
    min_valid_minutes: int = 45
    """HJ 75-2017 [R]: a valid hourly mean needs 45 valid minutes (also the 75 % rule of HJ 212-2017 App. C)."""
    min_valid_hours: int = 20
    """A valid daily mean needs 20 valid hours [R/P: the GB 3095 convention; configurable]."""
    o2_guard: float = 19.5
    """No reference-O2 correction at or above this O2 (%): the factor 21 − O2 blows up (R09 instead)."""
    air_pressure_kpa: float = 101.325
    """Air pressure Ba where no a01006 is sent: standard atmosphere (a site far above sea level
    should set its own)."""
    convert_concentrations: bool = False
    """Convert concentrations to standard state, dry, like the flow. Off by default: extractive
    CEMS (most Chinese flue-gas systems) already report dry standard-state concentrations; turn it
    on for in-situ analysers (HJ 75-2017 [R])."""
    default_o2_ref: dict[str, float] = field(default_factory=dict)
    """Reference O2 per device where no outlets file gives one; none by default (no correction)."""
