"""Running the catalogue, in two steps:

1. ``screen_own``: every rule that reads a device's own readings, over every device (vectorised
   across devices; a device whose parameters are overridden is run with its own), and the
   device's ``Observations`` for the peer comparisons;
2. ``complete``: the peer rules against the industries' profiles, R11 over the others' hits, and
   the joining into clues.

``screen`` does both on one set of devices, profiling them as their own peers unless profiles
are given. The pool runs step 1 in a process per batch and step 2 once the profiles of all
batches are known — so a province's readings are read and prepared once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from offsite.screening import clues, profiles
from offsite.screening.detectors import (
    comparison,
    consistency,
    constant,
    correction,
    digits,
    drop,
    flags,
    gaps,
    hugging,
    marks,
    oxygen,
    peers,
    power,
    range,
    replay,
    suppression,
    video,
    zero,
)
from offsite.screening.hits import HITS
from offsite.screening.inputs import Inputs
from offsite.screening.parameters import SCOPE_KINDS, Catalogue
from offsite.screening.prepared import Prepared, prepare

Detector = Callable[[Prepared, dict[str, Any]], pl.DataFrame]

DETECTORS: dict[str, Detector | tuple[Detector, ...]] = {
    "R01": constant.detect,
    "R02": zero.detect_zero,
    "R03": zero.detect_negative,
    "R04": range.detect,
    "R05": drop.detect,
    "R06": gaps.detect,
    "R07": flags.detect_long,
    "R08": (hugging.detect, hugging.detect_jump),
    "R09": oxygen.detect,
    "R10": consistency.detect,
    "R12": power.detect,
    "R13": digits.detect,
    "R14": replay.detect,
    "R15": flags.detect_manual,
    "R16": marks.detect,
    "R17": comparison.detect,
    "R18": suppression.detect,
    "R19": correction.detect,
}
NEED_LIMITS = ("R05", "R08")


@dataclass(slots=True)
class Result:
    hits: pl.DataFrame
    clues: pl.DataFrame
    parameters: dict[str, dict[str, Any]]
    notices: list[str] = field(default_factory=list)

    def records(self, data: pl.DataFrame) -> list[dict[str, Any]]:
        return clues.records(self.clues, data, self.parameters)


@dataclass(slots=True)
class Partial:
    """Step 1's outcome for a set of devices: small enough to send from a worker process."""

    hits: pl.DataFrame
    observations: profiles.Observations
    industries: pl.DataFrame
    scopes: pl.DataFrame
    video: pl.DataFrame
    exceedances: pl.DataFrame
    """Readings above the limit on devices with a video outage (for R11)."""
    notices: list[str]


def screen(inputs: Inputs, catalogue: Catalogue) -> Result:
    partial = screen_own(inputs, catalogue)
    peer_profiles = inputs.profiles
    if peer_profiles.is_empty():
        # no profiles computed beforehand over all the peers: the devices given are the peers
        peer_profiles = profiles.profile(partial.observations, inputs.industries, catalogue)
    return complete(partial, peer_profiles, catalogue)


def screen_own(inputs: Inputs, catalogue: Catalogue) -> Partial:
    prepared = prepare(inputs)
    notices = _limit_notices(prepared, catalogue)
    enabled = [rule for rule in DETECTORS if catalogue.enabled(rule)]
    found = [_run(rule, DETECTORS[rule], prepared, catalogue) for rule in enabled]
    return Partial(
        pl.concat([pl.DataFrame(schema=HITS), *found]),
        profiles.observe(prepared, catalogue),
        inputs.industries,
        inputs.scopes,
        inputs.video,
        video.exceedances(prepared),
        notices,
    )


def complete(partial: Partial, peer_profiles: pl.DataFrame, catalogue: Catalogue) -> Result:
    parameters = {rule: catalogue.params(rule) for rule in catalogue.rules if catalogue.enabled(rule)}
    compared = [
        _run_peers(rule, detector, partial, peer_profiles, catalogue)
        for rule, detector in peers.DETECTORS.items()
        if rule in parameters
    ]
    hits = pl.concat([partial.hits, *compared])
    if "R11" in parameters:
        hits = pl.concat([hits, *_video(partial, hits, catalogue)])
    return Result(hits, clues.join(hits), parameters, partial.notices)


def _run_peers(
    rule: str, detector: peers.PeerDetector, partial: Partial, peer_profiles: pl.DataFrame, catalogue: Catalogue
) -> pl.DataFrame:
    parts = []
    for params, keep in _parameter_groups(rule, catalogue, partial.industries, partial.scopes):
        if params.get("enabled", True):
            parts.append(detector(partial.observations.only(keep), partial.industries, peer_profiles, params))
    return pl.concat([pl.DataFrame(schema=HITS), *parts])


def _video(partial: Partial, hits: pl.DataFrame, catalogue: Catalogue) -> list[pl.DataFrame]:
    return [
        video.detect(partial.video.filter(keep), partial.exceedances.filter(keep), params, hits.filter(keep))
        for params, keep in _parameter_groups("R11", catalogue, partial.industries, partial.scopes)
        if params.get("enabled", True)
    ]


def _parameter_groups(
    rule: str, catalogue: Catalogue, industries: pl.DataFrame, scopes: pl.DataFrame
) -> list[tuple[dict[str, Any], pl.Expr]]:
    """The rule's parameters and the devices (an expression on ``mn``) they apply to: the
    defaults for the devices no override reaches, then one set per combination of overriding
    scopes (industry, unit, outlet, device: applied broadest first)."""
    scoped = catalogue.scoped(rule)
    if not scoped:
        return [(catalogue.params(rule), pl.lit(value=True))]
    reached: dict[str, set[str]] = defaultdict(set)
    for mn, industry in industries.select("mn", "industry").iter_rows():
        if f"industry:{industry}" in scoped:
            reached[mn].add(f"industry:{industry}")
    for mn, scope in scopes.select("mn", "scope").iter_rows():
        if scope in scoped:
            reached[mn].add(scope)
    for scope in scoped:
        if scope.startswith("mn:"):
            reached[scope[3:]].add(scope)
    together: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for mn, found in reached.items():
        together[tuple(sorted(found, key=lambda s: SCOPE_KINDS.index(s.partition(":")[0])))].append(mn)
    groups = [(catalogue.params(rule), ~pl.col("mn").is_in(list(reached)))]
    return groups + [(catalogue.params(rule, order), pl.col("mn").is_in(mns)) for order, mns in together.items()]


def _run(
    rule: str, detector: Detector | tuple[Detector, ...], prepared: Prepared, catalogue: Catalogue
) -> pl.DataFrame:
    if isinstance(detector, tuple):
        return pl.concat([_run(rule, part, prepared, catalogue) for part in detector])
    return _run_one(rule, detector, prepared, catalogue)


def _run_one(rule: str, detector: Detector, prepared: Prepared, catalogue: Catalogue) -> pl.DataFrame:
    """The rule over all devices; those with overrides of their own run apart, with them."""
    inputs = prepared.inputs
    groups = _parameter_groups(rule, catalogue, inputs.industries, inputs.scopes)
    if len(groups) == 1:
        return detector(prepared, groups[0][0])
    parts = [detector(_only(prepared, keep), params) for params, keep in groups if params.get("enabled", True)]
    return pl.concat([pl.DataFrame(schema=HITS), *parts])


def _only(p: Prepared, keep: pl.Expr) -> Prepared:
    inputs = p.inputs
    narrowed = replace(
        inputs,
        data=inputs.data.filter(keep),
        limits=inputs.limits.filter(keep),
        video=inputs.video.filter(keep),
        marks=inputs.marks.filter(keep),
        devices=inputs.devices.filter(keep),
        changes=inputs.changes.filter(keep),
        comparisons=inputs.comparisons.filter(keep),
    )
    return Prepared(p.pollutants.filter(keep), p.context.filter(keep), p.steps.filter(keep), narrowed)


def _limit_notices(prepared: Prepared, catalogue: Catalogue) -> list[str]:
    rules = [r for r in NEED_LIMITS if catalogue.enabled(r)]
    if not rules:
        return []
    # a limit left out where no correction was possible is R19's, not a missing limit
    missing = (
        prepared.pollutants.filter(pl.col("limit_nominal").is_null())
        .select("mn", "factor")
        .unique()
        .sort("mn", "factor")
    )
    return [
        f"{mn} {factor}: no limit given and no standard known; {', '.join(rules)} skip this series"
        for mn, factor in missing.iter_rows()
    ]
