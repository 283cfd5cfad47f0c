"""``offsite regions``: divisions (province → city → county)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine
from offsite.cli.reporting import print_report
from offsite.settings import with_database_url

app = typer.Typer(help="Regions (GB/T 2260 divisions).", no_args_is_help=True)


@app.command("load")
def load(
    file: Annotated[Path | None, typer.Argument(help="CSV code,name,level,parent_code; Anhui if omitted.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Load a province's divisions; all or nothing, a file with errors changes nothing."""
    from offsite.db import session_factory
    from offsite.registry.regions import load_anhui, load_regions

    engine = database_engine(with_database_url(database_url).database_url)
    with session_factory(engine)() as session, session.begin():
        if file is None:
            report = load_anhui(session)
        else:
            try:
                report = load_regions(session, file, name=str(file))
            except (OSError, UnicodeDecodeError) as exc:
                typer.echo(f"cannot read {file}: {exc}", err=True)
                raise typer.Exit(2) from exc
        if not report.ok:
            session.rollback()
    print_report(report)
