"""Gateway load: connections held, sustained packets/s with durable acks, ack latency, RSS.

The gateway runs as its own process (``offsite gateway``); the load generator here opens its
connections from several loopback source addresses (127.0.0.1–127.0.0.8), as loggers behind
many addresses would, and sends pre-encoded 8-factor minute packets (each asks for a 9014).

Phases, for each back end:
1. hold: open --connections connections, each proving itself with an acknowledged heartbeat;
2. sustained: --workers connections send back to back for --seconds (closed loop): packets/s;
3. latency: a fixed --rate packets/s spread over the connections (open loop): p50/p99 ack latency.
Targets (issue 4): 10,000 connections; >= 2,000 packets/s into PostgreSQL; p99 < 500 ms at 1,000/s.

Run: python benchmarks/gateway_load.py [--connections 10000] [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import insert

from offsite.db import make_engine
from offsite.db.schema import upgrade
from offsite.hj212 import Decoded, Decoder, encode
from offsite.hj212.replies import answered_qn
from offsite.hj212.uploads import heartbeat, upload
from offsite.registry.models import Device, Outlet, Region, Unit
from offsite.registry.passwords import encrypt
from tests.databases import PostgresDatabases, postgres_reachable

KEY = Fernet.generate_key().decode()
SOURCES = [f"127.0.0.{i}" for i in range(1, 9)]
FACTORS = ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01013", "a01014")


def mn(i: int) -> str:
    return f"3400000000000000{i:08d}"


def register(url: str, devices: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    fernet = Fernet(KEY)
    token = encrypt(fernet, "123456")
    with engine.begin() as conn:
        conn.execute(
            insert(Region),
            [
                {"code": "340000", "name": "安徽省", "level": "province", "parent_code": None},
                {"code": "341300", "name": "宿州市", "level": "city", "parent_code": "340000"},
                {"code": "341302", "name": "埇桥区", "level": "county", "parent_code": "341300"},
            ],
        )
        conn.execute(
            insert(Unit),
            [
                {
                    "id": 1,
                    "credit_code": "X" * 18,
                    "name": "bench",
                    "industry_code": "C3011",
                    "region_code": "341302",
                    "supervision_level": "provincial",
                    "status": "producing",
                }
            ],
        )
        conn.execute(insert(Outlet), [{"id": 1, "unit_id": 1, "code": "DA001", "name": "o", "medium": "gas"}])
        conn.execute(
            insert(Device),
            [
                {
                    "id": i + 1,
                    "outlet_id": 1,
                    "mn": mn(i),
                    "password_enc": token,
                    "protocol_version": "2017",
                    "crc_variants": "hj212",
                    "factors": "",
                    "active": True,
                    "installed_on": date(2025, 1, 1),
                }
                for i in range(devices)
            ],
        )
    engine.dispose()


def packets(devices: int, count: int) -> list[tuple[str, bytes]]:
    """(QN, bytes) of distinct 8-factor minute uploads, round-robin over the devices."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for k in range(count):
        qn = f"{20261101000000000 + k}"
        factors = {
            code: {"Min": 10.0 + i, "Avg": 12.5 + (k % 97) / 10, "Max": 15.0 + i, "Cou": 0.125, "Flag": "N"}
            for i, code in enumerate(FACTORS)
        }
        packet = upload(
            cn="2051",
            mn=mn(k % devices),
            pw="123456",
            st="31",
            qn=qn,
            data_time=base + timedelta(minutes=k // devices),
            factors=factors,
        )
        out.append((qn, encode(packet)))
    return out


class Link:
    """One load connection: writes packets, matches 9014s to their send times."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.waiter: asyncio.Future[None] | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        decoder = Decoder()
        while data := await self.reader.read(65536):
            now = time.perf_counter()
            for item in decoder.feed(data):
                if isinstance(item, Decoded):
                    started = self.sent.pop(answered_qn(item.packet) or "", None)
                    if started is not None:
                        self.latencies.append(now - started)
                        if self.waiter is not None and not self.waiter.done():
                            self.waiter.set_result(None)

    def send(self, qn: str, data: bytes) -> None:
        self.sent[qn] = time.perf_counter()
        self.writer.write(data)

    async def send_and_wait(self, qn: str, data: bytes) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        self.send(qn, data)
        await asyncio.wait_for(self.waiter, 30)


async def load(port: int, args: argparse.Namespace) -> dict[str, float]:
    gate = asyncio.Semaphore(400)
    links: list[Link] = []

    async def open_one(i: int) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(SOURCES[i % len(SOURCES)], 0))
            link = Link(reader, writer)
            qn = f"{20260101000000000 + i}"
            await link.send_and_wait(qn, encode(heartbeat(mn=mn(i % args.devices), pw="123456", st="31", qn=qn)))
            links.append(link)

    started = time.perf_counter()
    results = await asyncio.gather(*(open_one(i) for i in range(args.connections)), return_exceptions=True)
    opened = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    held = sum(1 for link in links if not link.writer.is_closing())

    pool = packets(args.devices, args.pool)
    position = 0

    def next_packet() -> tuple[str, bytes]:
        nonlocal position
        position = (position + 1) % len(pool)
        return pool[position]

    workers = links[: args.workers]
    for link in workers:
        link.latencies.clear()
    deadline = time.perf_counter() + args.seconds
    done = 0

    async def pump(link: Link) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await link.send_and_wait(*next_packet())
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(pump(link) for link in workers))
    sustained = done / (time.perf_counter() - started)

    for link in links:
        link.latencies.clear()
    interval = 1.0 / args.rate
    total = int(args.rate * args.seconds)
    started = time.perf_counter()
    for k in range(total):
        target = started + k * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        links[k % len(links)].send(*next_packet())
    await asyncio.sleep(3.0)  # let the last acks in
    latencies = sorted(x for link in links for x in link.latencies)
    acked = len(latencies)
    for link in links:
        link.writer.close()
    return {
        "opened_s": opened,
        "held": held,
        "failures": len(failures),
        "sustained": sustained,
        "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "rate_acked": acked / total if total else 0.0,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_backend(name: str, url: str, args: argparse.Namespace, spool: Path) -> None:
    register(url, args.devices)
    port = free_port()
    env = dict(
        os.environ,
        OFFSITE_DATABASE_URL=url,
        OFFSITE_SECRET_KEY=KEY,
        OFFSITE_GATEWAY_PORT=str(port),
        OFFSITE_DATA_DIR=str(spool),
        OFFSITE_ARCHIVE_WRITER=f"bench-{name}",
        OFFSITE_GATEWAY_IDLE_TIMEOUT="3600",
        OFFSITE_GATEWAY_MAX_REJECTIONS="1000000",
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "offsite", "gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        result = asyncio.run(load(port, args))
        rss = rss_mb(gateway.pid)
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(60)
        except subprocess.TimeoutExpired:
            gateway.kill()
    print(
        f"{name:10s} connections held:   {result['held']:,} of {args.connections:,} "
        f"(opened in {result['opened_s']:.1f} s, {result['failures']} failed)"
    )
    print(
        f"{name:10s} sustained:          {result['sustained']:,.0f} packets/s = "
        f"{result['sustained'] * 8:,.0f} values/s (durable acks, {args.workers} connections, closed loop)"
    )
    print(
        f"{name:10s} ack latency at {args.rate:,}/s: p50 {result['p50'] * 1000:.0f} ms, "
        f"p99 {result['p99'] * 1000:.0f} ms ({result['rate_acked']:.1%} acked)"
    )
    print(f"{name:10s} gateway RSS:        {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool", type=int, default=40_000)
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("both", "sqlite"):
            run_backend("SQLite", f"sqlite:///{tmp}/load.db", args, Path(tmp) / "spool-sqlite")
        if args.backend in ("both", "postgresql"):
            problem = postgres_reachable()
            if problem:
                print(f"PostgreSQL skipped: {problem}")
                return
            databases = PostgresDatabases()
            try:
                with databases.fresh() as url:
                    run_backend("PostgreSQL", url, args, Path(tmp) / "spool-pg")
            finally:
                databases.close()


if __name__ == "__main__":
    main()
