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
CORRECTED_PREFIXES = ("a2", "a3")
"""Only a2xxxx gases and a3xxxx particulates are concentrations corrected to the reference O2 (HJ
212-2017 code table; the simulator's loggers do the same): a0/a1 codes (flow, temperature,
pressure, moisture, O2, furnace temperature a01901, air pressure a01006) are the flue's parameters."""
CYCLE_ANALYSERS = frozenset({"w01018", "w21003", "w21011", "w21001"})
"""COD, NH3-N, TP, TN (offsite.hj212.codes.factors): analysers measuring on 1–4 h cycles."""


@dataclass(frozen=True, slots=True)
class Rules:
    valid_flags: frozenset[str] = frozenset({"N"})
    """HJ 212-2017 Table 8 / HJ 75-2017: only N minutes are valid. T (over range) is a lower bound:
    not averaged as a normal value (source: shared/domain/hj212.md §5.1, digest decision)."""
    bound_flags: frozenset[str] = frozenset({"T"})
    """Readings that are lower bounds of the truth (T, over range): not averaged as valid, but a
    period's mean with them at their reading (``bound``) proves an exceedance [D: the digest's decision]."""
    known_flags: frozenset[str] = frozenset({"N", "F", "M", "S", "D", "C", "T", "B", "P"})
    record_share: float = 0.75
    """A valid hourly mean needs this share of the records expected at the device's minute-data
    interval, rounded up: 45 of 60 one-minute records, 5 of 6 ten-minute ones (HJ 76-2017 App. B
    "小时数据应包含本小时内至少45min的分钟有效数据" [S: quoted by a vendor page], read as records).
    Records are counted as distinct slots of the interval: several records in one minute of a
    one-minute device count once."""
    standard_intervals_s: tuple[int, ...] = (60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600)
    """Minute-data intervals an inferred spacing snaps to: divisors of 3600 s (HJ 212-2017 lets the
    platform set the minute-data interval, 1 minute by default; clause not checked [R])."""
    max_inferred_interval_s: int = 600
    """The longest interval inferred from a device's records: a spacing above it is judged at it (so
    an hour of two records stays invalid); a longer interval must be declared in the registry
    [D: HJ 212 loggers send minute data every 1–10 minutes]."""
    inference_window_h: int = 168
    """On the database, an undeclared interval is the shortest of the noted hours' spacing and the
    one implied by the fullest hour computed in this many hours before them (7 days [D]), so an
    hour aggregated alone cannot measure its own sparse spacing."""
    min_valid_hours: int = 20
    """A valid daily mean needs 20 valid hours of 24 (HJ 76-2017 App. B "日数据应包含本日至少20h的
    小时有效数据" [S: quoted by a vendor page]; configurable)."""
    cycle_factors: frozenset[str] = CYCLE_ANALYSERS
    """Water analysers that measure on a cycle (COD, NH3-N, TP, TN): an hour holding a valid record
    of the cycle's measurement is valid (HJ 356-2019 §7.1 有效均值的计算 [R]); judged by cycle,
    not by record count."""
    cycle_hours: tuple[int, ...] = (1, 2, 3, 4)
    """Measuring cycles (h) an analyser's spacing snaps to (HJ 355-2019 §6 运行: 1–4 h cycles [R])."""
    cycle_day_share: float = 0.75
    """A cycle analyser's day is valid with this share of the measurements its cycle implies
    (24 / cycle), rounded up: 18 of 24 hourly, 9 of 12 two-hourly (HJ 356-2019 §7.2 [R])."""
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
    factor_units: dict[str, str] = field(default_factory=dict)
    """Concentration units of factors the code table lacks or a site reports otherwise, e.g.
    dioxins in ng-TEQ/m³; they override ``offsite.hj212.codes.factors``."""
    substitution: str = "adjacent_mean"
    """How permit totals fill a missing or invalid hour's load (修约, HJ 75-2017 §12.4 as digested in
    screening-rules.md §2.1 [R]): ``adjacent_mean`` (the mean of the valid hours just before and
    after the gap; the rule for short gaps at a capture rate ≥ 90 %), ``previous_max`` (the largest
    valid hour of the ``substitution_lookback_h`` before the gap, the rule for longer gaps and
    lower capture) or ``none`` (totals of the computed hours only)."""
    substitution_lookback_h: int = 720
    """Valid hours looked back over for ``previous_max`` (720: a gap over 24 h at ≥ 90 % capture [R])."""
    substitution_max_gap_h: int = 24
    """``adjacent_mean`` fills gaps up to this long; longer ones take ``previous_max`` [R]."""
    substitution_min_capture: float = 0.75
    """Below this share of valid hours (of the period's hours the source was not stopped) no hour is
    substituted: HJ 75-2017 §12.4's table as digested [R] has no rule under 75 %, and filling
    most of a month from a few hours invents it. Gaps then stay missing."""
    substitution_full_capture: float = 0.90
    """At or above this capture the short- and long-gap rules apply; between the two bounds every
    gap takes the largest of the ``substitution_low_capture_lookback_h`` valid hours before it [R]."""
    substitution_low_capture_lookback_h: int = 2160
    """Valid hours looked back over when capture is between the two bounds (2160 [R])."""


MASS_UNITS: dict[str, float] = {
    "mg/m³": 1e-6,
    "µg/m³": 1e-9,
    "ng/m³": 1e-12,
    "ng-TEQ/m³": 1e-12,
    "ngTEQ/m³": 1e-12,
    "mg/L": 1e-3,
    "µg/L": 1e-6,
    "ng/L": 1e-9,
}
"""kg in one m³ at a concentration of 1 in the unit: a load is C × this × Q (m³/s) × 3600 s.
Only these units are masses per volume; a factor in any other unit (%, °C, kPa, pH, µS/cm,
count/L, m/s, Bq/L) has no load."""

FLOW_TO_M3_S: dict[str, float] = {"m3/s": 1.0, "m³/s": 1.0, "m3/h": 1 / 3600, "m³/h": 1 / 3600, "L/s": 1e-3}
"""A device's flow unit (registry ``device.flow_unit`` or the code table's) → m³/s."""
