"""Per-database caches of code → id maps.

Codes of SKUs and nodes never change their id once assigned, so a process may remember them; the
cache is keyed by engine so two databases in one process (tests) never share entries.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from yipan.kernel.errors import YipanError

_CHUNK = 500
# On its first miss a process reads this many codes at once (a few MB at most): a catalogue of
# that size is then known whole, and each miss would otherwise be a query of its own. Larger
# catalogues keep the first ones and read the rest as they are asked for.
WARM_LIMIT = 50_000


class IdCache:
    def __init__(self, code_column: Any, id_column: Any) -> None:
        self._code = code_column
        self._id = id_column
        self._maps: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()
        self._warmed: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _engine(self, session: Session) -> Engine:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        # Option engines (read-only units of work) share their parent's pool and ids.
        return cast(Engine, getattr(engine, "_proxied", engine))

    def _map(self, session: Session) -> dict[str, int]:
        with self._lock:
            return self._maps.setdefault(self._engine(session), {})

    def _warm(self, session: Session, cache: dict[str, int]) -> None:
        engine = self._engine(session)
        with self._lock:
            if engine in self._warmed:
                return
            self._warmed.add(engine)
        for code, id_ in session.execute(
            select(self._code, self._id).order_by(self._id).limit(WARM_LIMIT)
        ):
            cache[code] = id_

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
        if missing:
            self._warm(session, cache)
            missing = [c for c in missing if c not in cache]
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for code, id_ in session.execute(
                select(self._code, self._id).where(self._code.in_(chunk))
            ):
                cache[code] = id_
        return {c: cache[c] for c in wanted if c in cache}
