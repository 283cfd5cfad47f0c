"""``offsite hj212 decode|encode``: the codec on files and pipes, one JSON object per line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer

from offsite.hj212.crc import CrcVariant
from offsite.hj212.decoder import DecodeOptions, Decoder
from offsite.hj212.encoder import encode
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import LENIENT_MAX_LENGTH, STANDARD_MAX_LENGTH, FrameFault, FramingOptions
from offsite.hj212.jsonform import decoded_to_json, fault_to_json, packet_from_json
from offsite.hj212.packet import Decoded

app = typer.Typer(help="HJ 212 packets: decode a byte stream to JSON lines, encode them back.", no_args_is_help=True)

_READ_CHUNK = 1 << 16
_TERMINATORS = {"crlf": b"\r\n", "lf": b"\n", "none": b""}


@app.command("decode")
def decode_stream(
    file: Annotated[Path | None, typer.Argument(help="Byte stream to read; standard input if omitted.")] = None,
    strict: Annotated[bool, typer.Option(help="Enforce the standard: 1,024-byte segments, CRLF.")] = False,
    max_length: Annotated[
        int | None,
        typer.Option(
            help=f"Longest data segment accepted (default {LENIENT_MAX_LENGTH}, strict {STANDARD_MAX_LENGTH})."
        ),
    ] = None,
    crc_variants: Annotated[
        str, typer.Option(help="Checksums accepted, comma-separated: hj212, modbus, modbus-swapped.")
    ] = "hj212",
) -> None:
    """Find the frames in a byte stream and print one JSON object per frame or failure."""
    variants = _parse_variants(crc_variants)
    framing = FramingOptions.standard() if strict else FramingOptions()
    if max_length is not None:
        framing = FramingOptions(max_length=max_length, strict=strict)
    decoder = Decoder(DecodeOptions(framing=framing, crc_variants=variants))
    try:
        stream: BinaryIO = open(file, "rb") if file is not None else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        typer.echo(f"offsite hj212 decode: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    out = sys.stdout
    try:
        with stream:
            while True:
                try:
                    chunk = stream.read(_READ_CHUNK)
                except OSError as exc:
                    typer.echo(f"offsite hj212 decode: error reading {file or 'standard input'}: {exc}", err=True)
                    raise typer.Exit(2) from exc
                if not chunk:
                    break
                _print(out, decoder.feed(chunk))
        _print(out, decoder.close())
        out.flush()
    except BrokenPipeError:
        # The reader went away (`… | head`): stop quietly, as Unix filters do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@app.command("encode")
def encode_packets(
    file: Annotated[
        Path | None, typer.Argument(help="JSON lines as decode prints them; standard input if omitted.")
    ] = None,
    crc_variant: Annotated[str, typer.Option(help="Checksum to write: hj212, modbus or modbus-swapped.")] = "hj212",
    terminator: Annotated[str, typer.Option(help="Frame terminator: crlf, lf or none.")] = "crlf",
) -> None:
    """Turn JSON objects (one per line) back into packets; bad lines are reported and skipped."""
    variant = _parse_variants(crc_variant)[0]
    if terminator not in _TERMINATORS:
        raise typer.BadParameter(f"{terminator!r} is not one of crlf, lf, none", param_hint="--terminator")
    try:
        text = file.read_text(encoding="utf-8") if file is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"offsite hj212 encode: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    failures = 0
    out = sys.stdout.buffer
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if isinstance(obj, dict) and obj.get("ok") is False:
                continue  # a decode failure has no packet to rebuild
            out.write(encode(packet_from_json(obj), crc_variant=variant, terminator=_TERMINATORS[terminator]))
        except json.JSONDecodeError as exc:
            failures += 1
            typer.echo(f"line {number}: not JSON: {exc.msg} at column {exc.colno}", err=True)
        except HJ212Error as exc:
            failures += 1
            typer.echo(f"line {number}: {exc.code}: {exc.message}", err=True)
    out.flush()
    if failures:
        raise typer.Exit(2)


def _print(out: TextIO, items: list[Decoded | FrameFault]) -> None:
    write = out.write
    for item in items:
        obj = decoded_to_json(item) if isinstance(item, Decoded) else fault_to_json(item)
        write(json.dumps(obj, ensure_ascii=False) + "\n")


def _parse_variants(text: str) -> tuple[CrcVariant, ...]:
    variants = []
    for name in (part.strip() for part in text.split(",")):
        try:
            variants.append(CrcVariant(name))
        except ValueError:
            raise typer.BadParameter(
                f"{name!r} is not a CRC variant (hj212, modbus, modbus-swapped)", param_hint="--crc-variants"
            ) from None
    return tuple(variants)
