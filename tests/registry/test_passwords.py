from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from offsite.registry.passwords import PasswordKeyError, cipher, decrypt, encrypt
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
