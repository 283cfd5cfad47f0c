"""The JSON form of packets that ``offsite hj212 decode`` prints and ``encode`` reads.

Other tools rely on exactly these keys (see README): per packet ``ok, version, qn, st, cn, pw,
mn, flag, ack_requested, pnum, pno, crc {declared, computed, variant}, data_time, cp,
factors``; per failure ``ok: false, error {code, message}, raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from offsite.hj212.errors import EncodeError
from offsite.hj212.frame import FrameFault
from offsite.hj212.packet import Decoded, Packet


def decoded_to_json(decoded: Decoded) -> dict[str, Any]:
    packet = decoded.packet
    cp: dict[str, str] = {}
    for key, value in packet.cp:
        cp.setdefault(key, value)
    factors: dict[str, dict[str, Any]] = {}
    for code, factor in decoded.factors.items():
        fields: dict[str, Any] = {suffix: factor.numbers.get(suffix, text) for suffix, text in factor.fields.items()}
        if factor.code_2005 is not None:
            fields["code_2005"] = factor.code_2005
        factors[code] = fields
    data_time = decoded.data_time
    return {
        "ok": True,
        "version": packet.version.value,
        "qn": packet.qn,
        "st": packet.st,
        "cn": packet.cn,
        "pw": packet.pw,
        "mn": packet.mn,
        "flag": packet.flag,
        "ack_requested": packet.ack_requested,
        "pnum": packet.pnum,
        "pno": packet.pno,
        "crc": {
            "declared": decoded.crc.declared,
            "computed": decoded.crc.computed,
            "variant": decoded.crc.variant.value,
        },
        "data_time": None
        if data_time is None
        else data_time.isoformat(timespec="milliseconds" if data_time.microsecond else "seconds"),
        "cp": cp,
        "factors": factors,
    }


def fault_to_json(fault: FrameFault) -> dict[str, Any]:
    return {
        "ok": False,
        "error": {"code": fault.error.code, "message": fault.error.message},
        "raw": raw_text(fault.raw),
    }


def raw_text(raw: bytes) -> str:
    """Bytes as text; bytes that are not UTF-8 appear as ``\\xNN``."""
    return raw.decode("utf-8", errors="backslashreplace")


def packet_from_json(obj: Mapping[str, Any]) -> Packet:
    """Build a packet from the decode form (``cp`` gives the items; other derived keys are ignored)."""
    if not isinstance(obj, Mapping):
        raise EncodeError(f"expected a JSON object, got {type(obj).__name__}", value=obj)
    cn = _text(obj, "cn")
    if cn is None:
        raise EncodeError("the object has no 'cn'", field="cn")
    cp_obj = obj.get("cp") or {}
    if not isinstance(cp_obj, Mapping):
        raise EncodeError("'cp' must be an object of key: text", field="cp", value=cp_obj)
    cp = tuple((str(k), _field_text(k, v)) for k, v in cp_obj.items())
    return Packet(
        cn=cn,
        st=_text(obj, "st"),
        qn=_text(obj, "qn"),
        pw=_text(obj, "pw"),
        mn=_text(obj, "mn"),
        flag=_int(obj, "flag"),
        pnum=_int(obj, "pnum"),
        pno=_int(obj, "pno"),
        cp=cp,
    )


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EncodeError(f"'{key}' must be text, got {value!r}", field=key, value=value)
    return value


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"'{key}' must be an integer, got {value!r}", field=key, value=value)
    return value


def _field_text(key: object, value: object) -> str:
    if isinstance(value, str):
        return value
    raise EncodeError(f"cp[{key!r}] must be text (as decode prints it), got {value!r}", field=str(key), value=value)
