"""Logging for the long-running commands: readable text, or one JSON object per line; both on
China time with the offset written (``2026-12-08 05:37:12.123 +08:00``), whatever the machine's
zone, so that a log line and a CLI listing of the same moment read the same."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from offsite.hj212.times import CST

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", …}``; ``extra=`` fields of the call come along."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, CST).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ChinaTimeFormatter(logging.Formatter):
    """``%(asctime)s`` on China time with its offset, not the machine's local zone unlabelled."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, CST)
        if datefmt:
            return moment.strftime(datefmt)
        return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} +08:00"


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif log_format == "text":
        handler.setFormatter(ChinaTimeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        raise ValueError(f"log format {log_format!r} is not text or json")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
