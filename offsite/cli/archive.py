"""``offsite archive``: the hash-chained raw-packet archive."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from offsite.cli.options import DatabaseUrl, database_engine, refused_as_usage_error
from offsite.cli.output import iso, when
from offsite.settings import with_database_url

if TYPE_CHECKING:
    from offsite.store.archive import Shown

app = typer.Typer(help="The raw-packet archive (evidence).", no_args_is_help=True)


@app.command("heads")
def heads_command(
    unsigned: Annotated[bool, typer.Option("--unsigned", help="Without signatures (no signing key needed).")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the head of every chain as JSON lines, signed with the deployment's key, for publishing
    outside the platform (a file elsewhere, a witness's mailbox); the key's fingerprint goes to
    standard error. The worker also publishes them on a schedule (OFFSITE_ARCHIVE_PUBLISH_EVERY)."""
    from offsite.store.heads import heads, signed_heads
    from offsite.store.signing import KEY_FILE, SigningKeyError, signer

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    if unsigned:
        found = heads(engine)
    else:
        with refused_as_usage_error(SigningKeyError):
            key = signer(settings.data_dir)
        found = signed_heads(engine, key, datetime.now(UTC))
        typer.echo(f"signed with key {key.fingerprint} ({settings.data_dir / KEY_FILE})", err=True)
    for head in found:
        typer.echo(head.as_json())


@app.command("public-key")
def public_key_command() -> None:
    """Print the public half of the deployment's signing key (PEM), for whoever checks the evidence."""
    from offsite.store.signing import SigningKeyError, signer

    settings = with_database_url(None)
    with refused_as_usage_error(SigningKeyError):
        key = signer(settings.data_dir)
    typer.echo(key.public_pem().rstrip())
    typer.echo(f"fingerprint {key.fingerprint}", err=True)


@app.command("verify")
def verify_command(
    published: Annotated[
        Path | None, typer.Option("--heads", help="Heads printed earlier by `offsite archive heads`, to check against.")
    ] = None,
    public_keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A public key of the deployment (`offsite archive public-key`), given once per key it has "
            "signed with: checks the signatures of the checkpoints and of the heads file (each with the key "
            "it names), and that signed checkpoints cover every record but the newest.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check every chain, its checkpoints and the published heads; name each bad record. Exit 1 if anything is wrong."""
    from offsite.store.heads import HeadsFileError, parse_heads
    from offsite.store.signing import SigningKeyError, fingerprint, load_public_key
    from offsite.store.verification import verify

    settings = with_database_url(database_url)
    engine = database_engine(settings.database_url)
    with refused_as_usage_error(SigningKeyError, HeadsFileError):
        keys = [load_public_key(path) for path in public_keys or []]
        known = [] if published is None else parse_heads(_lines(published), str(published))
    # the newest records wait for a checkpoint: up to two checkpoints' worth and a batch
    slack = 2 * settings.archive_checkpoint_every + settings.gateway_batch_size
    result = verify(engine, known, public_keys=keys, slack=slack)
    fingerprints = sorted({fingerprint(k) for k in keys})
    signed = (
        f", {result.signed} signed checkpoints checked with key{'s' if len(fingerprints) > 1 else ''} "
        + ", ".join(fingerprints)
        if keys
        else ""
    )
    if result.ok:
        typer.echo(
            f"ok: {result.records} records in {result.chains} chains, {result.checkpoints} checkpoints, "
            f"{len(known)} published heads verified{signed}"
        )
        return
    for problem in result.problems:
        typer.echo(f"BAD: {problem}")
    raise typer.Exit(1)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read heads from {path}: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("show")
def show_command(
    ids: Annotated[list[int], typer.Argument(help="Archive record ids (a clue's evidence lists them).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    raw: Annotated[
        Path | None,
        typer.Option(
            "--raw",
            help="Also write the records' exact bytes to this file, one after another in the order given, "
            "nothing added (frames end with their own CRLF; `offsite hj212 decode FILE` reads it).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print archived packets, with when and from where each came, and whether it is intact (its
    hash matches its content) and linked (the record before it in its chain holds the hash it
    follows). `offsite archive verify` checks whole chains.

    A packet is printed as its text with control and format characters (\\r, \\n, \\t, \\x1b,
    \\u202e …), bytes that are not UTF-8 (\\xff) and the backslash (\\\\) escaped, so that what a
    device sent cannot drive the terminal; `--raw FILE` keeps the bytes exact."""
    from offsite.store.archive import UnknownRecords, records

    engine = database_engine(with_database_url(database_url).database_url)
    try:
        found = records(engine, ids)
    except UnknownRecords as exc:
        typer.echo(f"offsite archive show: {exc}", err=True)
        raise typer.Exit(2) from exc
    if raw is not None:
        try:
            with raw.open("wb") as out:
                for record in found:
                    out.write(record.data)
        except OSError as exc:
            typer.echo(f"offsite archive show: cannot write {raw}: {exc}", err=True)
            raise typer.Exit(2) from exc
    for record in found:
        typer.echo(_safe_json(_as_json(record)) if as_json else _as_text(record))
    if any(not (r.intact and r.linked) for r in found):
        raise typer.Exit(1)


def _as_json(r: Shown) -> dict[str, object]:
    return {
        "id": r.id,
        "writer": r.writer,
        "seq": r.seq,
        "received_at": iso(r.received_at),
        "peer": r.peer,
        "mn": r.mn,
        "cn": r.cn,
        "qn": r.qn,
        "outcome": r.outcome,
        "error": r.error,
        "packet": r.data.decode("utf-8", errors="replace"),
        "hash": r.hash,
        "intact": r.intact,
        "linked": r.linked,
    }


def _as_text(r: Shown) -> str:
    state = "intact" if r.intact else "CHANGED: its hash does not match its content"
    if not r.linked:
        link = "DOES NOT FOLLOW the record before it"
    else:
        link = "the first of its chain" if r.seq == 1 else f"follows seq {r.seq - 1}"
    outcome = r.outcome if r.error is None else f"{r.outcome} ({r.error})"
    shown = escaped(r.data.removesuffix(b"\r\n").removesuffix(b"\n"))
    return (
        f"packet {r.id}: chain {escaped(r.writer)} seq {r.seq}, received "
        f"{when(r.received_at, seconds=True)} from {escaped(r.peer)}; MN {escaped(r.mn or '-')} "
        f"CN {escaped(r.cn or '-')} QN {escaped(r.qn or '-')}; {escaped(outcome)}\n"
        f"  sha256 {r.hash}: {state}; {link}\n"
        f"  {shown}"
    )


_UNSAFE = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
"""Anything but printable ASCII other than the backslash: looked at one by one."""
_NAMED = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _harmless(ch: str) -> bool:
    """Printable text (Chinese, ideographic spaces …): not a control, format, separator or surrogate."""
    return ch.isprintable() or unicodedata.category(ch) == "Zs"


def escaped(value: bytes | str) -> str:
    """Text safe to print on a terminal, from what a device sent: controls (ESC, C1, bidi
    overrides, line separators), invalid UTF-8 and the backslash are written as escapes."""
    text = value.decode("utf-8", errors="surrogateescape") if isinstance(value, bytes) else value
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if _harmless(ch):
        return ch
    if code < 0x80:  # \xNN above 7f is always a byte that is not UTF-8; characters are \uNNNN
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _safe_json(obj: dict[str, object]) -> str:
    """One JSON line; characters JSON leaves as they are but a terminal would act on (DEL, C1
    controls, bidi overrides, line separators) are written as \\u escapes too."""
    return _UNSAFE.sub(_json_escape, json.dumps(obj, ensure_ascii=False))


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group()
    return ch if ch == "\\" or _harmless(ch) else json.dumps(ch)[1:-1]
