"""Each rule fires on its planted scenario, at the planted window, and not on the clean controls."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from offsite.screening.engine import Result, screen
from offsite.screening.inputs import DATA, INDUSTRIES, LIMITS, MARKS, Inputs
from offsite.screening.parameters import ParameterError, load
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame, video_frame
from tests.screening.planted import AT, LIMIT, MINUTES, START, device, fired, run

SCENARIOS = {
    "R01": lambda s: sc.constant(s, "a21026", AT, 180),
    "R02": lambda s: sc.zero(s, "a21026", AT, 120),
    "R05": lambda s: sc.drop_after_near_limit(s, "a21026", AT, 90, LIMIT),
    "R06": lambda s: sc.gap_after_high(s, "a21026", AT, 180, LIMIT),
    "R07": lambda s: sc.flagged(s, "a21026", AT, 1600, "M"),
    "R08": lambda s: sc.limit_hugging(s, "a21026", 1440, 1440, LIMIT),
    "R09": lambda s: sc.o2_dilution(s, "a21026", AT, 360),
    "R12": lambda s: sc.treatment_power_off(s, AT, 240, production="P", treatment="T"),
    "R13": lambda s: sc.fabricated(s, "a21026", AT, 480),
    "R14": lambda s: sc.replay(s, "a21026", AT, 120, AT - 1440),
    "R15": lambda s: sc.manual_set(s, "a21026", AT, 120, 30.0),
    "R18": lambda s: sc.chemical_suppression(s, "a21026", AT + 1440, 240),  # after two days of history
}


@pytest.fixture(scope="module")
def planted_result():  # type: ignore[no-untyped-def]
    planted = [device(f"MN-{rule}", seed, plant) for seed, (rule, plant) in enumerate(SCENARIOS.items(), 1)]
    planted += [device(f"MN-CLEAN-{n}", 100 + n) for n in range(4)]
    return run(planted), planted


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_rule_fires_on_its_scenario_inside_the_planted_window(planted_result, rule: str) -> None:  # type: ignore[no-untyped-def]
    result, planted = planted_result
    mn = f"MN-{rule}"
    assert rule in fired(result, mn)
    [label] = [lab for s in planted if s.mn == mn for lab in s.labels]
    hits = result.hits.filter((pl.col("mn") == mn) & (pl.col("rule") == rule))
    overlapping = hits.filter((pl.col("start") < label.end) & (pl.col("end") > label.start))
    assert overlapping.height >= 1, (label, hits)


def test_clean_devices_raise_nothing(planted_result) -> None:  # type: ignore[no-untyped-def]
    result, _ = planted_result
    assert result.clues.filter(pl.col("mn").str.starts_with("MN-CLEAN")).is_empty()


def test_the_article_case_joins_drop_and_missing_video_into_one_stronger_clue() -> None:
    s = device("MN-ART", 7, lambda s: sc.article_case(s, "a21026", AT, LIMIT, platform="v", channel="c", drops=1))
    result = run([s])
    [clue] = result.clues.to_dicts()
    assert clue["rules"] == ["R05", "R11"]
    assert clue["rule"] == "R05"
    drop, video = sorted(result.hits.to_dicts(), key=lambda h: h["rule"])
    assert clue["score"] == pytest.approx(1 - (1 - drop["score"]) * (1 - video["score"]))
    assert clue["score"] > max(drop["score"], video["score"])
    # 1.05 × 100 at the end of the climb, then 0.12 × 100: a fall of 89 %
    assert "由 105.0 降至 12.0 mg/m³（降幅 89%" in clue["summary"]
    assert "视频离线" in clue["summary"]
    # the climb above the limit before the drop is named as an officer names it
    assert "同期 SO2 数据异常（R05、超标）" in video["summary"]


def test_a_legitimate_load_drop_moves_flow_with_the_pollutant_and_is_not_a_drop() -> None:
    def load_drop(s: sc.Series) -> None:
        s.values["a21026"][AT - 60 : AT] = 95.0
        s.values["a21026"][AT : AT + 120] = 20.0  # SO2 −79 % …
        s.values["a00000"][AT : AT + 120] *= 0.3  # … because the flow fell with the load

    result = run([device("MN-LOAD", 3, load_drop)])
    assert "R05" not in fired(result, "MN-LOAD")


def test_an_approved_shutdown_mark_keeps_a_stopped_plants_zeros_out_of_r02() -> None:
    s = device("MN-STOP", 5, lambda s: sc.zero(s, "a21026", AT, 240))
    start, end = START + timedelta(minutes=AT), START + timedelta(minutes=AT + 240)
    marks = pl.DataFrame([("MN-STOP", start, end, "stopped", True, start, None)], schema=MARKS, orient="row")
    assert "R02" in fired(run([s]), "MN-STOP")
    assert "R02" not in fired(run([s], marks=marks), "MN-STOP")


def test_zeros_and_constants_of_a_plant_whose_running_is_unknown_are_questions_not_findings() -> None:
    def stuck(s: sc.Series) -> None:
        sc.zero(s, "a21026", AT, 240)
        sc.constant(s, "a21002", AT, 240)

    def hits_of(result: Result) -> dict[str, dict[str, object]]:
        return {h["rule"]: h for h in result.hits.filter(pl.col("rule").is_in(["R01", "R02"])).to_dicts()}

    with_flow = hits_of(run([device("MN-Z", 5, stuck)]))
    readings = long_frame([device("MN-Z", 5, stuck)]).filter(pl.col("factor") != "a00000")  # no flow, no meter
    without = hits_of(screen(Inputs(readings), load()))
    assert set(with_flow) == set(without) == {"R01", "R02"}
    for rule in ("R01", "R02"):
        assert "未能确认生产状态" not in str(with_flow[rule]["summary"])
        assert str(without[rule]["summary"]).endswith("；无流量或用电数据，未能确认生产状态")
        assert without[rule]["score"] == pytest.approx(float(with_flow[rule]["score"]) / 2)  # type: ignore[arg-type]


def test_a_calibration_of_normal_length_is_not_r07() -> None:
    s = device("MN-CAL", 9, lambda s: sc.flagged(s, "a21026", AT, 30, "C"))
    assert "R07" not in fired(run([s]), "MN-CAL")
    long = device("MN-CAL2", 9, lambda s: sc.flagged(s, "a21026", AT, 150, "C"))
    assert "R07" in fired(run([long]), "MN-CAL2")  # 2.5 h of calibration in a day: over 2 h


def test_negative_readings_and_over_range_days() -> None:
    def faults(s: sc.Series) -> None:
        s.values["a21026"][AT : AT + 5] = -2.0
        s.flags["a21026"][AT + 100 : AT + 104] = "T"

    result = run([device("MN-NEG", 11, faults)])
    assert {"R03", "R04"} <= fired(result, "MN-NEG")


def test_every_hit_carries_a_summary_and_a_score_in_range(planted_result) -> None:  # type: ignore[no-untyped-def]
    result, _ = planted_result
    assert result.hits.height > 0
    assert result.hits["summary"].str.len_chars().min() > 10
    scores = result.hits["score"].to_numpy()
    assert np.all((scores > 0) & (scores <= 1))


def test_hourly_white_noise_raises_nothing() -> None:
    """Independent noise has chance jumps (an O2 hour two points up while SO2 is one tenth down);
    no rule may take them for a finding."""
    rng = np.random.default_rng(7)
    devices, hours = 40, 240
    times = pl.datetime_range(START, START + timedelta(hours=hours - 1), "1h", eager=True, time_zone="UTC")
    parts = []
    for factor, base in (("a21026", 35.0), ("a21002", 60.0), ("a34013", 5.0), ("a19001", 9.5), ("a00000", 45.0)):
        values = np.round(base * rng.normal(1.0, 0.05, (devices, hours)), 2).ravel()
        parts.append(
            pl.DataFrame(
                {
                    "mn": np.repeat([f"N{i:03d}" for i in range(devices)], hours),
                    "factor": factor,
                    "time": pl.Series(np.tile(times.to_numpy(), devices)).dt.replace_time_zone("UTC"),
                    "value": values,
                    "flag": "N",
                }
            )
        )
    data = pl.concat(parts).cast(DATA)
    limits = pl.DataFrame(
        {"mn": data["mn"].unique(), "factor": "a21026", "limit": LIMIT, "basis": "measured", "o2_ref": None}
    )
    result = screen(Inputs(data, limits=limits.cast(LIMITS)), load())
    assert result.hits.is_empty(), result.hits.select("rule", "mn", "summary").head(5).to_dicts()


def test_replay_needs_equal_readings_not_just_equal_fingerprints() -> None:
    """[1, 3, 3, 1] and [3, 1, 1, 3] share their sum, sum of squares and position-weighted sum
    (0·1 + 1·3 + 2·3 + 3·1 = 12 = 0·3 + 1·1 + 2·1 + 3·3): only the true copy is R14."""
    pattern = {"R-SAME": [1.0, 3.0, 3.0, 1.0], "R-ANAGRAM": [3.0, 1.0, 1.0, 3.0]}
    rows = []
    for d, (mn, later) in enumerate(pattern.items()):
        filler = [[base + 0.1 * i + 0.01 * d for i in range(10)] for base in (5.0, 7.0, 9.0)]
        series = filler[0] + [1.0, 3.0, 3.0, 1.0 + d] + filler[1] + later + filler[2]
        rows += [(mn, "a21026", START + timedelta(hours=h), v, "N") for h, v in enumerate(series)]
    data = pl.DataFrame(rows, schema=DATA, orient="row")
    config = load()
    catalogue = type(config)({**config.rules, "R14": {**config.rules["R14"], "hours": 4}}, {})
    hits = screen(Inputs(data), catalogue).hits.filter(pl.col("rule") == "R14")
    assert hits["mn"].to_list() == ["R-SAME"]
    assert hits["start"][0] == START + timedelta(hours=24)


def test_r10_fires_on_a_pollutant_far_below_what_the_load_implies_and_only_downwards() -> None:
    def under(s: sc.Series) -> None:
        s.values["a21026"][AT : AT + 300] *= 0.1  # SO2 at a tenth while the flow carries on

    def load_cut(s: sc.Series) -> None:
        s.values["a00000"][AT : AT + 300] *= 0.4  # the load is cut, the concentration holds

    assert "R10" in fired(run([device("MN-UNDER", 21, under)]), "MN-UNDER")
    assert "R10" not in fired(run([device("MN-CUT", 22, load_cut)]), "MN-CUT")


def test_r10_reads_production_power_o2_and_temperature_not_just_flow() -> None:
    """Without a flow meter the load comes from the production meter; the summary names the
    covariates the fit used."""

    def under(s: sc.Series) -> None:
        s.values["a21026"][AT : AT + 300] *= 0.3
        del s.values["a00000"], s.flags["a00000"]
        s.power += [("P", s.at(i), 800.0 + 10.0 * (i % 7)) for i in range(0, MINUTES, 5)]

    result = run([device("MN-NOFLOW", 23, under)])
    [hit] = result.hits.filter(pl.col("rule") == "R10").to_dicts()
    assert hit["start"] <= START + timedelta(minutes=AT + 60)
    assert hit["end"] >= START + timedelta(minutes=AT + 240)
    assert "按同期O2、烟温、生产用电应约为" in hit["summary"]
    assert "流量" not in hit["summary"]


def test_r10_judges_a_shortfall_only_where_a_limit_or_detection_limit_gives_it_a_scale() -> None:
    s = device("MN-NOLIMIT", 24, lambda s: s.values["a21002"].__setitem__(slice(AT, AT + 300), 5.0))
    data = long_frame([s], {})
    unscaled = screen(Inputs(data), load()).hits.filter((pl.col("rule") == "R10") & (pl.col("factor") == "a21002"))
    assert unscaled.is_empty()
    limits = pl.DataFrame([("MN-NOLIMIT", "a21002", 100.0, "measured", None)], schema=LIMITS, orient="row")
    scaled = screen(Inputs(data, limits=limits), load()).hits
    assert scaled.filter((pl.col("rule") == "R10") & (pl.col("factor") == "a21002")).height == 1


def test_r10_sees_a_wet_scrubber_bypassed_by_its_flue_temperature() -> None:
    bypassed = device("MN-BYPASS", 25, lambda s: sc.scrubber_bypass(s, AT, 150))

    def dry(s: sc.Series) -> None:  # no wet scrubber: the gas is always hot, and a hotter spell is no bypass
        s.values["a01012"] += 80.0
        s.values["a01012"][AT : AT + 150] += 40.0

    result = run([bypassed, device("MN-DRY", 26, dry)])
    [hit] = result.hits.filter((pl.col("rule") == "R10") & (pl.col("mn") == "MN-BYPASS")).to_dicts()
    assert hit["factor"] == "a21026"
    assert hit["start"] <= START + timedelta(minutes=AT + 60)
    assert hit["end"] >= START + timedelta(minutes=AT + 120)
    assert "疑似脱硫设施旁路或停运" in hit["summary"]
    assert "平时约 5" in hit["summary"]
    assert result.hits.filter((pl.col("rule") == "R10") & (pl.col("mn") == "MN-DRY")).is_empty()


def test_peers_show_a_device_out_of_service_more_often_and_one_with_more_air() -> None:
    def maintained(s: sc.Series) -> None:
        sc.flagged(s, "a21026", AT, 360, "M")  # six hours: not long for one event, long against peers

    def aired(s: sc.Series) -> None:
        day = slice(1440, 2 * 1440)
        s.values["a19001"][day] += 4.0  # a whole day with more air than any peer …
        s.values["a21026"][day] *= 0.6  # … and SO2 at 60 % of the device's usual

    planted = [device(f"MN-PEER-{n}", 40 + n) for n in range(5)]
    planted += [device("MN-MAINT", 50, maintained), device("MN-AIR", 51, aired)]
    result = run(planted)
    peer_hits = result.hits.filter(pl.col("summary").str.contains("同行业"))
    assert sorted(peer_hits.select("mn", "rule").unique().rows()) == [("MN-AIR", "R09"), ("MN-MAINT", "R07")]
    assert result.clues.filter(pl.col("mn").str.starts_with("MN-PEER")).is_empty()
    # with fewer than five peers in an industry nobody is compared
    few = run(planted[:2] + planted[5:])
    assert few.hits.filter(pl.col("summary").str.contains("同行业")).is_empty()


def test_r10_leaves_series_too_short_to_fit_alone() -> None:
    """A day of data is fewer hours than a fit needs: nothing to judge, and no error."""
    short = device("MN-SHORT", 27, lambda s: s.values["a21026"].__setitem__(slice(3000, 3300), 1.0))
    data = long_frame([short], {}).filter(pl.col("time") >= START + timedelta(days=2))
    limits = pl.DataFrame([("MN-SHORT", "a21026", LIMIT, "measured", None)], schema=LIMITS, orient="row")
    result = screen(Inputs(data, limits=limits), load())
    assert result.hits.filter(pl.col("rule") == "R10").is_empty()
    assert not result.hits.filter(pl.col("rule") == "R02").is_empty()  # the rest of the catalogue ran


def test_overrides_apply_per_industry_and_device_narrowest_last(tmp_path: Path) -> None:
    def frozen(s: sc.Series) -> None:
        sc.constant(s, "a21026", AT, 40)  # 40 minutes: short of the default hour

    planted = [device(f"MN-{name}", 30 + n, frozen) for n, name in enumerate(("CEMENT", "GLASS", "OWN"))]
    industries = pl.DataFrame(
        {"mn": ["MN-CEMENT", "MN-GLASS", "MN-OWN"], "industry": ["C3011", "C3041", "C3011"]}, schema=INDUSTRIES
    )
    config = tmp_path / "rules.toml"
    config.write_text(
        '[override."industry:C3011".R01]\nminutes = 30\n\n[override."mn:MN-OWN".R01]\nminutes = 90\n',
        encoding="utf-8",
    )
    result = screen(Inputs(long_frame(planted, {}), industries=industries), load(config))
    frozen_in = set(result.hits.filter(pl.col("rule") == "R01")["mn"])
    assert frozen_in == {"MN-CEMENT"}  # the glass works keeps the hour, the device its own 90 minutes
    off = tmp_path / "off.toml"
    off.write_text('[override."industry:C3011".R01]\nenabled = false\n', encoding="utf-8")
    quiet = screen(Inputs(long_frame(planted, {}), industries=industries), load(off))
    assert quiet.hits.filter(pl.col("rule") == "R01").is_empty()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[override."plant:7".R01]\nminutes = 30\n', encoding="utf-8")
    with pytest.raises(ParameterError, match="a scope is one of industry:…, unit:…, outlet:…, mn:…"):
        load(wrong)


def test_rows_in_any_order_give_the_same_clues(planted_result) -> None:  # type: ignore[no-untyped-def]
    """The detectors read each series' rows together and in time order; an export sorted by time
    (every device and factor interleaved), or shuffled outright, is put in that order first."""
    result, planted = planted_result
    data = long_frame(planted, {"P": "production", "T": "treatment"})
    limits = pl.DataFrame(
        {"mn": [s.mn for s in planted], "factor": "a21026", "limit": LIMIT, "basis": "measured", "o2_ref": None}
    )

    def clues_of(frame: pl.DataFrame) -> list[tuple[object, ...]]:
        found = screen(Inputs(frame, limits=limits.cast(LIMITS), video=video_frame(planted)), load()).clues
        return sorted(found.select("mn", "rule", "start", "end").rows())

    expected = sorted(result.clues.select("mn", "rule", "start", "end").rows())
    assert clues_of(data.sort("time")) == expected
    assert clues_of(data.sample(fraction=1.0, shuffle=True, seed=5)) == expected
