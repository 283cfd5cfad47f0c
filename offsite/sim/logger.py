"""How a simulated data logger keeps its history and answers the platform's requests.

It stores what it uploads (so it can send it again), keeps a clock that may run off, and
answers as the standard describes: 9011 (QnRtn), then the data or the action, then 9012.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from offsite.hj212.codes.returns import ExeRtn, QnRtn
from offsite.hj212.errors import BadTime
from offsite.hj212.packet import Packet
from offsite.hj212.replies import execution_result, request_response
from offsite.hj212.times import parse_time
from offsite.sim.device import VirtualDevice

HISTORY = frozenset({"2031", "2051", "2061"})


class Logger:
    """Attach to a ``VirtualDevice`` as its ``on_request`` handler."""

    def __init__(self, clock_offset: timedelta = timedelta(0), answers: bool = True) -> None:
        self.clock_offset = clock_offset
        self.answers = answers
        self.history: dict[tuple[str, datetime], Packet] = {}
        self.requests: list[Packet] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def keep(self, packet: Packet) -> None:
        """Remember an upload so that a backfill request can have it again."""
        data_time = packet.get("DataTime")
        if data_time:
            self.history[(packet.cn, parse_time(data_time))] = packet

    async def __call__(self, device: VirtualDevice, request: Packet) -> None:
        self.requests.append(request)
        if not self.answers:
            return
        if request.cn == "1012":
            await device.send(request_response(request, QnRtn.READY))
            try:
                self.clock_offset = parse_time(request.get("SystemTime") or "", "SystemTime") - datetime.now(UTC)
                result = ExeRtn.SUCCESS
            except BadTime:
                result = ExeRtn.CONDITION_ERROR
            await device.send(execution_result(request, result))
        elif request.cn in HISTORY:
            await device.send(request_response(request, QnRtn.READY))
            try:
                begin = parse_time(request.get("BeginTime") or "", "BeginTime")
                end = parse_time(request.get("EndTime") or "", "EndTime")
            except BadTime:
                await device.send(execution_result(request, ExeRtn.CONDITION_ERROR))
                return
            records = sorted((t, p) for (cn, t), p in self.history.items() if cn == request.cn and begin <= t <= end)
            for _, packet in records:
                await device.send(packet)
            await device.send(execution_result(request, ExeRtn.SUCCESS if records else ExeRtn.NO_DATA))
        else:
            await device.send(request_response(request, QnRtn.REJECTED))
