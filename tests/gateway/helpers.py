"""A gateway on loopback with a few registered devices, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import Engine, insert

from offsite.gateway.server import Gateway
from offsite.hj212.times import CST
from offsite.hj212.uploads import upload
from offsite.registry.models import Device, Outlet, Region, Unit
from offsite.registry.passwords import encrypt
from offsite.settings import Settings

KEY = Fernet.generate_key().decode()
DEVICES = {"34130000000000000000DA01": "123456", "34130000000000000000DA02": "pw-two", "LEGACY0000001": "654321"}
T = TypeVar("T")


def register(engine: Engine) -> dict[str, int]:
    fernet = Fernet(KEY)
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
                    "credit_code": "9134130000000000XX",
                    "name": "示例建材",
                    "industry_code": "C3011",
                    "region_code": "341302",
                    "supervision_level": "provincial",
                    "status": "producing",
                }
            ],
        )
        conn.execute(insert(Outlet), [{"id": 1, "unit_id": 1, "code": "DA001", "name": "窑尾", "medium": "gas"}])
        ids = {}
        for number, (mn, pw) in enumerate(DEVICES.items(), start=1):
            variants = "hj212,modbus-swapped" if mn.startswith("LEGACY") else "hj212"
            conn.execute(
                insert(Device),
                [
                    {
                        "id": number,
                        "outlet_id": 1,
                        "mn": mn,
                        "password_enc": encrypt(fernet, pw),
                        "protocol_version": "2017",
                        "crc_variants": variants,
                        "factors": "",
                        "active": True,
                        "installed_on": date(2025, 1, 1),
                    }
                ],
            )
            ids[mn] = number
    return ids


def settings_for(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "secret_key": KEY,
        "gateway_port": 0,
        "gateway_host": "127.0.0.1",
        "data_dir": tmp_path / "data",
        "gateway_spool_dir": tmp_path / "spool",
        "archive_writer": "gw-test",
        "gateway_idle_timeout": 30.0,
        "gateway_flush_after": 0.05,
        "gateway_batch_wait": 0.005,
        "gateway_max_rejections": 3,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings, engine: Engine) -> AsyncIterator[tuple[Gateway, int]]:
    gateway = Gateway(settings, engine)
    _, port = await gateway.start()
    try:
        yield gateway, port
    finally:
        await gateway.stop(grace=2.0)


def minute_upload(mn: str, pw: str, qn: str, minute: int = 0, so2: float = 35.5) -> Any:
    return upload(
        cn="2051",
        mn=mn,
        pw=pw,
        st="31",
        qn=qn,
        data_time=datetime(2026, 11, 29, 10, minute, tzinfo=CST),
        factors={
            "a21026": {"Min": so2 - 2, "Avg": so2, "Max": so2 + 2, "Flag": "N"},
            "a19001": {"Avg": 9.1, "Flag": "N"},
        },
    )


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_with_timeout(coro))


async def _with_timeout(coro: Callable[[], Awaitable[T]]) -> T:
    return await asyncio.wait_for(coro(), 60)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check`` holds (projection and presence happen just after the ack)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def utcnow() -> datetime:
    return datetime.now(UTC)
