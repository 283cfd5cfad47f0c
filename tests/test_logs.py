from __future__ import annotations

import json
import logging

import pytest

from offsite.cli.logs import JsonFormatter, configure


def test_json_logs_are_one_object_per_line_with_extras() -> None:
    record = logging.LogRecord("offsite.gateway", logging.WARNING, __file__, 1, "closing %s", ("1.2.3.4:5",), None)
    record.mn = "34130000000000000000DA01"
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["msg"]) == ("warning", "offsite.gateway", "closing 1.2.3.4:5")
    assert entry["mn"] == "34130000000000000000DA01"
    assert entry["ts"].endswith("+00:00")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'xml' is not text or json"):
        configure("xml")
