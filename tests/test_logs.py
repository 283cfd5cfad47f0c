from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from offsite.cli.logs import ChinaTimeFormatter, JsonFormatter, configure


def test_json_logs_are_one_object_per_line_with_extras() -> None:
    record = logging.LogRecord("offsite.gateway", logging.WARNING, __file__, 1, "closing %s", ("1.2.3.4:5",), None)
    record.mn = "34130000000000000000DA01"
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["msg"]) == ("warning", "offsite.gateway", "closing 1.2.3.4:5")
    assert entry["mn"] == "34130000000000000000DA01"
    assert entry["ts"].endswith("+08:00")  # China time, as every time a person reads


def test_text_logs_are_on_china_time_and_say_so() -> None:
    record = logging.LogRecord("offsite.gateway", logging.INFO, __file__, 1, "listening", (), None)
    record.created = datetime(2026, 12, 7, 21, 37, 12, 345000, tzinfo=UTC).timestamp()
    line = ChinaTimeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    assert line == "2026-12-08 05:37:12.345 +08:00 INFO offsite.gateway: listening"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'xml' is not text or json"):
        configure("xml")
