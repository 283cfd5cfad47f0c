"""Password attempts: how many wrong passwords an MN may be sent, and from where, before the
gateway stops comparing them for a while.

HJ 212 has no login: every packet carries the MN and its password (PW), six characters in most
deployments, so an attacker who knows an MN can guess by sending packets. The gateway counts
wrong passwords for each registered MN in a sliding window, twice over:

- per (MN, address): ``gateway_password_attempts`` wrong passwords from one address for one MN,
  on any number of connections, back that pair off;
- per MN: ``gateway_password_attempts_per_mn`` wrong passwords for one MN from all addresses
  together (guessing spread over many addresses) back the MN off.

Each back-off lasts ``gateway_password_backoff`` seconds and doubles with every further lock of
the same pair or MN, up to ``gateway_password_backoff_max``; after a window without a wrong
password once a lock is over, the next lock starts again from the first step. While backed off,
a packet is refused (outcome ``password_locked``) *without its password being compared*, so
guessing during a back-off learns nothing, not even from a right guess.

Never per address alone: a province's loggers reach the gateway through a few carrier NAT
addresses, and an address-wide lock would take hundreds of devices offline for one guesser. What
keeps the real device reporting while someone guesses its password:

- a connection that has already sent this MN's correct password is never refused nor counted
  (it knows the password; its wrong ones are a re-registered logger, not a guess). Loggers keep
  one long connection, so the usual case, a device online while it is attacked, is untouched;
- an MN backed off as a whole still compares packets from the addresses that sent its correct
  password within ``gateway_password_trust`` seconds (its carrier address), so guessing from
  elsewhere cannot lock the device out when it reconnects;
- the one case left, a guesser behind the *same* NAT address as the device, backs off only that
  pair, for at most ``gateway_password_backoff_max`` (15 minutes by default) while the guessing
  goes on: the logger keeps its data and the gateway asks for the gap when it is back.

Wrong passwords for unregistered MNs are not counted here (there is nothing to guess); the
connection's rejection cap closes such connections. Memory is bounded: records idle for longer
than a window plus the longest back-off are dropped, and an MN remembers at most a few trusted
addresses.

``AddressGuard`` bounds what one address's junk costs over time, however often it reconnects:

- a junk budget: at most ``gateway_junk_per_address`` rejected frames from one address (over all
  its connections) are archived one by one per ``gateway_password_window``; past it, its
  rejected frames only go into the connections' ``junk_summary`` records;
- an address whose connections ended with rejected frames and no accepted packet
  ``gateway_junk_connections`` times within the window is refused new connections for a
  back-off (``gateway_password_backoff``, doubling up to ``gateway_password_backoff_max``),
  which caps the summaries too. Never an address that sent an accepted packet within the
  window: real loggers behind a carrier NAT share it with whoever misbehaves there.

It remembers at most ``_ADDRESSES_KEPT`` addresses, forgetting the least recently seen first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from offsite.settings import Settings

_TRUSTED_PER_MN = 8
"""Addresses remembered per MN as having sent its correct password (the most recent win)."""

_PRUNE_ABOVE = 10_000
"""Records kept before the idle ones are swept out."""

_ADDRESSES_KEPT = 100_000
"""Addresses the ``AddressGuard`` remembers at most."""


@dataclass(slots=True)
class _Track:
    """Wrong passwords of one MN, or of one (MN, address) pair."""

    failures: deque[float] = field(default_factory=deque)
    level: int = 0
    """Locks so far in this run of guessing: the next one lasts backoff × 2**level."""
    locked_until: float = float("-inf")
    last_failure: float = float("-inf")

    def fail(self, now: float, limit: int, window: float, backoff: float, backoff_max: float) -> bool:
        """Count a wrong password; True if it starts a back-off."""
        if self.level and now - max(self.last_failure, self.locked_until) > window:
            self.level = 0  # a quiet window after the last lock: start again from the first step
        self.last_failure = now
        while self.failures and now - self.failures[0] > window:
            self.failures.popleft()
        self.failures.append(now)
        if len(self.failures) < limit:
            return False
        self.failures.clear()
        self.locked_until = now + min(backoff * 2**self.level, backoff_max)
        self.level += 1
        return True

    def idle(self, now: float, horizon: float) -> bool:
        return now - max(self.last_failure, self.locked_until) > horizon


class PasswordGuard:
    def __init__(
        self,
        *,
        attempts: int,
        attempts_per_mn: int,
        window: float,
        backoff: float,
        backoff_max: float,
        trust: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.attempts_per_mn = attempts_per_mn
        self.window = window
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.trust = trust
        self.clock = clock
        self._pairs: dict[tuple[str, str], _Track] = {}
        self._mns: dict[str, _Track] = {}
        self._trusted: dict[str, dict[str, float]] = {}
        """MN → {address: when it last sent the MN's correct password}."""
        self._prune_above = _PRUNE_ABOVE

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordGuard:
        return cls(
            attempts=settings.gateway_password_attempts,
            attempts_per_mn=settings.gateway_password_attempts_per_mn,
            window=settings.gateway_password_window,
            backoff=settings.gateway_password_backoff,
            backoff_max=settings.gateway_password_backoff_max,
            trust=settings.gateway_password_trust,
        )

    def refusal(self, mn: str, address: str) -> str | None:
        """Why a password for ``mn`` from ``address`` is not to be compared now; None if it may be."""
        now = self.clock()
        pair = self._pairs.get((mn, address))
        if pair is not None and now < pair.locked_until:
            return (
                f"wrong passwords for MN {mn} from {address}: backed off for {pair.locked_until - now:.0f} s more"
                " (the password was not compared)"
            )
        whole = self._mns.get(mn)
        if whole is not None and now < whole.locked_until and not self._is_trusted(mn, address, now):
            return (
                f"wrong passwords for MN {mn} from several addresses: backed off for "
                f"{whole.locked_until - now:.0f} s more, except from addresses it reported from"
                " (the password was not compared)"
            )
        return None

    def failed(self, mn: str, address: str) -> None:
        """A wrong password for a registered MN was sent from ``address``."""
        now = self.clock()
        pair = self._pairs.setdefault((mn, address), _Track())
        pair.fail(now, self.attempts, self.window, self.backoff, self.backoff_max)
        whole = self._mns.setdefault(mn, _Track())
        whole.fail(now, self.attempts_per_mn, self.window, self.backoff, self.backoff_max)
        if len(self._pairs) + len(self._mns) > self._prune_above:
            self._prune(now)

    def succeeded(self, mn: str, address: str) -> None:
        """The MN's correct password was sent from ``address``: trust it through the MN's back-off."""
        trusted = self._trusted.setdefault(mn, {})
        trusted.pop(address, None)
        trusted[address] = self.clock()
        if len(trusted) > _TRUSTED_PER_MN:
            del trusted[next(iter(trusted))]  # the address that won least recently

    def trust_from(self, mn: str, address: str, age: float) -> None:
        """``address`` sent the MN's correct password ``age`` seconds ago (as the database
        remembers it, across restarts): trust it as ``succeeded`` would have."""
        if age > self.trust:
            return
        trusted = self._trusted.setdefault(mn, {})
        trusted[address] = self.clock() - age
        if len(trusted) > _TRUSTED_PER_MN:
            del trusted[next(iter(trusted))]

    def _is_trusted(self, mn: str, address: str, now: float) -> bool:
        since = self._trusted.get(mn, {}).get(address)
        return since is not None and now - since <= self.trust

    def _prune(self, now: float) -> None:
        horizon = self.window + self.backoff_max
        self._pairs = {k: t for k, t in self._pairs.items() if not t.idle(now, horizon)}
        self._mns = {k: t for k, t in self._mns.items() if not t.idle(now, horizon)}
        # under a wide attack most records are live: sweep again only once they have doubled
        self._prune_above = max(_PRUNE_ABOVE, 2 * (len(self._pairs) + len(self._mns)))


@dataclass(slots=True)
class _Address:
    """What one address cost lately."""

    seen: float
    window_start: float
    archived: int = 0
    """Rejected frames archived one by one since ``window_start``."""
    accepted_at: float = float("-inf")
    closures: _Track | None = None
    """Connections that ended with rejections and no accepted packet, and the back-off they started."""


class AddressGuard:
    """Per address: the junk budget, and the back-off of addresses that send nothing but junk."""

    def __init__(
        self,
        *,
        budget: int,
        connections: int,
        window: float,
        backoff: float,
        backoff_max: float,
        clock: Callable[[], float] = time.monotonic,
        kept: int = _ADDRESSES_KEPT,
    ) -> None:
        self.budget = budget
        self.connections = connections
        self.window = window
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.clock = clock
        self.kept = kept
        self._addresses: dict[str, _Address] = {}
        """Least recently seen first."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressGuard:
        return cls(
            budget=settings.gateway_junk_per_address,
            connections=settings.gateway_junk_connections,
            window=settings.gateway_password_window,
            backoff=settings.gateway_password_backoff,
            backoff_max=settings.gateway_password_backoff_max,
        )

    def __len__(self) -> int:
        return len(self._addresses)

    def refusal(self, address: str) -> str | None:
        """Why a new connection from ``address`` is refused now; None if it is let in."""
        record = self._addresses.get(address)
        if record is None or record.closures is None:
            return None
        now = self.clock()
        if now >= record.closures.locked_until or self._accepted_lately(record, now):
            return None
        return (
            f"{address} sent only rejected frames on its last {self.connections} connections: "
            f"refused for {record.closures.locked_until - now:.0f} s more"
        )

    def spend(self, address: str) -> bool:
        """A rejected frame from ``address``: True if it may be archived by itself (the budget
        allows it), False if it goes into its connection's junk summary."""
        now = self.clock()
        record = self._touch(address, now)
        if now - record.window_start >= self.window:
            record.window_start, record.archived = now, 0
        if record.archived >= self.budget:
            return False
        record.archived += 1
        return True

    def accepted(self, address: str) -> None:
        """An accepted packet came from ``address``: it is never refused within the window."""
        now = self.clock()
        self._touch(address, now).accepted_at = now

    def rejected_connection(self, address: str) -> bool:
        """A connection from ``address`` ended with rejected frames and no accepted packet; True if
        that starts a back-off of the address."""
        now = self.clock()
        record = self._touch(address, now)
        if self._accepted_lately(record, now):
            return False
        if record.closures is None:
            record.closures = _Track()
        return record.closures.fail(now, self.connections, self.window, self.backoff, self.backoff_max)

    def _accepted_lately(self, record: _Address, now: float) -> bool:
        return now - record.accepted_at <= self.window

    def _touch(self, address: str, now: float) -> _Address:
        addresses = self._addresses
        record = addresses.pop(address, None)
        if record is None:
            record = _Address(seen=now, window_start=now)
        record.seen = now
        addresses[address] = record  # the most recently seen last
        # forget from the least recently seen: any beyond the bound, and those whose every window
        # and back-off is over
        horizon = self.window + self.backoff_max
        while len(addresses) > 1:
            oldest = next(iter(addresses))
            if len(addresses) <= self.kept and now - addresses[oldest].seen <= horizon:
                break
            del addresses[oldest]
        return record
