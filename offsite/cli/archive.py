"""``offsite archive``: the hash-chained raw-packet archive."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl
from offsite.db.schema import upgraded_engine
from offsite.settings import with_database_url
from offsite.store.archive import Head, heads, verify

app = typer.Typer(help="The raw-packet archive (evidence).", no_args_is_help=True)


@app.command("heads")
def heads_command(database_url: DatabaseUrl = None) -> None:
    """Print the head of every chain as JSON lines, for publishing outside the platform."""
    engine = upgraded_engine(with_database_url(database_url).database_url)
    for head in heads(engine):
        typer.echo(
            json.dumps(
                {"writer": head.writer, "seq": head.seq, "hash": head.hash, "received_at": head.received_at.isoformat()}
            )
        )


@app.command("verify")
def verify_command(
    published: Annotated[
        Path | None, typer.Option("--heads", help="Heads printed earlier by `offsite archive heads`, to check against.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check every chain; name the first bad record of each. Exit 1 if anything is wrong."""
    engine = upgraded_engine(with_database_url(database_url).database_url)
    known = [] if published is None else _read_heads(published)
    result = verify(engine, known)
    if result.ok:
        typer.echo(f"ok: {result.records} records in {result.chains} chains verified")
        return
    for problem in result.problems:
        typer.echo(f"BAD: {problem}")
    raise typer.Exit(1)


def _read_heads(path: Path) -> list[Head]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read heads from {path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            found.append(Head(obj["writer"], int(obj["seq"]), obj["hash"], datetime.fromisoformat(obj["received_at"])))
        except (ValueError, KeyError, TypeError) as exc:
            typer.echo(f"{path}, line {number}: not a head printed by `offsite archive heads` ({exc})", err=True)
            raise typer.Exit(2) from exc
    return found
