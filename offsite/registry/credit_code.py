"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, last one a check digit."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_digit(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid credit code, or None if it is."""
    if len(code) != 18:
        return f"{code!r} has {len(code)} characters, not 18"
    bad = [c for c in code if c not in ALPHABET]
    if bad:
        return f"{code!r} holds {''.join(bad)!r}, outside the code's alphabet"
    expected = check_digit(code[:17])
    if code[17] != expected:
        return f"{code!r} fails its check digit (expected {expected})"
    return None


def make(body: str) -> str:
    """A valid code from 17 characters (for fixtures and the demo's fictional units)."""
    bad = [c for c in body if c not in ALPHABET]
    if len(body) != 17 or bad:
        raise ValueError(f"{body!r}: need 17 characters from {ALPHABET} (bad: {''.join(bad)!r})")
    return body + check_digit(body)
