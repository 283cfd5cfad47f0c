"""Realistic monitoring series: a daily production cycle, noise that wanders, sensible bounds.

Pollutant concentrations and flow follow production (high in the working day, low at night);
O2 moves against it (less excess air at full load); each factor wanders around its cycle with
AR(1) noise, as analyser readings do, instead of jumping independently minute to minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy.signal import lfilter

from offsite.hj212.times import CST


@dataclass(frozen=True, slots=True)
class Profile:
    code: str
    base: float
    cycle: float
    """Relative swing with production (+0.3 = 30 % higher at peak); negative moves against it."""
    noise: float
    """Relative size of the wandering noise."""
    low: float
    high: float
    decimals: int = 2


GAS = (
    Profile("a21026", 35.0, 0.30, 0.08, 0.0, 2000.0),  # SO2 mg/m³
    Profile("a21002", 60.0, 0.25, 0.07, 0.0, 2000.0),  # NOx mg/m³
    Profile("a34013", 5.0, 0.30, 0.10, 0.0, 500.0),  # particulate mg/m³
    Profile("a19001", 9.5, -0.12, 0.03, 0.5, 20.9, 1),  # O2 %
    Profile("a00000", 45.0, 0.35, 0.04, 0.0, 500.0, 1),  # flow m³/s
    Profile("a01012", 55.0, 0.10, 0.02, -20.0, 300.0, 1),  # temperature °C
    Profile("a01014", 8.0, 0.05, 0.05, 0.0, 40.0, 1),  # humidity %
    Profile("a01013", -0.3, 0.10, 0.05, -5.0, 5.0, 3),  # static pressure kPa
)

WATER = (
    Profile("w01018", 25.0, 0.20, 0.08, 0.0, 2000.0, 1),  # COD mg/L
    Profile("w21003", 1.2, 0.20, 0.10, 0.0, 200.0),  # NH3-N mg/L
    Profile("w21011", 0.20, 0.15, 0.10, 0.0, 50.0),  # TP mg/L
    Profile("w21001", 8.0, 0.15, 0.06, 0.0, 200.0),  # TN mg/L
    Profile("w01001", 7.2, 0.02, 0.01, 0.0, 14.0),  # pH
    Profile("w00000", 20.0, 0.40, 0.05, 0.0, 2000.0),  # flow L/s
)

FLOW = {"gas": "a00000", "water": "w00000"}


def production(start: datetime, minutes: int) -> np.ndarray:
    """Load factor per minute, 0.55 at night to 1.0 in the afternoon (China time)."""
    local = start.astimezone(CST)
    first = local.hour * 60 + local.minute
    hours = ((np.arange(minutes) + first) % 1440) / 60.0
    return 0.775 + 0.225 * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)


def series(profiles: tuple[Profile, ...], start: datetime, minutes: int, seed: int) -> dict[str, np.ndarray]:
    """One value per minute for each factor, rounded as the analyser reports it."""
    rng = np.random.default_rng(seed)
    load = production(start, minutes)
    out = {}
    for profile in profiles:
        shocks = rng.normal(0.0, profile.noise * 0.3, minutes)
        wander = lfilter([1.0], [1.0, -0.97], shocks)  # AR(1): level = 0.97 × level + shock
        cycle = 1.0 + profile.cycle * (load - 0.775) / 0.225
        values = profile.base * cycle * (1.0 + wander)
        out[profile.code] = np.round(np.clip(values, profile.low, profile.high), profile.decimals)
    return out


def minute_starts(start: datetime, minutes: int) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(minutes)]
