"""The gateway under attack, with a hung database and a power cut: do real devices keep their acks?

The gateway runs as its own process on PostgreSQL, reached through a TCP proxy (its own process)
that can stall: links stay open and nothing passes, as a hung database does. 200 real devices
(real TCP clients from 127.0.0.1, resending until acknowledged, as HJ 212 loggers do) upload
minute packets at a fixed offered load through four phases:

1. calm: nothing else happens — the reference rate;
2. attack: 2,000 hostile connections from distinct 127.x addresses (slow frames trickled a byte
   at a time, 60 kB junk writes, silent sockets) and a password guesser on several connections;
3. hung database: the proxy stalls for --hang seconds (the attack goes on);
4. power cut: the gateway is killed with SIGKILL and started again (the attack goes on).

Printed: the real devices' acked packets/s in each phase against the calm rate (target >= 80 %
under attack), the archive rows the hostile traffic produced (bounded), and acknowledged
packets missing from the archive at the end (must be 0).

Run: python benchmarks/gateway_hostile.py [--devices 200] [--rate 400] [--phase 20] [--hang 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from benchmarks.gateway_load import KEY, mn, register
from offsite.db import make_engine
from offsite.hj212 import Decoded, Decoder, encode
from offsite.hj212.replies import answered_qn
from offsite.hj212.uploads import upload
from offsite.store.models import RawPacket
from tests.databases import PostgresDatabases, postgres_reachable

REAL_PEER = "127.0.0.1"
GUESS_TIME = datetime(2026, 11, 1, tzinfo=UTC)
GUESSES_PER_WRITE = 400
JUNK = (b"##0010" + b"0123456789abcdef0123" + b"\r\n") * 2000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the stalling proxy, in a process of its own ---------------------------------------------


def _proxy_main(target: tuple[str, int], port: int, control: Connection) -> None:
    from tests.proxy import Proxy

    async def run() -> None:
        proxy = Proxy(*target)
        proxy.port = port
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", port)
        loop = asyncio.get_running_loop()
        control.send("ready")
        while True:
            command = await loop.run_in_executor(None, control.recv)
            if command == "stall":
                proxy.stall()
            elif command == "resume":
                proxy.resume()
            elif command == "stop":
                return
            control.send("ok")

    asyncio.run(run())


class StallingProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.port = free_port()
        self.control, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_proxy_main, args=(target, self.port, child), daemon=True)
        self.process.start()
        assert self.control.recv() == "ready"

    def command(self, what: str) -> None:
        self.control.send(what)
        if what != "stop":
            assert self.control.recv() == "ok"

    def stop(self) -> None:
        self.command("stop")
        self.process.join(5)


# -- real devices ----------------------------------------------------------------------------------


@dataclass
class Tally:
    acked: set[str] = field(default_factory=set)
    acked_at: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    """Seconds from a packet's first sending to its ack, in the order of acked_at."""
    sent: int = 0


class RealDevice:
    """Uploads one minute packet every ``interval`` seconds; resends until acknowledged."""

    def __init__(self, index: int, port: int, interval: float, tally: Tally) -> None:
        self.mn = mn(index)
        self.index = index
        self.port = port
        self.interval = interval
        self.tally = tally
        self.counter = 0

    def packet(self) -> tuple[str, bytes]:
        self.counter += 1
        qn = f"2026{self.index:05d}{self.counter:08d}"
        minute = self.counter
        data_time = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minute)
        factors = {"a21026": {"Avg": 30.0 + minute % 7, "Flag": "N"}, "a19001": {"Avg": 9.0, "Flag": "N"}}
        packet = upload(cn="2051", mn=self.mn, pw="123456", st="31", qn=qn, data_time=data_time, factors=factors)
        return qn, encode(packet)

    async def run(self, until: Callable[[], bool]) -> None:
        await asyncio.sleep(random.random() * self.interval)
        link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        pending: tuple[str, bytes] | None = None
        first_sent: float | None = None
        while not until():
            started = time.monotonic()
            if pending is None:
                pending = self.packet()
            try:
                if link is None:
                    link = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 5)
                qn, data = pending
                link[1].write(data)
                self.tally.sent += 1
                if first_sent is None:
                    first_sent = time.monotonic()
                if await asyncio.wait_for(self._ack(link[0], qn), 10):
                    self.tally.acked.add(qn)
                    self.tally.acked_at.append(time.monotonic())
                    self.tally.latency.append(time.monotonic() - first_sent)
                    pending, first_sent = None, None
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                if link is not None:
                    link[1].transport.abort()
                link = None
                await asyncio.sleep(0.5)  # then resend the same packet, as a logger does
                continue
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        if link is not None:
            link[1].transport.abort()

    async def _ack(self, reader: asyncio.StreamReader, qn: str) -> bool:
        decoder = Decoder()
        while True:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("closed")
            for item in decoder.feed(data):
                if isinstance(item, Decoded) and answered_qn(item.packet) == qn:
                    return True


# -- hostile connections ----------------------------------------------------------------------------


def hostile_address(i: int) -> str:
    return f"127.{1 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}"


async def hostile(i: int, port: int, until: Callable[[], bool]) -> None:
    kind = i % 3
    while not until():
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(hostile_address(i), 0)), 5
            )
        except (OSError, TimeoutError):
            await asyncio.sleep(1.0)
            continue
        try:
            if kind == 0:  # slow frame: one byte a second, never finished
                for byte in b"##0400QN=2026110100000000;ST=31;CN=2051;PW=1;MN=" * 10:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(1.0)
                    if until():
                        break
            elif kind == 1:  # junk: 60 kB of frames that are not HJ 212, again and again
                junk = JUNK
                while not until():
                    writer.write(junk[:61440])
                    await asyncio.wait_for(writer.drain(), 10)
                    await asyncio.sleep(0.5)
            else:  # silent: holds a socket, says nothing
                while not until():
                    await asyncio.sleep(1.0)
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
        await asyncio.sleep(0.5)


async def guesser(port: int, devices: int, until: Callable[[], bool]) -> int:
    """Wrong passwords for real MNs, from one address over several connections: writes of 400
    guesses, encoded beforehand (the attacker's own CPU is not what is measured)."""
    guesses = 0
    volleys = [
        b"".join(
            encode(
                upload(
                    cn="2011",
                    mn=mn(random.randrange(devices)),
                    pw=f"{v * GUESSES_PER_WRITE + k:06d}",
                    st="31",
                    qn=f"{20261101000000000 + k}",
                    data_time=GUESS_TIME,
                    factors={"a21026": {"Rtd": 1.0, "Flag": "N"}},
                )
            )
            for k in range(GUESSES_PER_WRITE)
        )
        for v in range(8)
    ]
    while not until():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.250.0.1", 0))
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            writer.write(random.choice(volleys))
            guesses += GUESSES_PER_WRITE
            await asyncio.wait_for(writer.drain(), 5)
            await asyncio.sleep(0.2)
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.transport.abort()
    return guesses


def _attack_main(port: int, count: int, devices: int, stop: Any, guesses: Any) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    async def run() -> None:
        tasks = [asyncio.create_task(hostile(i, port, stop.is_set)) for i in range(count)]
        guesses.value = await guesser(port, devices, stop.is_set)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


# -- the run ---------------------------------------------------------------------------------------


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, port: int) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "offsite", "gateway", "--port", str(port)],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        for _ in range(300):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            time.sleep(0.1)
        raise RuntimeError(f"the gateway did not start; see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def scenario(args: argparse.Namespace, port: int, gateway: GatewayProcess, proxy: StallingProxy) -> dict:
    tally = Tally()
    finished = False
    real = [RealDevice(i, port, args.devices / args.rate, tally) for i in range(args.devices)]
    tasks = [asyncio.create_task(d.run(lambda: finished)) for d in real]
    phases: dict[str, tuple[float, float]] = {}

    async def phase(name: str, seconds: float) -> None:
        start = time.monotonic()
        await asyncio.sleep(seconds)
        phases[name] = (start, time.monotonic())

    await asyncio.sleep(3.0)  # every device connected and sending
    await phase("calm", args.phase)
    # the attackers run in a process of their own, so that they do not slow the real devices' client
    stop_attack = multiprocessing.Event()
    guesses = multiprocessing.Value("q", 0)
    attacker = multiprocessing.Process(
        target=_attack_main, args=(port, args.hostile, args.devices, stop_attack, guesses), daemon=True
    )
    attacker.start()
    await asyncio.sleep(3.0)  # the hostile connections open
    await phase("attack", args.phase)
    proxy.command("stall")
    await phase("hung database", args.hang)
    proxy.command("resume")
    await asyncio.sleep(5.0)
    gateway.kill()
    killed = time.monotonic()
    await asyncio.sleep(1.0)
    await asyncio.get_running_loop().run_in_executor(None, gateway.start, port)
    phases["power cut"] = (killed, time.monotonic() + args.phase)
    await asyncio.sleep(args.phase)
    stop_attack.set()
    await asyncio.get_running_loop().run_in_executor(None, attacker.join, 30)
    await asyncio.sleep(5.0)  # the last resends
    finished = True
    await asyncio.gather(*tasks, return_exceptions=True)
    rates = {
        name: sum(1 for t in tally.acked_at if start <= t < end) / (end - start)
        for name, (start, end) in phases.items()
    }
    latencies = {}
    for name, (start, end) in phases.items():
        inside = sorted(x for t, x in zip(tally.acked_at, tally.latency, strict=True) if start <= t < end)
        latencies[name] = (inside[len(inside) // 2], inside[int(len(inside) * 0.99) - 1]) if inside else (0.0, 0.0)
    return {"latencies": latencies, "rates": rates, "acked": tally.acked, "sent": tally.sent, "guesses": guesses.value}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--rate", type=float, default=400.0, help="offered packets/s over all real devices")
    parser.add_argument("--hostile", type=int, default=2000)
    parser.add_argument("--phase", type=float, default=20.0, help="seconds of each phase")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds the database hangs")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if problem := postgres_reachable():
        print(f"PostgreSQL is needed: {problem}")
        return
    databases = PostgresDatabases()
    with tempfile.TemporaryDirectory() as tmp, databases.fresh(migrated=False) as url:
        register(url, args.devices)
        target = make_url(url)
        proxy = StallingProxy((target.host or "127.0.0.1", target.port or 5432))
        proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
        env = dict(
            os.environ,
            OFFSITE_DATABASE_URL=proxied,
            OFFSITE_SECRET_KEY=KEY,
            OFFSITE_DATA_DIR=str(Path(tmp) / "data"),
            OFFSITE_ARCHIVE_WRITER="bench-hostile",
            OFFSITE_LOG_FORMAT="text",
        )
        gateway = GatewayProcess(env, Path(tmp) / "gateway.log")
        port = free_port()
        gateway.start(port)
        try:
            result = asyncio.run(scenario(args, port, gateway, proxy))
            time.sleep(5.0)  # the restarted gateway replays its spool
        finally:
            gateway.stop()
            proxy.stop()
        engine = make_engine(url)
        with engine.connect() as conn:
            archived = set(conn.scalars(select(RawPacket.qn).where(RawPacket.outcome == "ok")))
            hostile_rows = conn.scalar(
                select(func.count()).select_from(RawPacket).where(~RawPacket.peer.like(f"{REAL_PEER}:%"))
            )
            by_outcome = dict(
                conn.execute(
                    select(RawPacket.outcome, func.count())
                    .where(~RawPacket.peer.like(f"{REAL_PEER}:%"))
                    .group_by(RawPacket.outcome)
                ).all()
            )
            address = func.split_part(RawPacket.peer, ":", 1)
            per_address = conn.execute(
                select(address, func.count())
                .where(~RawPacket.peer.like(f"{REAL_PEER}:%"))
                .group_by(address)
                .order_by(func.count().desc())
            ).all()
        engine.dispose()
        databases.close()
    calm = result["rates"]["calm"]
    print(f"real devices: {args.devices}, offered {args.rate:.0f} packets/s; hostile connections: {args.hostile}")
    for name, rate in result["rates"].items():
        p50, p99 = result["latencies"][name]
        print(
            f"  {name:14s} {rate:7.1f} acked packets/s  ({rate / calm:.0%} of calm)  "
            f"ack p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
    print(f"password guesses sent: {result['guesses']:,}")
    print(f"archive rows from hostile peers: {hostile_rows:,} {by_outcome}")
    if per_address:
        print(
            f"  from {len(per_address):,} addresses: at most {per_address[0][1]:,} rows from one "
            f"({per_address[0][0]}), {hostile_rows / len(per_address):.1f} on average, "
            f"over {args.phase * 2 + args.hang + 8:.0f} s of attack"
        )
    lost = result["acked"] - archived
    print(f"acked packets: {len(result['acked']):,}; acked but not in the archive: {len(lost)}")


if __name__ == "__main__":
    main()
