"""The HJ 212 protocol (2005, 2017, 2025): framing, CRC, parsing, encoding, code tables, replies.

Pure functions and plain data: no I/O. Start with ``Decoder`` (streaming) or ``decode`` (one
packet), ``encode`` for the way back, and ``reply_to`` for what the platform must answer.
"""

from offsite.hj212.crc import CrcVariant, hj212_crc
from offsite.hj212.decoder import DecodeOptions, Decoder, decode, decode_frame, decode_stream, peek_header
from offsite.hj212.encoder import encode, encode_segment
from offsite.hj212.errors import HJ212Error
from offsite.hj212.frame import Frame, FrameFault, FrameScanner, FramingOptions
from offsite.hj212.packet import CrcCheck, Decoded, Factor, Packet
from offsite.hj212.reassembly import Assembled, Incomplete, Reassembler
from offsite.hj212.replies import reply_to
from offsite.hj212.version import Version

__all__ = [
    "Assembled",
    "CrcCheck",
    "CrcVariant",
    "DecodeOptions",
    "Decoded",
    "Decoder",
    "Factor",
    "Frame",
    "FrameFault",
    "FrameScanner",
    "FramingOptions",
    "HJ212Error",
    "Incomplete",
    "Packet",
    "Reassembler",
    "Version",
    "decode",
    "decode_frame",
    "decode_stream",
    "encode",
    "encode_segment",
    "hj212_crc",
    "peek_header",
    "reply_to",
]
