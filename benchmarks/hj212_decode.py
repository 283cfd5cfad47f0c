"""HJ 212 decode throughput on one core: packets/s and MB/s for a realistic mix, CRC verified.

Mix: 8-factor flue-gas minute packets (2051: Min/Avg/Max/Cou/Flag), 8-factor real-time packets
(2011: Rtd/Flag), 8-factor hour packets (2061) — 70 / 20 / 10 %. Every packet goes through the
whole streaming decoder: framing, CRC check, header and CP parsing, factor grouping with floats,
DataTime. Beside it, in the same run, a straightforward decoder built on the standard's
bit-by-bit CRC (what a first implementation looks like) sets the baseline.

Run: python benchmarks/hj212_decode.py [--packets N]
Target (issue 2): >= 30,000 minute packets/s on one core of the 2-core machine.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta

from offsite.hj212 import Decoded, Decoder, encode
from offsite.hj212 import decoder as decoder_module
from offsite.hj212.crc import hj212_crc, hj212_crc_reference
from offsite.hj212.times import CST, make_qn
from offsite.hj212.uploads import upload

GAS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")
START = datetime(2026, 11, 1, tzinfo=CST)


def make_packet(rng: random.Random, kind: str, index: int) -> bytes:
    moment = START + timedelta(minutes=index)
    if kind == "minute":
        cn, fields = (
            "2051",
            lambda base: {
                "Min": round(base * 0.9, 2),
                "Avg": round(base, 2),
                "Max": round(base * 1.1, 2),
                "Cou": round(base * 0.06, 3),
                "Flag": "N",
            },
        )
    elif kind == "realtime":
        cn, fields = "2011", lambda base: {"Rtd": round(base, 2), "Flag": "N"}
    else:
        cn, fields = (
            "2061",
            lambda base: {
                "Min": round(base * 0.8, 2),
                "Avg": round(base, 2),
                "Max": round(base * 1.2, 2),
                "Cou": round(base * 3.6, 3),
                "Flag": "N",
            },
        )
    factors = {code: fields(rng.uniform(5, 200)) for code in GAS}
    return encode(
        upload(
            cn=cn,
            mn=f"3401000000000000{index % 3000:08d}",
            pw="123456",
            st="31",
            qn=make_qn(moment),
            data_time=moment,
            factors=factors,
        )
    )


def naive_decode(stream: bytes) -> int:
    """A first implementation: split lines, bit-by-bit CRC, split the CP by hand."""
    count = 0
    for line in stream.split(b"\r\n"):
        if not line.startswith(b"##"):
            continue
        length = int(line[2:6])
        segment = line[6 : 6 + length]
        if hj212_crc_reference(segment) != int(line[6 + length : 10 + length], 16):
            raise ValueError("crc")
        text = segment.decode()
        header, _, cp = text.partition("CP=&&")
        fields = dict(item.split("=", 1) for item in header.split(";") if item)
        values: dict[str, dict[str, object]] = {}
        for group in cp.rstrip("&").split(";"):
            for item in group.split(","):
                key, _, value = item.partition("=")
                if "-" in key:
                    code, suffix = key.rsplit("-", 1)
                    values.setdefault(code, {})[suffix] = value if suffix == "Flag" else float(value)
        datetime.strptime(values and cp.split(";")[0].split("=")[1], "%Y%m%d%H%M%S")
        count += bool(fields["CN"])
    return count


def run_decoder(stream: bytes, chunk: int = 65536) -> tuple[float, int]:
    decoder = Decoder()
    ok = 0
    started = time.perf_counter()
    for offset in range(0, len(stream), chunk):
        for item in decoder.feed(stream[offset : offset + chunk]):
            ok += isinstance(item, Decoded)
    for item in decoder.close():
        ok += isinstance(item, Decoded)
    return time.perf_counter() - started, ok


def best_of(runs: int, fn, *args):  # type: ignore[no-untyped-def]
    results = [fn(*args) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=30000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(212)
    kinds = rng.choices(["minute", "realtime", "hour"], weights=[70, 20, 10], k=args.packets)
    packets = [make_packet(rng, kind, i) for i, kind in enumerate(kinds)]
    minute_only = [make_packet(rng, "minute", i) for i in range(args.packets)]
    mix = b"".join(packets)
    minutes = b"".join(minute_only)
    mean_size = len(minutes) / len(minute_only)

    print(f"packets: {args.packets} per stream; minute packet mean size {mean_size:.0f} bytes")
    for name, stream, n in (("mix 70/20/10", mix, len(packets)), ("minute only", minutes, len(minute_only))):
        seconds, ok = best_of(args.runs, run_decoder, stream)
        assert ok == n, (ok, n)
        print(
            f"offsite decoder, {name:13s}: {n / seconds:10,.0f} packets/s  "
            f"{len(stream) / seconds / 1e6:6.2f} MB/s  ({seconds:.3f} s, best of {args.runs})"
        )

    sample = b"".join(minute_only[: max(len(minute_only) // 10, 1)])
    n_sample = max(len(minute_only) // 10, 1)
    t0 = time.perf_counter()
    assert naive_decode(sample) == n_sample
    naive = n_sample / (time.perf_counter() - t0)
    fast_seconds, _ = best_of(args.runs, run_decoder, minutes)
    fast = len(minute_only) / fast_seconds
    accelerated = decoder_module._scan_cp
    decoder_module._scan_cp = None
    try:
        python_seconds, ok = best_of(args.runs, run_decoder, minutes)
    finally:
        decoder_module._scan_cp = accelerated
    assert ok == len(minute_only)
    python_rate = len(minute_only) / python_seconds
    print(f"offsite decoder, pure-Python path (no C accelerator), minute only: {python_rate:10,.0f} packets/s")
    print(f"C accelerator in use for the figures above: {decoder_module.ACCELERATED}")
    print(f"baseline (bit-by-bit CRC), minute only: {naive:10,.0f} packets/s")
    print(f"speed-up over the baseline: {fast / naive:.1f}x")

    segments = [p[6 : 6 + int(p[2:6])] for p in minute_only[:5000]]
    t0 = time.perf_counter()
    for segment in segments:
        hj212_crc(segment)
    crc_fast = len(segments) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for segment in segments[:500]:
        hj212_crc_reference(segment)
    crc_ref = 500 / (time.perf_counter() - t0)
    print(f"CRC alone on minute segments: lane-folded {crc_fast:,.0f}/s, standard's bit loop {crc_ref:,.0f}/s")
    verdict = "meets" if fast >= 30000 else "MISSES"
    print(f"target >= 30,000 minute packets/s: {verdict} ({fast:,.0f})")


if __name__ == "__main__":
    main()
