from __future__ import annotations

import os
import stat
import subprocess
from datetime import date
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, delete, insert, select
from typer.testing import CliRunner

import offsite.settings
from offsite.cli import app
from offsite.db import make_engine
from offsite.db.schema import upgrade
from offsite.registry.models import Device
from offsite.registry.passwords import PasswordKeyError, cipher, cipher_from_file, decrypt, encrypt, key_source
from offsite.registry.rotation import RotationError, rotate
from offsite.settings import Settings


def test_a_password_comes_back_and_is_not_stored_in_clear(tmp_path: Path) -> None:
    settings = Settings(secret_key_file=tmp_path / "offsite.key")
    fernet = cipher(settings)
    token = encrypt(fernet, "123456")
    assert b"123456" not in token
    assert decrypt(cipher(settings), token) == "123456"  # the key file is reused
    assert stat.S_IMODE((tmp_path / "offsite.key").stat().st_mode) == 0o600


def test_a_key_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(secret_key=key, secret_key_file=tmp_path / "unused.key")
    assert decrypt(Fernet(key), encrypt(cipher(settings), "pw")) == "pw"
    assert not (tmp_path / "unused.key").exists()


def test_wrong_or_malformed_keys_are_typed_errors(tmp_path: Path) -> None:
    token = encrypt(cipher(Settings(secret_key_file=tmp_path / "a.key")), "pw")
    with pytest.raises(PasswordKeyError, match="cannot be decrypted"):
        decrypt(cipher(Settings(secret_key_file=tmp_path / "b.key")), token)
    with pytest.raises(PasswordKeyError, match="not a Fernet key"):
        cipher(Settings(secret_key="short"))


def test_the_key_is_made_under_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("data"))
    assert settings.data_dir == tmp_path / "data"  # absolute from the start
    assert key_source(settings).where == str(tmp_path / "data" / "device-passwords.key")
    assert stat.S_IMODE((tmp_path / "data" / "device-passwords.key").stat().st_mode) == 0o600
    assert not (tmp_path / "offsite.key").exists()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text(Fernet.generate_key().decode())
    path.chmod(0o644)
    with pytest.raises(PasswordKeyError, match=r"may be read by others \(mode 0644\).*chmod 600"):
        cipher(Settings(secret_key_file=path))
    path.chmod(0o600)
    cipher(Settings(secret_key_file=path))
    path.chmod(0o000)
    if os.geteuid() != 0:  # root reads any file; the mode check above still holds for root
        with pytest.raises(PasswordKeyError, match="cannot be read"):
            cipher(Settings(secret_key_file=path))


def test_the_repository_holds_no_key() -> None:
    checkout = Path(__file__).resolve().parents[2]
    tracked = subprocess.run(["git", "ls-files"], cwd=checkout, capture_output=True, text=True, check=False)
    if tracked.returncode != 0:
        print(f"not a git checkout at {checkout}: the tracked files cannot be listed")
        return
    assert [f for f in tracked.stdout.splitlines() if f.endswith((".key", ".pem"))] == []


def test_rotation_re_encrypts_every_password_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    old_path, new_path = tmp_path / "old.key", tmp_path / "new.key"
    old = cipher(Settings(secret_key_file=old_path))
    register_devices(engine, old, {"MN-A": "pw-a", "MN-B": "pw-b"})
    env = {"OFFSITE_SECRET_KEY_FILE": str(new_path), "OFFSITE_DATABASE_URL": url}
    offsite.settings.get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["keys", "rotate", "--old-key", str(old_path)], env=env)
        again = CliRunner().invoke(app, ["keys", "rotate", "--old-key", str(old_path)], env=env)
        same = CliRunner().invoke(app, ["keys", "rotate", "--old-key", str(new_path)], env=env)
    finally:
        offsite.settings.get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "2 device passwords re-encrypted; 0 were under this key already" in first.stdout
    assert f"device-password key: {new_path}" in first.stdout
    assert "0 device passwords re-encrypted; 2 were under this key already" in again.stdout
    assert same.exit_code == 2
    assert "is the key in use" in same.stderr
    new = cipher_from_file(new_path)
    with engine.connect() as conn:
        tokens = dict(conn.execute(select(Device.mn, Device.password_enc)).all())
    assert {mn: decrypt(new, token) for mn, token in tokens.items()} == {"MN-A": "pw-a", "MN-B": "pw-b"}


def test_rotation_with_a_key_that_opens_nothing_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    register_devices(engine, cipher(Settings(secret_key_file=tmp_path / "real.key")), {"MN-A": "pw-a"})
    with engine.connect() as conn:
        before = conn.scalar(select(Device.password_enc))
    stranger = cipher(Settings(secret_key_file=tmp_path / "stranger.key"))
    with pytest.raises(RotationError, match="MN MN-A"):
        rotate(engine, stranger, cipher(Settings(secret_key_file=tmp_path / "new.key")))
    with engine.connect() as conn:
        assert conn.scalar(select(Device.password_enc)) == before


def register_devices(engine: Engine, fernet: Fernet, devices: dict[str, str]) -> None:
    from tests.gateway import helpers

    helpers.register(engine)  # regions, a unit and an outlet, with the helpers' own devices
    with engine.begin() as conn:
        conn.execute(delete(Device))
        for number, (mn, pw) in enumerate(devices.items(), start=1):
            conn.execute(
                insert(Device).values(
                    id=number,
                    outlet_id=1,
                    mn=mn,
                    password_enc=encrypt(fernet, pw),
                    protocol_version="2017",
                    crc_variants="",
                    factors="",
                    active=True,
                    installed_on=date(2025, 1, 1),
                )
            )


def test_the_exposed_repository_key_can_be_rotated_away_from(tmp_path: Path) -> None:
    """The key earlier versions committed was mode 0644: exactly the key to rotate away from."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    old_path = tmp_path / "offsite.key"
    old_path.write_text(Fernet.generate_key().decode() + "\n")
    old_path.chmod(0o644)
    register_devices(engine, cipher_from_file(old_path), {"MN-A": "pw-a"})
    env = {"OFFSITE_SECRET_KEY_FILE": str(tmp_path / "new.key"), "OFFSITE_DATABASE_URL": url}
    offsite.settings.get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["keys", "rotate", "--old-key", str(old_path)], env=env)
    finally:
        offsite.settings.get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    assert "1 device passwords re-encrypted" in done.stdout
    with pytest.raises(PasswordKeyError, match="may be read by others"):
        cipher(Settings(secret_key_file=old_path))  # still never used as the key in force
