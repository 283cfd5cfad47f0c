"""The ``offsite`` command."""

from __future__ import annotations

import typer

from offsite.cli import hj212

app = typer.Typer(
    name="offsite",
    help="Offsite: off-site supervision of pollution-source automatic monitoring (非现场监管).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(hj212.app, name="hj212")


def main() -> None:
    app()
