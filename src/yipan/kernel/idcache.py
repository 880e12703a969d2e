"""Per-database caches of code → id maps.

Codes of SKUs and nodes never change their id once assigned, so a process may remember them; the
cache is keyed by engine so two databases in one process (tests) never share entries.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from yipan.kernel.errors import YipanError

_CHUNK = 500


class IdCache:
    def __init__(self, code_column: Any, id_column: Any) -> None:
        self._code = code_column
        self._id = id_column
        self._maps: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _map(self, session: Session) -> dict[str, int]:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        # Option engines (read-only units of work) share their parent's pool and ids.
        engine = getattr(engine, "_proxied", engine)
        with self._lock:
            return self._maps.setdefault(engine, {})

    def require(
        self, session: Session, codes: Iterable[str], error: type[YipanError], noun: str
    ) -> dict[str, int]:
        """The ids of all the codes; raises `error` naming every code that does not exist."""
        wanted = set(codes)
        found = self.find(session, wanted)
        if len(found) < len(wanted):
            unknown = sorted(wanted - found.keys())
            raise error(f"unknown {noun} code(s): {', '.join(unknown[:20])}", codes=unknown)
        return found

    def find(self, session: Session, codes: Iterable[str]) -> dict[str, int]:
        """The ids of the codes that exist; unknown codes are simply absent."""
        cache = self._map(session)
        wanted = set(codes)
        missing = [c for c in wanted if c not in cache]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for code, id_ in session.execute(
                select(self._code, self._id).where(self._code.in_(chunk))
            ):
                cache[code] = id_
        return {c: cache[c] for c in wanted if c in cache}
