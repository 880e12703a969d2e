"""Reference data that changes rarely but is read on every order, kept by each process a few seconds.

A channel's rules or a channel's stock buffers are read for every order placed; asking the
database each time costs more than the routing itself. Each process keeps what it read for
`reference_refresh_seconds`. A change made through this process clears its copies at once
(`ReferenceCache.forget`); other processes see it when their copies run out.

Copies are kept per database (connection pool): tests and tools talk to several at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from yipan.kernel.config import get_settings

V = TypeVar("V")

_WROTE = "yipan.kernel.cache.wrote"


class ReferenceCache(Generic[V]):
    """Values by key for each database, each kept for `reference_refresh_seconds`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # By connection pool: a read-only unit of work talks through a fresh engine proxy
        # that shares its parent's pool.
        self._kept: weakref.WeakKeyDictionary[Pool, dict[Hashable, tuple[float, V]]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, session: Session, key: Hashable, load: Callable[[], V]) -> V:
        """The value for `key` in `session`'s database, calling `load` when there is no fresh copy.

        Inside a transaction that has written, the copy is bypassed: it must see its own writes.
        """
        engine = session.get_bind()
        if not isinstance(engine, Engine) or session.info.get(_WROTE):
            return load()
        pool = engine.pool
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(pool, {}).get(key)
        if kept is not None and now - kept[0] < get_settings().reference_refresh_seconds:
            return kept[1]
        value = load()
        with self._lock:
            self._kept.setdefault(pool, {})[key] = (now, value)
        return value

    def forget(self, session: Session) -> None:
        """Drop every copy: `session` is changing the data behind them. Dropped again when it
        commits, since another thread may have read the old data back in meanwhile."""
        session.info[_WROTE] = True
        self._clear()
        event.listen(session, "after_commit", lambda _session: self._clear(), once=True)

    def _clear(self) -> None:
        with self._lock:
            self._kept.clear()
