"""A bad OFFSITE_ setting is named in one line, before any command runs, with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys


def run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offsite", "--help"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_bad_setting_is_named_and_refused() -> None:
    bad = run(OFFSITE_SCREEN_WORKERS="0", OFFSITE_GATEWAY_PORT="abc")
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert "offsite: OFFSITE_SCREEN_WORKERS='0': Input should be greater than or equal to 1" in lines
    port = "offsite: OFFSITE_GATEWAY_PORT='abc': Input should be a valid integer"
    assert any(line.startswith(port) for line in lines)
    assert "Traceback" not in bad.stderr
    good = run(OFFSITE_SCREEN_WORKERS="2")
    assert good.returncode == 0, good.stderr
    assert "Usage: python -m offsite" in good.stdout
