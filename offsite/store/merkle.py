"""Merkle trees over a checkpoint's record hashes (the RFC 6962 construction).

A checkpoint's signed root lets one unit's packets be proved later with a path of log2(n)
hashes, without shipping every other packet between them (evidence packages need this).
Leaves and nodes are hashed with distinct prefixes, so a node can never pass for a leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """The tree's root over ``leaves`` (record hashes, in seq order); the hash of nothing if empty."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _root([_leaf(x) for x in leaves])


def _root(level: list[bytes]) -> bytes:
    if len(level) == 1:
        return level[0]
    split = _split(len(level))
    return _node(_root(level[:split]), _root(level[split:]))


def _split(n: int) -> int:
    """The largest power of two below ``n`` (RFC 6962, 2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index``: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    return _path([_leaf(x) for x in leaves], index)


def _path(level: list[bytes], index: int) -> list[bytes]:
    if len(level) == 1:
        return []
    split = _split(len(level))
    if index < split:
        return [*_path(level[:split], index), _root(level[split:])]
    return [*_path(level[split:], index - split), _root(level[:split])]


def verify_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``leaf`` stands at ``index`` of a tree of ``size`` leaves whose root is ``expected_root``."""
    if not 0 <= index < size:
        return False
    computed, rest = _climb(_leaf(leaf), index, size, list(path))
    return not rest and computed == expected_root


def _climb(node: bytes, index: int, size: int, path: list[bytes]) -> tuple[bytes, list[bytes]]:
    if size == 1:
        return node, path
    split = _split(size)
    if index < split:
        below, path = _climb(node, index, split, path)
        if not path:
            return b"", path
        return _node(below, path[0]), path[1:]
    below, path = _climb(node, index - split, size - split, path)
    if not path:
        return b"", path
    return _node(path[0], below), path[1:]
