from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from offsite.cli import app
from tests.registry.test_import import base_rows, workbook

runner = CliRunner()


def test_import_export_and_coverage_commands(tmp_path: Path, monkeypatch: object) -> None:
    monkeypatch.setenv("OFFSITE_SECRET_KEY_FILE", str(tmp_path / "k.key"))  # type: ignore[attr-defined]
    import offsite.settings

    offsite.settings.get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'r.db'}"
    try:
        assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
        assert runner.invoke(app, ["regions", "load", "--database-url", url]).exit_code == 0
        good = workbook(tmp_path / "good.xlsx", base_rows())
        result = runner.invoke(app, ["registry", "import", str(good), "--database-url", url])
        assert result.exit_code == 0, result.output
        summary, recomputed = result.stdout.strip().splitlines()
        assert summary == "good.xlsx: 7 created, 0 updated, 0 unchanged"
        # the new limit applies from a day already past: the days since are judged again (none had data)
        assert recomputed.startswith("recomputed ")
        assert "(limit): 0 daily values" in recomputed

        rows = base_rows()
        rows["units"][0]["region_code"] = "999999"
        bad = workbook(tmp_path / "bad.xlsx", rows)
        result = runner.invoke(app, ["registry", "import", str(bad), "--database-url", url])
        assert result.exit_code == 1
        assert "bad.xlsx: 1 bad rows, nothing changed" in result.stdout
        assert "units, row 2, region_code: 999999 is not a known region" in result.stderr

        broken = tmp_path / "broken.xlsx"
        broken.write_bytes(b"PK\x03\x04 not really a workbook")
        assert runner.invoke(app, ["registry", "import", str(broken), "--database-url", url]).exit_code == 2

        result = runner.invoke(app, ["registry", "export", str(tmp_path / "out.xlsx"), "--database-url", url])
        assert "units: 2, outlets: 2, devices: 2, limits: 1" in result.stdout
        result = runner.invoke(app, ["registry", "coverage", "--json", "--on", "2026-01-01", "--database-url", url])
        assert '"name": "宿州市", "units": 1, "installed": 1, "networked": 1, "operated": 1' in result.stdout
    finally:
        offsite.settings.get_settings.cache_clear()
