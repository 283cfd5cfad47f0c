"""``offsite notify``: deliver the outbox, look into it, and send a test message through a channel."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from offsite.cli.formats import CsvFlag, FormatOption, JsonFlag, chosen
from offsite.cli.options import DatabaseUrl, database_engine
from offsite.cli.output import CLOCK, Format, emit_rows, when
from offsite.hj212.times import CST
from offsite.notify.vocabulary import CHANNELS, STATES
from offsite.settings import with_database_url

app = typer.Typer(help="Notifications: the outbox and its delivery.", no_args_is_help=True)


@app.command("deliver")
def deliver(
    every: Annotated[
        float | None, typer.Option(help="Keep delivering, one pass every this many seconds, until Ctrl-C.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send every due message (one pass, or repeatedly with --every)."""
    from offsite.db import session_factory
    from offsite.notify.channels import channels_for
    from offsite.notify.outbox import deliver_due

    settings = with_database_url(database_url)
    sessions = session_factory(database_engine(settings.database_url))
    channels = channels_for(settings)
    try:
        while True:
            report = deliver_due(sessions, channels, settings, datetime.now(UTC))
            typer.echo(
                f"sent {report.sent}, retrying {report.retried}, failed {report.failed}, "
                f"held {report.held}, digests {report.digests}"
            )
            for error in report.errors:
                typer.echo(f"  {error}", err=True)
            if every is None:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        typer.echo("stopped")


@app.command("list")
def list_messages(
    state: Annotated[str | None, typer.Option(help=f"Only messages in this state ({', '.join(STATES)}).")] = None,
    limit: Annotated[int, typer.Option(help="Most recent messages shown.")] = 50,
    fmt: FormatOption = Format.table,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The outbox, newest first, with each message's attempts and last answer; times in China time."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from offsite.db import session_factory
    from offsite.notify.models import DeliveryAttempt, OutboxMessage

    out = chosen(fmt, as_json, as_csv)
    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r}; known: {', '.join(STATES)}", param_hint="--state")
    settings = with_database_url(database_url)
    sessions = session_factory(database_engine(settings.database_url))
    with sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if state is not None:
            query = query.where(OutboxMessage.state == state)
        messages = session.scalars(query).all()
        attempts = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_([m.id for m in messages]))
            .order_by(DeliveryAttempt.id)
        )
        last_answer = {a.message_id: a.detail for a in attempts}  # later attempts overwrite earlier
    records = [
        {
            "id": m.id,
            "event": m.event_key,
            "created_at": m.created_at,
            "channel": m.channel,
            "address": m.address,
            "subject": m.subject,
            "state": m.state,
            "attempts": m.attempts,
            "last_answer": last_answer.get(m.id),
        }
        for m in messages
    ]
    if emit_rows(records, out):
        return
    table = Table("编号", f"创建时间（{CLOCK}）", "渠道", "地址", "标题", "状态", "尝试次数", "最近回执")
    for m in messages:
        table.add_row(
            str(m.id),
            when(m.created_at),
            m.channel,
            m.address,
            m.subject,
            m.state,
            str(m.attempts),
            last_answer.get(m.id, "")[:80],
        )
    Console().print(table)
    if not messages:
        typer.echo("no messages" + (f" {state}" if state else ""))


@app.command("test")
def send_test(
    channel: Annotated[str, typer.Option(help=f"One of {', '.join(CHANNELS)}.")],
    address: Annotated[str, typer.Option(help="E-mail address, mobile number or webhook URL.")],
    template: Annotated[str | None, typer.Option(help="SMS template code.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Queue a test message and deliver it now: checks a channel's settings end to end."""
    from offsite.db import session_factory
    from offsite.notify.channels import channels_for
    from offsite.notify.outbox import UnknownChannel, deliver_due, enqueue

    settings = with_database_url(database_url)
    sessions = session_factory(database_engine(settings.database_url))
    now = datetime.now(UTC)
    with sessions() as session:
        try:
            enqueue(
                session,
                event_key=f"test:{now.isoformat()}",
                channel=channel,
                address=address,
                subject="Offsite test message",
                body=f"Sent at {when(now, seconds=True)} (China time) to check the {channel} channel.",
                template=template,
                params={"time": f"{now.astimezone(CST):%H:%M}"} if template else None,
                now=now,
            )
        except UnknownChannel as exc:
            raise typer.BadParameter(str(exc), param_hint="--channel") from exc
        session.commit()
    report = deliver_due(sessions, channels_for(settings), settings, now)
    for error in report.errors:
        typer.echo(error, err=True)
    if report.sent == 0:
        raise typer.Exit(1)
    typer.echo(f"delivered through {channel} to {address}")
