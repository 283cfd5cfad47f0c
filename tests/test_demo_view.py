"""The demo's live view and log file say their times on China time, labelled."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

from offsite.demo import view
from offsite.hj212.times import CST


def test_the_live_views_log_lines_are_stamped_in_china_time() -> None:
    out = io.StringIO()
    before = datetime.now(CST)
    view.console(out).log("filling: 3/3 devices online")
    stamp = out.getvalue().split("]")[0].lstrip("[")
    assert stamp.endswith("+08:00")
    assert stamp[:2] in {f"{before:%H}", f"{datetime.now(CST):%H}"}  # the hour in China, not the machine's zone
    assert view.log_time(datetime(2026, 12, 7, 21, 37, 12, tzinfo=UTC)).plain == "[05:37:12 +08:00]"


def test_the_demo_log_file_is_on_china_time() -> None:
    record = logging.LogRecord("offsite.demo", logging.INFO, __file__, 1, "graded", (), None)
    record.created = datetime(2026, 12, 7, 21, 37, 12, 5000, tzinfo=UTC).timestamp()
    line = view.LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    assert line == "2026-12-08 05:37:12.005 +08:00 INFO offsite.demo: graded"
