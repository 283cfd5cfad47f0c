"""``offsite screen``: the file contract other tools rely on."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from offsite.cli import app
from offsite.settings import get_settings
from offsite.sim import scenarios as sc
from offsite.sim.frames import long_frame, video_frame
from tests.screening.planted import AT, LIMIT, device

runner = CliRunner()
FIELDS = {"rule", "rules", "mn", "factor", "start", "end", "score", "summary", "evidence"}


def files(tmp_path: Path) -> dict[str, Path]:
    planted = [
        device("MN-ART", 7, lambda s: sc.article_case(s, "a21026", AT, LIMIT, platform="v", channel="c", drops=2)),
        device("MN-ZERO", 8, lambda s: sc.zero(s, "a21026", AT, 120)),
        device("MN-CLEAN", 9),
    ]
    paths = {name: tmp_path / f"{name}.csv" for name in ("data", "limits", "video")}
    long_frame(planted).write_csv(paths["data"])
    video_frame(planted).write_csv(paths["video"])
    paths["limits"].write_text(
        "mn,factor,limit\n" + "".join(f"{s.mn},a21026,{LIMIT}\n" for s in planted), encoding="utf-8"
    )
    return paths


def test_clues_as_json_lines_highest_score_first(tmp_path: Path) -> None:
    paths = files(tmp_path)
    out = tmp_path / "clues.jsonl"
    result = runner.invoke(
        app,
        [
            "screen",
            "--input",
            str(paths["data"]),
            "--limits",
            str(paths["limits"]),
            "--video",
            str(paths["video"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    clues = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [c["score"] for c in clues] == sorted((c["score"] for c in clues), reverse=True)
    assert all(set(c) == FIELDS for c in clues)
    assert {c["mn"] for c in clues} == {"MN-ART", "MN-ZERO"}
    article = [c for c in clues if c["mn"] == "MN-ART"]
    assert len(article) == 2  # two drops, each with the video missing
    assert all(c["rules"] == ["R05", "R11"] and c["factor"] == "a21026" for c in article)
    first = article[0]
    assert first["start"].endswith("+08:00")
    evidence = first["evidence"]
    assert {h["rule"] for h in evidence["hits"]} == {"R05", "R11"}
    assert evidence["parameters"]["R05"]["alpha"] == 0.8
    so2 = evidence["data"]["series"]["a21026"]
    assert min(v for _, v, _ in so2) == 12.0  # the low readings are in the evidence
    assert "no limit given" in result.stderr  # NOx and particulate have none: R05 and R08 skip them


def test_a_rule_switched_off_by_the_config(tmp_path: Path) -> None:
    paths = files(tmp_path)
    config = tmp_path / "rules.toml"
    config.write_text("[R02]\nenabled = false\n", encoding="utf-8")
    result = runner.invoke(app, ["screen", "--input", str(paths["data"]), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert all("R02" not in json.loads(line)["rules"] for line in result.stdout.splitlines())
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[R05]\nalfa = 0.9\n", encoding="utf-8")
    refused = runner.invoke(app, ["screen", "--input", str(paths["data"]), "--config", str(wrong)])
    assert refused.exit_code == 2
    assert "[R05] has no parameter alfa" in refused.stderr


def test_malformed_inputs_are_refused_naming_the_row(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text(
        "mn,factor,time,value,flag\nA,a21026,2026-11-01T00:00:00+08:00,1.0,N\nA,a21026,yesterday,2.0,N\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["screen", "--input", str(data)])
    assert result.exit_code == 2
    assert "row 3: time 'yesterday' is not ISO 8601 with an offset" in result.stderr
    data.write_text("mn,factor,time,value,flag\nA,a21026,2026-11-01T00:00:00+08:00,abc,N\n", encoding="utf-8")
    assert "row 2: value 'abc' is not a number" in runner.invoke(app, ["screen", "--input", str(data)]).stderr
    data.write_text("mn,factor,time,value,flag\nA,a21026,2026-11-01T00:00:00+08:00,1,Q\n", encoding="utf-8")
    assert "row 2: flag 'Q' is not an HJ 212 data flag" in runner.invoke(app, ["screen", "--input", str(data)]).stderr
    data.write_text("mn,time,value\n", encoding="utf-8")
    assert "missing columns factor, flag" in runner.invoke(app, ["screen", "--input", str(data)]).stderr
    limits = tmp_path / "limits.csv"
    limits.write_text("mn,factor,limit\nA,a21026,\n", encoding="utf-8")
    data.write_text("mn,factor,time,value,flag\nA,a21026,2026-11-01T00:00:00+08:00,1,N\n", encoding="utf-8")
    bad = runner.invoke(app, ["screen", "--input", str(data), "--limits", str(limits)])
    assert (bad.exit_code, "row 2: limit is required" in bad.stderr) == (2, True)
    missing = runner.invoke(app, ["screen", "--input", str(tmp_path / "nope.csv")])
    assert (missing.exit_code, "cannot read it" in missing.stderr) == (2, True)


@pytest.mark.parametrize(
    ("times", "row", "time"),
    [
        (["2026-12-01 00:00:00"], 2, "2026-12-01 00:00:00"),
        (["2026/12/01 00:00"], 2, "2026/12/01 00:00"),
        (["2026-12-01T00:00:00+08:00", "2026-12-01 01:00:00"], 3, "2026-12-01 01:00:00"),
    ],
)
def test_a_time_without_an_offset_is_refused_not_read_as_utc(
    tmp_path: Path, times: list[str], row: int, time: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("mn,factor,time,value,flag\n" + "".join(f"MN1,a21026,{t},100,N\n" for t in times), encoding="utf-8")
    result = runner.invoke(app, ["screen", "--input", str(data)])
    assert result.exit_code == 2, result.output
    assert f"row {row}: time {time!r} has no UTC offset: write it as China time with +08:00" in result.stderr


def test_a_marks_window_without_an_offset_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("mn,factor,time,value,flag\nMN1,a21026,2026-12-01T00:00:00+08:00,100,N\n", encoding="utf-8")
    marks = tmp_path / "marks.csv"
    marks.write_text(
        "mn,start,end,kind,approved\nMN1,2026-12-01T00:00:00+08:00,2026-12-01 02:00,stopped,true\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["screen", "--input", str(data), "--marks", str(marks)])
    assert result.exit_code == 2, result.output
    assert "marks.csv row 2: end '2026-12-01 02:00' has no UTC offset" in result.stderr


def test_the_devices_file_sets_ranges_and_detection_limits(tmp_path: Path) -> None:
    """A range of 300 makes readings pinned at 299.5+ over-range (R04); a detection limit of 10
    makes a stretch of readings at 8 'at the detection limit' (R02) where the default 3 would not."""

    def plant(s: sc.Series) -> None:
        s.values["a21026"][AT : AT + 5] = 300.0  # pinned at the range five times
        s.values["a21026"][AT + 600 : AT + 700] = 8.0

    data = tmp_path / "data.csv"
    long_frame([device("MN-R", 31, plant)]).write_csv(data)
    devices = tmp_path / "devices.csv"
    devices.write_text("mn,factor,range_max,detection_limit\nMN-R,a21026,300,10\n", encoding="utf-8")
    plain = runner.invoke(app, ["screen", "--input", str(data)])
    told = runner.invoke(app, ["screen", "--input", str(data), "--devices", str(devices)])
    assert told.exit_code == 0, told.output

    def rules(result: object) -> set[str]:
        stdout = result.stdout
        return {rule for line in stdout.splitlines() for rule in json.loads(line)["rules"]}

    assert {"R02", "R04"} <= rules(told)
    assert not {"R02", "R04"} & rules(plain)
    devices.write_text("mn,factor,range_max,detection_limit\nMN-R,a21026,lots,10\n", encoding="utf-8")
    bad = runner.invoke(app, ["screen", "--input", str(data), "--devices", str(devices)])
    assert (bad.exit_code, "row 2: range_max 'lots' is not a number" in bad.stderr) == (2, True)


def test_industries_decide_who_is_compared_with_whom(tmp_path: Path) -> None:
    planted = [device(f"MN-P{n}", 60 + n) for n in range(5)]
    planted.append(device("MN-ODD", 70, lambda s: sc.flagged(s, "a21026", AT, 360, "M")))
    data = tmp_path / "data.csv"
    long_frame(planted).write_csv(data)

    def peer_clues(*extra: str) -> list[dict[str, object]]:
        result = runner.invoke(app, ["screen", "--input", str(data), *extra])
        assert result.exit_code == 0, result.output
        return [c for c in map(json.loads, result.stdout.splitlines()) if "同行业" in str(c["summary"])]

    assert [c["mn"] for c in peer_clues()] == ["MN-ODD"]  # all six screened together are peers
    industries = tmp_path / "industries.csv"
    # MN-ODD's industry has two devices: too few to compare anyone with
    industries.write_text(
        "mn,industry\n" + "".join(f"MN-P{n},C3011\n" for n in range(4)) + "MN-P4,D4411\nMN-ODD,D4411\n",
        encoding="utf-8",
    )
    assert peer_clues("--industries", str(industries)) == []


def test_limits_on_the_corrected_basis_are_judged_on_the_corrected_value(tmp_path: Path) -> None:
    # Readings hug 62–66 % of the limit as measured; at 11 % O2 against a reference of 6 % they
    # correct to 93–99 % of it (× 15/10): limit hugging on the basis the standard judges.
    def hugging_as_corrected(s: sc.Series) -> None:
        sc.limit_hugging(s, "a21026", 1440, 1440, LIMIT * (21 - 11) / (21 - 6), seed=3)
        s.values["a19001"][:] = 11.0

    planted = [device("MN-HUG", 11, hugging_as_corrected)]
    data, limits = tmp_path / "data.csv", tmp_path / "limits.csv"
    long_frame(planted).write_csv(data)

    def clues(text: str) -> list[dict[str, object]]:
        limits.write_text(text, encoding="utf-8")
        result = runner.invoke(app, ["screen", "--input", str(data), "--limits", str(limits)])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    measured = clues(f"mn,factor,limit\nMN-HUG,a21026,{LIMIT}\n")
    corrected = clues(f"mn,factor,limit,basis,o2_ref\nMN-HUG,a21026,{LIMIT},corrected,6\n")
    assert [c for c in measured if "R08" in c["rules"]] == []
    hugging = [c for c in corrected if "R08" in c["rules"]]
    assert len(hugging) == 1
    assert f"限值 {LIMIT:g}" in str(hugging[0]["summary"])  # the standard's own number
    assert "按折算浓度" in str(hugging[0]["summary"])
    # without its reference O2 a corrected limit cannot be restated: judged as it stands
    assert [c for c in clues(f"mn,factor,limit,basis\nMN-HUG,a21026,{LIMIT},corrected\n") if "R08" in c["rules"]] == []
    limits.write_text(f"mn,factor,limit,basis,o2_ref\nMN-HUG,a21026,{LIMIT},corrected,25\n", encoding="utf-8")
    bad = runner.invoke(app, ["screen", "--input", str(data), "--limits", str(limits)])
    assert bad.exit_code == 2
    assert "row 2: o2_ref 25.0 is not an O2 content" in bad.stderr


def test_a_limit_taken_from_the_standard_the_limits_file_names(tmp_path: Path) -> None:
    """No number, a standard instead: its limits, on the corrected basis at its reference O2."""
    paths = files(tmp_path)
    args = ["screen", "--input", str(paths["data"]), "--video", str(paths["video"])]
    named = tmp_path / "named.csv"
    # MN-ART under GB 13223 (coal): SO2 100 mg/m³ at 6 % O2, like the planted limit;
    # MN-ZERO's standard names no COD limit for flue gas, so its own limit stands alone
    named.write_text(
        "mn,factor,limit,standard\nMN-ART,*,,GB13223-2011-coal\nMN-ZERO,a21026,100,\nMN-ZERO,w01018,,GB13223-2011-coal\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, [*args, "--limits", str(named)])
    assert result.exit_code == 0, result.output
    clues = [json.loads(line) for line in result.stdout.splitlines()]
    article = [c for c in clues if c["mn"] == "MN-ART" and "R05" in c["rules"]]
    assert article, clues
    assert article[0]["evidence"]["parameters"]["R05"]["alpha"] == 0.8
    assert "按折算浓度" in article[0]["summary"]
    assert "MN-ART a21002: no limit" not in result.stderr  # NOx limited by the standard too
    assert "MN-ART a34013: no limit" not in result.stderr
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("mn,factor,limit,standard\nMN-ART,a21026,,GB9999-2099\n", encoding="utf-8")
    refused = runner.invoke(app, [*args, "--limits", str(unknown)])
    assert refused.exit_code == 2
    assert "row 2: standard 'GB9999-2099' is not in the default table" in refused.stderr
    neither = tmp_path / "neither.csv"
    neither.write_text("mn,factor,limit\nMN-ART,a21026,\n", encoding="utf-8")
    refused = runner.invoke(app, [*args, "--limits", str(neither)])
    assert refused.exit_code == 2
    assert "row 2: limit is required (or a standard to take it from)" in refused.stderr


def test_several_inputs_are_screened_as_batches_in_a_pool(tmp_path: Path) -> None:
    """Split by device into two files (or a folder of them), the data give the same clues,
    evidence included, as in one file; two worker processes do the work."""
    paths = files(tmp_path)
    side = ["--limits", str(paths["limits"]), "--video", str(paths["video"])]
    whole = runner.invoke(app, ["screen", "--input", str(paths["data"]), *side])
    assert whole.exit_code == 0, whole.output
    folder = tmp_path / "batches"
    folder.mkdir()
    data = pl.read_csv(paths["data"])
    data.filter(pl.col("mn") == "MN-ART").write_csv(folder / "a.csv")
    data.filter(pl.col("mn") != "MN-ART").write_parquet(folder / "b.parquet")
    split = runner.invoke(
        app,
        ["screen", "--input", str(folder / "a.csv"), "--input", str(folder / "b.parquet"), "--workers", "2", *side],
    )
    assert split.exit_code == 0, split.output
    assert "from 2 input files" in split.stderr
    as_json = [json.loads(line) for line in split.stdout.splitlines()]
    assert as_json == [json.loads(line) for line in whole.stdout.splitlines()]
    assert len(as_json) == 3  # the two drops and the zeros
    in_folder = runner.invoke(app, ["screen", "--input", str(folder), *side])
    assert in_folder.stdout == split.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = runner.invoke(app, ["screen", "--input", str(empty)])
    assert refused.exit_code == 2
    assert "no .csv or .parquet files in this folder" in refused.stderr


def test_a_marks_file_is_read_with_the_kinds_table_the_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = files(tmp_path)
    marks = tmp_path / "marks.csv"
    marks.write_text(
        "mn,start,end,kind,approved\nMN-ZERO,2026-03-01T00:00:00+08:00,2026-03-01T04:00:00+08:00,歇业,true\n"
    )
    args = ["screen", "--input", str(paths["data"]), "--marks", str(marks), "--out", str(tmp_path / "c.jsonl")]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "歇业" in refused.output  # not a kind of the packaged table: named, not ignored
    table = tmp_path / "kinds.toml"
    table.write_text('[[kind]]\nkey = "stopped"\nterms = ["歇业"]\nstop = true\n', encoding="utf-8")
    monkeypatch.setenv("OFFSITE_MARK_KINDS_FILE", str(table))
    get_settings.cache_clear()
    assert runner.invoke(app, args).exit_code == 0
    table.write_text("[[[not toml", encoding="utf-8")
    broken = runner.invoke(app, args)
    assert broken.exit_code == 2
    assert "OFFSITE_MARK_KINDS_FILE" in broken.output
    assert "not TOML" in broken.output


def test_a_one_reading_file_is_screened_without_a_clue(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("mn,factor,time,value,flag\nMN1,a21026,2026-12-01T00:00:00+08:00,100,N\n", encoding="utf-8")
    result = runner.invoke(app, ["screen", "--input", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "0 clues from 1 readings" in result.stderr


def test_a_device_with_one_reading_leaves_another_devices_copied_day_found(tmp_path: Path) -> None:
    copied = device("MN-COPY", 3, lambda s: sc.replay(s, "a21026", AT, 120, AT - 1440))
    data = tmp_path / "data.csv"
    long_frame([copied]).write_csv(data)
    with data.open("a", encoding="utf-8") as out:
        out.write("MN-ONE,a21026,2026-11-02T00:00:00+08:00,50.0,N\n")
    result = runner.invoke(app, ["screen", "--input", str(data)])
    assert result.exit_code == 0, result.output
    clues = [json.loads(line) for line in result.stdout.splitlines()]
    assert any("R14" in c["rules"] for c in clues if c["mn"] == "MN-COPY")
    assert not [c for c in clues if c["mn"] == "MN-ONE"]
