"""Which devices are online: seen within ``offline_after``, offline beyond it, or never seen.

Kept in memory and written as changes: ``device_status`` holds the current state and
``device_status_change`` every transition, from which networking rates are computed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from offsite.db import table_of
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
        self._lock = threading.Lock()

    def load(self, engine: Engine) -> None:
        with engine.connect() as conn:
            for row in conn.execute(select(*DeviceStatus.__table__.c)):
                self._states[row.device_id] = _State(row.status, row.since, row.last_seen, row.peer)

    def last_peers(self) -> dict[int, tuple[str, datetime]]:
        """Each device's last address ("ip:port") and when it was last heard."""
        with self._lock:
            return {d: (s.peer, s.last_seen) for d, s in self._states.items() if s.peer}

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
            if dirty:
                # An upsert: another gateway process may have written this device's row already.
                table = table_of(DeviceStatus)
                stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["device_id"],
                        set_={c: stmt.excluded[c] for c in ("status", "since", "last_seen", "peer")},
                    ),
                    [
                        {"device_id": d, "status": s.status, "since": s.since, "last_seen": s.last_seen, "peer": s.peer}
                        for d, s in dirty.items()
                    ],
                )
