"""Standard-state, dry-basis flue-gas flow and the mass discharged (loads) per hour.

- Flow is converted to m³/s from the device's unit (``device.flow_unit``: m³/s, m³/h or L/s;
  none: the code table's unit, m³/s for a00000 and L/s for w00000).
- Standard conditions are 273.15 K and 101.325 kPa, dry (HJ 75-2017, as digested in
  screening-rules.md §2.1 [R]): Q_sd = Q × (Ba + Ps)/101.325 × 273.15/(273.15 + t) × (1 − Xsw/100),
  with t the flue temperature (a01012, °C), Ps the flue static pressure (a01013, kPa, gauge),
  Xsw the moisture (a01014, %) and Ba the air pressure (a01006, kPa) where sent, otherwise
  ``Rules.air_pressure_kpa``. Applied only where t, Ps and Xsw are all measured that hour, and
  never to a device that declares its flow already standard and dry (``flow_basis`` =
  ``standard_dry``, as many CEMS upload a00000): converting it again cut loads by 30–40 %.
- Concentrations are converted the same way only when ``Rules.convert_concentrations`` is on:
  extractive CEMS already report dry standard-state concentrations, in-situ ones do not.
- The hourly load of a pollutant is its hourly mean × kg per m³ of its unit (``rules.MASS_UNITS``:
  mg, µg, ng, ng-TEQ per m³ or per L) × the hourly mean flow (m³/s) × 3 600 s, in kg: on the
  standard dry flow where there is one, on the measured, not the O2-corrected, concentration
  (HJ 75 §11 [R]). Factors whose unit is not a mass concentration (temperature, pressure, pH,
  conductivity, coliforms, velocity, moisture, O2, flow …) have none.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import polars as pl

from offsite.hj212.codes.factors import FACTORS
from offsite.quality.rules import (
    AIR_PRESSURE,
    CORRECTED_PREFIXES,
    FLOW_TO_M3_S,
    FLUE_MOISTURE,
    FLUE_PRESSURE,
    FLUE_TEMPERATURE,
    GAS_FLOW,
    MASS_UNITS,
    WATER_FLOW,
    Rules,
)

SECONDS_PER_HOUR = 3600
STANDARD_DRY = "standard_dry"


class UnknownFlowUnit(ValueError):
    """A device's flow unit that is not one of m³/s, m³/h, L/s."""


@lru_cache(maxsize=8)
def _code_table_mass() -> dict[str, float]:
    return {code: MASS_UNITS[info.unit] for code, info in FACTORS.items() if info.unit in MASS_UNITS}


def kg_per_m3(rules: Rules) -> dict[str, float]:
    """Factor code → kg per m³ at a concentration of 1 in its unit; factors without a mass
    concentration unit are absent (no load)."""
    table = dict(_code_table_mass())
    for code, unit in rules.factor_units.items():
        if unit in MASS_UNITS:
            table[code] = MASS_UNITS[unit]
        else:
            table.pop(code, None)
    return table


def flow_scale(unit: str | None, factor: str) -> float:
    """m³/s per unit of flow reported in ``unit`` (none: the code table's unit for ``factor``)."""
    name = unit or FACTORS[factor].unit
    try:
        return FLOW_TO_M3_S[name]
    except KeyError:
        raise UnknownFlowUnit(f"flow unit {name!r} is not one of m3/s, m3/h, L/s") from None


def standard_and_loads(
    hours: pl.DataFrame,
    rules: Rules,
    flow_units: Mapping[str, str | None] | None = None,
    standard_dry: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Add ``standard`` (flow at standard state, dry, m³/s; concentrations too when configured)
    and ``load`` (kg in the hour) to hourly rows keyed ``mn, factor, start``. ``flow_units``:
    per MN, the unit its flow is reported in (none: the code table's); ``standard_dry``: the MNs
    whose gas flow is already at standard state, dry."""
    state = _state(hours, rules)
    factor = (pl.col("ba") + pl.col("ps")) / 101.325 * 273.15 / (273.15 + pl.col("t")) * (1 - pl.col("xsw") / 100)
    is_flow = pl.col("factor") == GAS_FLOW
    is_any_flow = pl.col("factor").is_in([GAS_FLOW, WATER_FLOW])
    mass = kg_per_m3(rules)
    per_m3 = pl.col("factor").replace_strict(mass, default=None, return_dtype=pl.Float64)
    concentration = per_m3.is_not_null()
    scale = _flow_scale(flow_units or {})
    already = pl.col("mn").is_in(list(standard_dry)) if standard_dry else pl.lit(value=False)
    joined = hours.join(state, on=["mn", "start"], how="left").with_columns(
        pl.when(is_any_flow).then(pl.col("value") * scale).alias("m3s")
    )
    joined = joined.with_columns(
        pl.when(is_flow & already)
        .then(pl.col("m3s"))
        .when(is_flow)
        .then(pl.col("m3s") * factor)
        .when(
            concentration
            & pl.col("factor").str.slice(0, 2).is_in(list(CORRECTED_PREFIXES))
            & pl.lit(rules.convert_concentrations)
        )
        .then(pl.col("value") / factor)
        .alias("standard")
    )
    flows = joined.filter(is_any_flow).select("mn", "start", pl.coalesce("standard", "m3s").alias("q_load"))
    measured = pl.when(pl.col("factor").str.starts_with("a")).then(pl.coalesce("standard", "value"))
    return (
        joined.join(flows, on=["mn", "start"], how="left")
        .with_columns(
            pl.when(concentration)
            .then(measured.otherwise(pl.col("value")) * per_m3 * pl.col("q_load") * SECONDS_PER_HOUR)
            .alias("load")
        )
        .drop("t", "ps", "xsw", "ba", "q_load", "m3s")
    )


def _flow_scale(units: Mapping[str, str | None]) -> pl.Expr:
    """m³/s per unit of each row's flow: the code table's unit unless its device declares one."""
    default = (
        pl.when(pl.col("factor") == WATER_FLOW).then(flow_scale(None, WATER_FLOW)).otherwise(flow_scale(None, GAS_FLOW))
    )
    declared = {mn: flow_scale(unit, GAS_FLOW) for mn, unit in units.items() if unit}
    if not declared:
        return default
    return pl.col("mn").replace_strict(declared, default=None, return_dtype=pl.Float64).fill_null(default)


def _state(hours: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Per device and hour: flue temperature, static pressure, moisture and air pressure."""
    columns = {FLUE_TEMPERATURE: "t", FLUE_PRESSURE: "ps", FLUE_MOISTURE: "xsw", AIR_PRESSURE: "ba"}
    wide = (
        hours.filter(pl.col("factor").is_in(list(columns)))
        .with_columns(pl.col("factor").replace_strict(columns))
        .pivot(on="factor", index=["mn", "start"], values="value", aggregate_function="first")
    )
    for name in columns.values():
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(name))
    return wide.select("mn", "start", "t", "ps", "xsw", pl.col("ba").fill_null(rules.air_pressure_kpa).alias("ba"))
