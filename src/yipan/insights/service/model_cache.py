"""Fitted models kept per process: per database (the engine's pool) and key, each for a while.

Fitting a model over every member's purchases takes seconds; a page or an API call should not
pay it every time. One fit runs at a time in a process: a request arriving during a fit waits
for it and takes its result. A session not bound to an engine (a bare connection) fits anew.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

M = TypeVar("M")


class ModelCache(Generic[M]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[Pool, dict[Hashable, tuple[float, M]]]
        self._kept = weakref.WeakKeyDictionary()

    def get(
        self,
        session: Session,
        key: Hashable,
        fit: Callable[[], M],
        *,
        max_age_seconds: float,
        refresh: bool = False,
    ) -> M:
        bind = session.get_bind()
        if not isinstance(bind, Engine):
            return fit()
        with self._lock:
            kept = self._kept.get(bind.pool, {}).get(key)
            if kept is not None and not refresh and time.monotonic() - kept[0] < max_age_seconds:
                return kept[1]
            fitted = fit()
            self._kept.setdefault(bind.pool, {})[key] = (time.monotonic(), fitted)
            return fitted

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
