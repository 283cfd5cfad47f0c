"""Reply rules: what answers a packet, and the answers themselves.

Platform side (2017 §6.5, Appendix C): an upload or heartbeat with A=1 gets 9014 with the same
QN; a notice gets 9013; ST=91 and Flag = the version bits without A. In HJ/T 212-2005 the
answered QN (and CN) travel inside CP, and the platform also acknowledges a 9012 with 9014.
Device side (the simulator): 9011 (QnRtn) answers a request, 9012 (ExeRtn) reports its result.
"""

from __future__ import annotations

from offsite.hj212 import spec2025
from offsite.hj212.codes.commands import Kind, kind_of
from offsite.hj212.codes.returns import ExeRtn, QnRtn
from offsite.hj212.codes.systems import INTERACTION
from offsite.hj212.packet import Packet
from offsite.hj212.version import Version

DATA_REPLY = "9014"
NOTICE_REPLY = "9013"
REQUEST_REPLY = "9011"
EXECUTION_RESULT = "9012"


def reply_flag(version: Version) -> int | None:
    """Flag of a reply: the version bits, A and D clear (2005 replies carry Flag=0)."""
    if version is Version.V2025:
        return spec2025.REPLY_FLAG
    return version.bits << 2


def reply_to(packet: Packet) -> Packet | None:
    """The platform's answer to a packet it received, or None where none is due."""
    kind = kind_of(packet.cn)
    if kind is Kind.NOTICE:
        return notice_reply(packet)
    if kind in (Kind.UPLOAD, Kind.HEARTBEAT):
        return data_reply(packet) if packet.ack_requested else None
    if kind is Kind.REPLY and packet.cn == EXECUTION_RESULT and packet.version is Version.V2005:
        return data_reply(packet)
    return None


def data_reply(packet: Packet) -> Packet:
    """9014 for an upload (each split part is answered on its own, with its own QN)."""
    return _reply(packet, DATA_REPLY)


def notice_reply(packet: Packet) -> Packet:
    """9013 for a notice."""
    return _reply(packet, NOTICE_REPLY)


def _reply(packet: Packet, cn: str) -> Packet:
    version = packet.version
    if version is Version.V2005:
        cp: list[tuple[str, str]] = []
        if packet.qn is not None:
            cp.append(("QN", packet.qn))
        cp.append(("CN", packet.cn))
        if packet.pno is not None and packet.pnum is not None:
            cp += [("PNO", str(packet.pno)), ("PNUM", str(packet.pnum))]
        return Packet(cn=cn, st=INTERACTION, pw=packet.pw, mn=packet.mn, cp=tuple(cp))
    return Packet(
        cn=cn,
        st=INTERACTION,
        qn=packet.qn,
        pw=packet.pw,
        mn=packet.mn,
        flag=reply_flag(version),
    )


def request_response(request: Packet, result: QnRtn) -> Packet:
    """The device's 9011 to a platform request."""
    return _device_reply(request, REQUEST_REPLY, ("QnRtn", str(int(result))))


def execution_result(request: Packet, result: ExeRtn) -> Packet:
    """The device's 9012 once a request has been carried out."""
    return _device_reply(request, EXECUTION_RESULT, ("ExeRtn", str(int(result))))


def _device_reply(request: Packet, cn: str, item: tuple[str, str]) -> Packet:
    version = request.version
    if version is Version.V2005:
        cp = ((("QN", request.qn),) if request.qn is not None else ()) + (item,)
        return Packet(cn=cn, st=INTERACTION, pw=request.pw, mn=request.mn, flag=0, cp=cp)
    return Packet(
        cn=cn,
        st=INTERACTION,
        qn=request.qn,
        pw=request.pw,
        mn=request.mn,
        flag=reply_flag(version),
        cp=(item,),
    )


def answered_qn(reply: Packet) -> str | None:
    """The QN a reply answers: the header QN, or (2005) the QN inside CP."""
    if reply.version is Version.V2005:
        return reply.get("QN") or reply.qn
    return reply.qn
