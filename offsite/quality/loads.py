"""Standard-state, dry-basis flue-gas flow and the mass discharged (loads) per hour.

- Standard conditions are 273.15 K and 101.325 kPa, dry (HJ 75-2017, as digested in
  screening-rules.md §2.1 [R]): Q_sd = Q × (Ba + Ps)/101.325 × 273.15/(273.15 + t) × (1 − Xsw/100),
  with t the flue temperature (a01012, °C), Ps the flue static pressure (a01013, kPa, gauge),
  Xsw the moisture (a01014, %) and Ba the air pressure (a01006, kPa) where sent, otherwise
  ``Rules.air_pressure_kpa``. Applied only where t, Ps and Xsw are all measured that hour.
- Concentrations are converted the same way only when ``Rules.convert_concentrations`` is on:
  extractive CEMS already report dry standard-state concentrations, in-situ ones do not.
- The hourly load of a pollutant is its hourly mean × the hourly mean flow × 3 600 s × 10⁻⁶:
  mg/m³ × m³/s for flue gas (on the standard dry flow where there is one, on the measured,
  not the O2-corrected, concentration: HJ 75 §11 [R]) and mg/L × L/s for wastewater, in kg.
"""

from __future__ import annotations

import polars as pl

from offsite.quality.rules import (
    AIR_PRESSURE,
    FLUE_MOISTURE,
    FLUE_PRESSURE,
    FLUE_TEMPERATURE,
    GAS_FLOW,
    NO_LOAD,
    NOT_CORRECTED,
    WATER_FLOW,
    Rules,
)

KG_PER_HOUR = 3600 * 1e-6
"""mg/m³ × m³/s (or mg/L × L/s) over one hour, in kg."""


def standard_and_loads(hours: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Add ``standard`` (flow at standard state, dry; concentrations too when configured) and
    ``load`` (kg in the hour) to hourly rows keyed ``mn, factor, start``."""
    state = _state(hours, rules)
    factor = (pl.col("ba") + pl.col("ps")) / 101.325 * 273.15 / (273.15 + pl.col("t")) * (1 - pl.col("xsw") / 100)
    is_flow = pl.col("factor") == GAS_FLOW
    concentration = ~pl.col("factor").is_in(list(NOT_CORRECTED | NO_LOAD))
    joined = hours.join(state, on=["mn", "start"], how="left").with_columns(
        pl.when(is_flow)
        .then(pl.col("value") * factor)
        .when(concentration & pl.col("factor").str.starts_with("a") & pl.lit(rules.convert_concentrations))
        .then(pl.col("value") / factor)
        .alias("standard")
    )
    flows = joined.filter(pl.col("factor").is_in([GAS_FLOW, WATER_FLOW])).select(
        "mn", "start", pl.coalesce("standard", "value").alias("q_load")
    )
    measured = pl.when(pl.col("factor").str.starts_with("a")).then(pl.coalesce("standard", "value"))
    return (
        joined.join(flows, on=["mn", "start"], how="left")
        .with_columns(
            pl.when(concentration)
            .then(measured.otherwise(pl.col("value")) * pl.col("q_load") * KG_PER_HOUR)
            .alias("load")
        )
        .drop("t", "ps", "xsw", "ba", "q_load")
    )


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
