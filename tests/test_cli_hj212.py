"""The ``offsite hj212`` contract: JSON keys, failures, exit statuses, options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from offsite.cli import app
from offsite.hj212.crc import CrcVariant
from offsite.hj212.encoder import encode
from tests.conftest import DATA, load_vectors
from tests.hj212.packets import long_packet, minute_packet

runner = CliRunner()
PACKET_KEYS = [
    "ok",
    "version",
    "qn",
    "st",
    "cn",
    "pw",
    "mn",
    "flag",
    "ack_requested",
    "pnum",
    "pno",
    "crc",
    "data_time",
    "cp",
    "factors",
]


def decode_lines(data: bytes, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["hj212", "decode", *args], input=data)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_vector_in_order_with_the_documented_keys(tmp_path: Path) -> None:
    vectors = load_vectors()
    stream = tmp_path / "capture.txt"
    stream.write_bytes(b"".join(v["packet"].encode() for v in vectors))
    result = runner.invoke(app, ["hj212", "decode", str(stream)])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(vectors)
    for obj, vector in zip(lines, vectors, strict=True):
        assert obj["ok"] is vector["crc_ok"]
        if obj["ok"]:
            assert list(obj) == PACKET_KEYS
            assert (obj["cn"], obj["st"], obj["mn"], obj["qn"]) == (
                vector["cn"],
                vector["st"],
                vector["mn"],
                vector["qn"],
            )
            assert obj["flag"] == (None if vector["flag"] is None else int(vector["flag"]))
            assert obj["crc"]["declared"] == vector["crc_in_packet"].upper()
            assert obj["crc"]["variant"] == "hj212"
        else:
            assert list(obj) == ["ok", "error", "raw"]
            assert obj["error"]["code"] == "crc_mismatch"
            assert obj["raw"] == vector["packet"]


def test_factor_fields_are_numbers_flags_text_and_2005_codes_named() -> None:
    (vector,) = [v for v in load_vectors() if "benchmark packet" in v["notes"]]
    (obj,) = decode_lines(vector["packet"].encode())
    assert obj["version"] == "2005"
    assert obj["data_time"] == "2016-08-24T00:38:17+08:00"  # 17 digits, zero milliseconds
    assert obj["factors"]["w01018"] == {"Rtd": 231.0, "Flag": "N", "code_2005": "011"}
    assert obj["factors"]["w00000"] == {"Rtd": 36.91, "code_2005": "B01"}
    assert obj["cp"]["011-Rtd"] == "231.0"
    assert obj["ack_requested"] is False
    assert obj["flag"] is None
    assert obj["pnum"] is None


def test_junk_runs_and_undecodable_bytes() -> None:
    data = encode(minute_packet(0))
    lines = decode_lines(b"\xff\xfejunk" + data + b"tail")
    assert [o["ok"] for o in lines] == [False, True, False]
    assert lines[0]["error"]["code"] == "no_header"
    assert lines[0]["raw"] == "\\xff\\xfejunk"
    assert lines[2]["raw"] == "tail"


def test_split_parts_are_printed_one_by_one() -> None:
    vectors = [v["packet"].encode() for v in load_vectors() if "split packet" in v["notes"]]
    lines = decode_lines(b"".join(vectors))
    assert [(o["pnum"], o["pno"]) for o in lines] == [(2, 1), (2, 2)]


def test_strict_and_max_length() -> None:
    data = long_packet(1045)
    assert decode_lines(data)[0]["ok"] is True
    strict = decode_lines(data, "--strict")[0]
    assert strict["error"]["code"] == "too_long"
    assert decode_lines(data, "--max-length", "1000")[0]["error"]["code"] == "too_long"
    lf = data[:-2] + b"\n"
    assert decode_lines(lf)[0]["ok"] is True
    assert decode_lines(lf, "--strict", "--max-length", "2000")[0]["error"]["code"] == "bad_terminator"


def test_crc_variants_option() -> None:
    swapped = encode(minute_packet(0), crc_variant=CrcVariant.MODBUS_SWAPPED)
    assert decode_lines(swapped)[0]["error"]["code"] == "crc_mismatch"
    obj = decode_lines(swapped, "--crc-variants", "hj212,modbus,modbus-swapped")[0]
    assert obj["ok"] is True
    assert obj["crc"]["variant"] == "modbus-swapped"
    assert obj["crc"]["declared"] == obj["crc"]["computed"]
    bad = runner.invoke(app, ["hj212", "decode", "--crc-variants", "crc32"], input=b"")
    assert bad.exit_code == 2
    assert "crc32" in bad.output


def test_unreadable_file_exits_2_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["hj212", "decode", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "missing.txt" in result.stderr


def test_encode_takes_decode_output_back_to_the_same_packets() -> None:
    packets = [encode(minute_packet(i)) for i in range(3)]
    decoded = runner.invoke(app, ["hj212", "decode"], input=b"".join(packets) + b"junk")
    encoded = runner.invoke(app, ["hj212", "encode"], input=decoded.stdout)
    assert encoded.exit_code == 0
    assert encoded.stdout_bytes == b"".join(packets)


def test_encode_reports_bad_lines_by_number_and_keeps_the_good_ones() -> None:
    good = json.dumps({"cn": "2011", "st": "31", "flag": 4, "cp": {"a21026-Rtd": "12.5"}})
    text = "\n".join([good, "{not json", json.dumps({"st": "31"}), json.dumps({"cn": "2011", "cp": {"a-Rtd": 1.5}})])
    result = runner.invoke(app, ["hj212", "encode", "--terminator", "lf"], input=text)
    assert result.exit_code == 2
    assert result.stdout_bytes.startswith(b"##")
    assert result.stdout_bytes.count(b"##") == 1
    assert result.stdout_bytes.endswith(b"\n")
    assert not result.stdout_bytes.endswith(b"\r\n")
    assert "line 2: not JSON" in result.stderr
    assert "line 3: unencodable: the object has no 'cn'" in result.stderr
    assert "line 4: unencodable: cp['a-Rtd'] must be text" in result.stderr


def test_the_installed_command_runs_as_a_real_process() -> None:
    data = (DATA / "hj212_vectors.jsonl").read_text(encoding="utf-8")
    first = json.loads(data.splitlines()[0])["packet"].encode()
    proc = subprocess.run(
        [sys.executable, "-m", "offsite", "hj212", "decode"], input=first, capture_output=True, check=True
    )
    obj = json.loads(proc.stdout)
    assert obj["crc"] == {"declared": "1C80", "computed": "1C80", "variant": "hj212"}
    assert obj["cp"] == {"RtdInterval": "30"}
