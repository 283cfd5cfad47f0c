from __future__ import annotations

from datetime import datetime

import pytest

from offsite.hj212 import decode, encode, reply_to
from offsite.hj212.codes.returns import ExeRtn, QnRtn
from offsite.hj212.errors import EncodeError
from offsite.hj212.replies import answered_qn, execution_result, request_response
from offsite.hj212.requests import Target, get_info, get_time, history, set_minute_interval, set_time, set_timeout
from offsite.hj212.times import CST, make_qn
from offsite.hj212.uploads import format_number, heartbeat, upload
from offsite.hj212.version import Version
from tests.conftest import load_vectors

VECTORS = {v["notes"][:30]: v["packet"].encode() for v in load_vectors()}


def vector(prefix: str) -> bytes:
    (match,) = [p for notes, p in VECTORS.items() if notes.startswith(prefix)]
    return match


def test_9014_to_a_2017_upload_is_exactly_the_standards_reply() -> None:
    upload_packet = decode(vector("Table C.14 real-time upload")).packet
    reply = reply_to(upload_packet)
    assert reply is not None
    expected = b"QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
    assert encode(reply) == b"##0087" + expected + b"3240\r\n"
    assert encode(reply) == vector("Data response (9014) from the")


def test_no_reply_when_the_ack_bit_is_clear() -> None:
    assert reply_to(decode(vector("Air station real-time 2011")).packet) is None  # Flag=4


def test_each_split_part_is_answered_with_its_own_qn() -> None:
    first = decode(vector("Table C.50 split packet 1/2")).packet
    second = decode(vector("Table C.50 split packet 2/2")).packet
    replies = [reply_to(first), reply_to(second)]
    assert [r.qn for r in replies if r] == [first.qn, second.qn]


def test_notice_gets_9013() -> None:
    notice = decode(vector("Table C.4 time-calibration")).packet
    reply = reply_to(notice)
    assert reply is not None
    assert (reply.cn, reply.st, reply.qn, reply.flag) == ("9013", "91", notice.qn, 4)


def test_2005_reply_carries_qn_and_cn_inside_cp() -> None:
    upload_2005 = decode(
        encode(
            upload(
                cn="2051",
                mn="88888880000001",
                pw="123456",
                st="32",
                qn="20040516010101001",
                data_time=datetime(2004, 5, 16, 1, 0, tzinfo=CST),
                factors={"011": {"Avg": 50}},
                version=Version.V2005,
            )
        )
    ).packet
    assert upload_2005.flag == 1
    reply = reply_to(upload_2005)
    assert reply is not None
    assert reply.qn is None
    assert reply.cp == (("QN", "20040516010101001"), ("CN", "2051"))
    assert answered_qn(decode(encode(reply)).packet) == "20040516010101001"


def test_2025_heartbeat_is_answered_with_the_2025_reply_flag() -> None:
    beat = decode(encode(heartbeat(mn="M", pw="123456", st="32", qn="20260101000000001"))).packet
    reply = reply_to(beat)
    assert reply is not None
    assert (reply.cn, reply.flag, reply.qn) == ("9014", 8, "20260101000000001")


def test_device_replies_match_the_standards_examples() -> None:
    request = decode(vector("Table C.3 set field-unit time")).packet
    assert encode(request_response(request, QnRtn.READY)) == vector("Request response (9011, QnRtn")
    assert encode(execution_result(request, ExeRtn.SUCCESS)) == vector("Execution result (9012, ExeRtn")


def test_2005_request_response_puts_qn_in_cp_as_the_2005_example() -> None:
    request = decode(vector("2005-era request (Flag=3)")).packet
    reply = request_response(request, QnRtn.READY)
    assert encode(reply) == vector("HJ/T 212-2005 request response")


TARGET = Target(mn="010000A8900016F000169DC0", pw="123456", st="32")
QN = "20160801085857223"


def test_set_time_request_matches_the_standard() -> None:
    packet = set_time(TARGET, QN, datetime(2016, 8, 1, 8, 58, 57, tzinfo=CST), pol_id="w01018")
    assert encode(packet) == vector("Table C.3 set field-unit time")


def test_history_request_matches_the_standard() -> None:
    hour = datetime(2016, 8, 1, 8, tzinfo=CST)
    packet = history(TARGET, QN, "2061", hour, hour)
    assert encode(packet) == vector("Table C.21 platform request")


def test_request_builders_refuse_values_the_standard_does_not_allow() -> None:
    begin = datetime(2016, 8, 1, 9, tzinfo=CST)
    with pytest.raises(EncodeError, match="not a history command"):
        history(TARGET, QN, "2011", begin, begin)
    with pytest.raises(EncodeError, match="before BeginTime"):
        history(TARGET, QN, "2051", begin, datetime(2016, 8, 1, 8, tzinfo=CST))
    with pytest.raises(EncodeError, match="OverTime=0"):
        set_timeout(TARGET, QN, 0, 3)
    with pytest.raises(EncodeError, match="MinInterval=7"):
        set_minute_interval(TARGET, QN, 7)


def test_requests_ask_for_an_answer_in_the_targets_version() -> None:
    assert get_time(TARGET, QN).flag == 5
    assert get_time(Target("M", "P", "31", Version.V2025), QN).flag == 9
    info = get_info(
        TARGET, QN, "w01018", "i11001", begin=datetime(2016, 8, 1, tzinfo=CST), end=datetime(2016, 8, 2, tzinfo=CST)
    )
    assert [k for k, _ in info.cp] == ["PolId", "InfoId", "BeginTime", "EndTime"]


def test_values_holding_separators_are_refused_by_the_encoder() -> None:
    with pytest.raises(EncodeError, match="a21026-Flag"):
        encode(upload(cn="2011", mn="M", pw="P", st="31", qn=None, data_time=None, factors={"a21026": {"Flag": "N;x"}}))


def test_numbers_are_written_as_plain_decimals() -> None:
    assert format_number(1e-05) == "0.00001"
    assert format_number(12.3) == "12.3"
    assert format_number(7) == "7"
    assert format_number("1.230") == "1.230"


def test_qn_is_seventeen_digits_of_cst() -> None:
    from datetime import UTC

    assert make_qn(datetime(2016, 8, 1, 0, 58, 57, 223000, tzinfo=UTC)) == "20160801085857223"
