"""Which devices are online: seen within ``offline_after``, offline beyond it, or never seen.

Kept in memory and written as changes: ``device_status`` holds the current state and
``device_status_change`` every transition, from which networking rates are computed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from offsite.gateway.models import DeviceStatus, DeviceStatusChange


@dataclass(slots=True)
class _State:
    status: str
    since: datetime
    last_seen: datetime
    peer: str | None
    dirty: bool = False


class Presence:
    def __init__(self, offline_after: float) -> None:
        self.offline_after = timedelta(seconds=offline_after)
        self._states: dict[int, _State] = {}
        self._changes: list[tuple[int, datetime, str]] = []
        self._known_rows: set[int] = set()
        self._lock = threading.Lock()

    def load(self, engine: Engine) -> None:
        with engine.connect() as conn:
            for row in conn.execute(select(*DeviceStatus.__table__.c)):
                self._states[row.device_id] = _State(row.status, row.since, row.last_seen, row.peer)
                self._known_rows.add(row.device_id)

    def seen(self, device_id: int, at: datetime, peer: str) -> None:
        with self._lock:
            state = self._states.get(device_id)
            if state is None or state.status != "online":
                self._states[device_id] = _State("online", at, at, peer, dirty=True)
                self._changes.append((device_id, at, "online"))
            else:
                state.last_seen, state.peer, state.dirty = at, peer, True

    def sweep(self, now: datetime | None = None) -> int:
        """Mark devices silent for longer than ``offline_after`` offline; returns how many."""
        now = now or datetime.now(UTC)
        went = 0
        with self._lock:
            for device_id, state in self._states.items():
                if state.status == "online" and now - state.last_seen > self.offline_after:
                    state.status, state.since, state.dirty = "offline", now, True
                    self._changes.append((device_id, now, "offline"))
                    went += 1
        return went

    def status(self, device_id: int) -> str:
        state = self._states.get(device_id)
        return state.status if state else "never"

    def flush(self, engine: Engine) -> None:
        """Write the current states that changed and every transition since the last flush."""
        with self._lock:
            changes, self._changes = self._changes, []
            dirty = {d: s for d, s in self._states.items() if s.dirty}
            for state in dirty.values():
                state.dirty = False
        if not changes and not dirty:
            return
        with engine.begin() as conn:
            if changes:
                conn.execute(
                    insert(DeviceStatusChange), [{"device_id": d, "at": at, "status": st} for d, at, st in changes]
                )
            new = [d for d in dirty if d not in self._known_rows]
            if new:
                conn.execute(
                    insert(DeviceStatus),
                    [
                        {
                            "device_id": d,
                            "status": dirty[d].status,
                            "since": dirty[d].since,
                            "last_seen": dirty[d].last_seen,
                            "peer": dirty[d].peer,
                        }
                        for d in new
                    ],
                )
                self._known_rows.update(new)
            for device_id, state in dirty.items():
                if device_id in new:
                    continue
                conn.execute(
                    update(DeviceStatus)
                    .where(DeviceStatus.device_id == device_id)
                    .values(status=state.status, since=state.since, last_seen=state.last_seen, peer=state.peer)
                )
