"""Scenarios do what their labels say, where they say."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from offsite.sim import scenarios as sc
from offsite.sim.packets import window_flags
from offsite.sim.signals import GAS, series

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def fresh(minutes: int = 2 * 1440) -> sc.Series:
    return sc.Series("MN1", T0, series(GAS, T0, minutes, seed=3))


def test_value_scenarios_change_only_their_window_and_say_where() -> None:
    s = fresh()
    before = {k: v.copy() for k, v in s.values.items()}
    sc.constant(s, "a21026", 100, 30)
    sc.zero(s, "a21002", 200, 20)
    sc.manual_set(s, "a34013", 300, 10, 4.0)
    sc.limit_hugging(s, "a21026", 400, 60, 50.0, seed=1)
    so2 = s.values["a21026"]
    assert len(set(so2[100:130])) == 1
    assert (s.values["a21002"][200:220] == 0).all()
    assert (s.flags["a34013"][300:310] == "S").all()
    assert ((so2[400:460] >= 46.5) & (so2[400:460] < 50)).all()
    untouched = np.ones(len(so2), dtype=bool)
    untouched[100:130] = untouched[400:460] = False
    assert (so2[untouched] == before["a21026"][untouched]).all()
    assert [(lab.scenario, lab.factor, lab.start, lab.end) for lab in s.labels] == [
        ("constant", "a21026", T0 + timedelta(minutes=100), T0 + timedelta(minutes=130)),
        ("zero", "a21002", T0 + timedelta(minutes=200), T0 + timedelta(minutes=220)),
        ("manual_set", "a34013", T0 + timedelta(minutes=300), T0 + timedelta(minutes=310)),
        ("limit_hugging", "a21026", T0 + timedelta(minutes=400), T0 + timedelta(minutes=460)),
    ]


def test_drops_gaps_dilution_and_exceedance_days() -> None:
    s = fresh()
    sc.drop_after_near_limit(s, "a21026", 600, 60, limit=100.0)
    assert s.values["a21026"][619] > 95
    assert s.values["a21026"][620] == 15.0
    assert s.labels[-1].start == T0 + timedelta(minutes=620)
    sc.gap_after_high(s, "a21026", 700, 30, limit=100.0)
    assert s.values["a21026"][700] == 130.0
    assert s.missing[701:730].all()
    assert not s.missing[700]
    o2_before = s.values["a19001"][800:830].copy()
    nox_before = s.values["a21002"][800:830].copy()
    sc.o2_dilution(s, "a21002", 800, 30)
    corrected = lambda c, o2: c * (21 - 10) / (21 - o2)  # noqa: E731
    assert np.allclose(
        corrected(s.values["a21002"][800:830], s.values["a19001"][800:830]), corrected(nox_before, o2_before), rtol=0.02
    )
    assert (s.values["a21002"][800:830] < nox_before).all()
    sc.exceedance_days(s, "a34013", [1], limit=10.0)
    assert s.values["a34013"][1440:2880].mean() == 13.0
    assert s.values["a34013"][:1440].mean() < 10.0


def test_article_case_power_and_video_files(tmp_path: Path) -> None:
    s = fresh()
    sc.article_case(s, "a21026", 900, limit=100.0, platform="hik", channel="ch7", drops=3)
    sc.treatment_power_off(s, 1000, 120, production="M-PROD", treatment="M-TREAT")
    assert [lab.start for lab in s.labels if lab.scenario == "article_case"] == [
        T0 + timedelta(minutes=960 + 180 * k) for k in range(3)
    ]
    assert all(s.values["a21026"][960 + 180 * k] == 12.0 for k in range(3))
    assert sc.write_video([s], tmp_path / "video.csv") == 3
    assert sc.write_power([s], tmp_path / "power.csv") == 2 * (2 * 1440 // 15)
    with open(tmp_path / "power.csv", encoding="utf-8") as fh:
        power = list(csv.DictReader(fh))
    off = [r for r in power if r["meter"] == "M-TREAT" and float(r["kw"]) < 10]
    assert len(off) == 120 // 15
    assert datetime.fromisoformat(off[0]["time"]) == T0 + timedelta(minutes=1005)
    assert sc.write_labels([s], tmp_path / "labels.jsonl") == 4
    assert json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])["scenario"] == "article_case"


def test_an_hours_flag_follows_the_75_percent_rule() -> None:
    flags = {"a": np.array(["N"] * 45 + ["M"] * 15), "b": np.array(["N"] * 44 + ["C"] * 16)}
    sent = np.ones(60, dtype=bool)
    assert window_flags(flags, 0, 60, sent) == {"a": "N", "b": "C"}
