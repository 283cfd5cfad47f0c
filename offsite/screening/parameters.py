"""Rule parameters: defaults in ``data/rules.toml`` (each with its status), a user's TOML on top,
and overrides for one device, outlet, unit or industry (``[override."mn:MN…".R05]``)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

SCOPE_KINDS = ("industry", "unit", "outlet", "mn")
"""Broadest first: a device's overrides apply in this order, the narrowest last."""


class ParameterError(ValueError):
    """A rules file that cannot be read, or names a rule or parameter that does not exist."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    rules: Mapping[str, Mapping[str, Any]]
    overrides: Mapping[str, Mapping[str, Mapping[str, Any]]]
    """Scope (``mn:…``, ``outlet:…``, ``unit:…``, ``industry:…``) → rule → parameters."""

    def enabled(self, rule: str) -> bool:
        return rule in self.rules and bool(self.rules[rule].get("enabled", True))

    def params(self, rule: str, scopes: Iterable[str] = ()) -> dict[str, Any]:
        """The rule's parameters, with the overrides of ``scopes`` applied in the order given
        (broadest first: industry, unit, outlet, device)."""
        merged = copy.deepcopy(dict(self.rules[rule]))
        for scope in scopes:
            for key, value in self.overrides.get(scope, {}).get(rule, {}).items():
                if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
        return merged

    def scoped(self, rule: str) -> set[str]:
        """The scopes that override ``rule``."""
        return {scope for scope, rules in self.overrides.items() if rule in rules}


def load(path: Path | None = None) -> Catalogue:
    """The defaults, with ``path`` (if any) applied on top."""
    defaults = tomllib.loads((files("offsite.screening") / "data" / "rules.toml").read_text(encoding="utf-8"))
    if path is None:
        return Catalogue(defaults, {})
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(f"{path}: {exc}") from exc
    overrides = user.pop("override", {})
    rules = copy.deepcopy(defaults)
    for rule, values in user.items():
        _check(path, rule, values, defaults)
        rules[rule].update(values)
    for scope, per_rule in overrides.items():
        for rule, values in per_rule.items():
            _check(path, rule, values, defaults, scope)
    return Catalogue(rules, overrides)


def _check(path: Path, rule: str, values: Any, defaults: Mapping[str, Any], scope: str = "") -> None:
    where = f"{path}: " + (f"override {scope!r}, " if scope else "")
    if scope and (scope.partition(":")[0] not in SCOPE_KINDS or not scope.partition(":")[2]):
        raise ParameterError(f"{where}a scope is one of {', '.join(k + ':…' for k in SCOPE_KINDS)}")
    if rule not in defaults:
        raise ParameterError(f"{where}unknown rule {rule!r} (known: {', '.join(sorted(defaults))})")
    if not isinstance(values, Mapping):
        raise ParameterError(f"{where}[{rule}] must be a table of parameters")
    unknown = set(values) - set(defaults[rule]) - {"enabled"}
    if unknown:
        raise ParameterError(f"{where}[{rule}] has no parameter {', '.join(sorted(unknown))}")
