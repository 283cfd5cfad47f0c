"""``offsite keys``: the key that encrypts device access passwords."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine, refused_as_usage_error
from offsite.settings import with_database_url

app = typer.Typer(help="The key that encrypts device access passwords.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Which key is in use (file and fingerprint; made now if there is none yet). The key itself is never printed."""
    from offsite.registry.passwords import PasswordKeyError, key_source

    settings = with_database_url(None)
    with refused_as_usage_error(PasswordKeyError):
        typer.echo(f"device-password key: {key_source(settings)}")


@app.command("rotate")
def rotate_command(
    old_key: Annotated[
        Path, typer.Option("--old-key", help="The key file the stored passwords are encrypted with now.")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Re-encrypt every stored device password from OLD_KEY to the key in use, in one transaction.

    Run it once when the key in use changes: after upgrading from a version that kept
    ``offsite.key`` in the working directory (treat that key as public), or when a key may have
    been read by others. Running it again changes nothing.
    """
    from offsite.registry.passwords import (
        PasswordKeyError,
        cipher,
        cipher_from_file,
        fingerprint,
        key_source,
        read_key_file,
    )
    from offsite.registry.rotation import RotationError, rotate

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    with refused_as_usage_error(PasswordKeyError, RotationError):
        old = cipher_from_file(old_key)
        new = cipher(settings)
        source = key_source(settings)
        if fingerprint(read_key_file(old_key, exposed_ok=True)) == source.fingerprint:
            raise PasswordKeyError(f"{old_key} is the key in use ({source}): name the key to rotate away from")
        done = rotate(engine, old, new)
    typer.echo(f"device-password key: {source}")
    typer.echo(f"{done.rotated} device passwords re-encrypted; {done.already} were under this key already")
