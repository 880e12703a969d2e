"""The audit trail of writes: every POST, PUT, PATCH or DELETE a known caller makes through the
API or the console becomes one row of the audit log — who (user or API key, and their role),
what (the method and the route, e.g. `POST /api/v1/orders/{order_id}/cancel`), to what (the
path as called), the answer's status (refusals are recorded too), when and from where.

The access routes (`/api/v1/auth`, the console's login and logout) are left out: they record
their own, richer rows. Anonymous requests are left out: they were refused before doing anything.

A pure ASGI middleware, so the rows are taken after the answer is sent and a write costs the
caller nothing it waits for. In a server the rows are gathered and written once a second in one
statement (`AuditTrail.flush`, run by the background jobs and at shutdown): a crash may lose the
last second of the trail, never a write itself. Without background jobs (tests, one-off tools)
each row is written at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yipan.auth.domain import Principal
from yipan.auth.service.audit import WriteMade, record_writes
from yipan.kernel.clock import SystemClock
from yipan.kernel.db import unit_of_work

log = logging.getLogger(__name__)

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that audit themselves (with what a login or a user change needs, like failed attempts).
_SELF_AUDITED = ("/api/v1/auth/", "/console/login", "/console/logout")
# A flush writes at most this many rows in one statement; the rest wait for the next.
FLUSH_BATCH = 2000
# How often a server writes what it gathered: what a crash may lose is the last interval's rows.
FLUSH_EVERY_SECONDS = 1.0


class AuditTrail:
    """Writes waiting to be recorded, and the one place that records them."""

    def __init__(self, engine: Engine, *, gathered: bool) -> None:
        self.engine = engine
        self.gathered = gathered
        self._waiting: list[WriteMade] = []
        self._lock = threading.Lock()

    def add(self, write: WriteMade) -> None:
        with self._lock:
            self._waiting.append(write)

    def flush(self) -> int:
        """Record what is waiting; put it back if the database refuses, to try again later."""
        written = 0
        while True:
            with self._lock:
                batch, self._waiting = self._waiting[:FLUSH_BATCH], self._waiting[FLUSH_BATCH:]
            if not batch:
                return written
            try:
                with unit_of_work(self.engine) as session:
                    written += record_writes(session, batch)
            except Exception:
                with self._lock:
                    self._waiting[:0] = batch
                raise


def _caller(state: dict[str, Any]) -> Principal | None:
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else None


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else scope["path"]


class AuditMiddleware:
    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WRITES
            or scope["path"].startswith(_SELF_AUDITED)
        ):
            await self.app(scope, receive, send)
            return
        # The routes' dependencies put the caller here (request.state is this dict).
        state: dict[str, Any] = scope.setdefault("state", {})
        answered: dict[str, int] = {}

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            principal = _caller(state)
            if principal is not None:
                client = scope.get("client")
                self.trail.add(
                    WriteMade(
                        at=SystemClock().now(),
                        principal=principal,
                        action=f"{scope['method']} {_route_of(scope)}",
                        target=scope["path"],
                        status=answered.get("status", 500),
                        source_ip=client[0] if client else None,
                    )
                )
                if not self.trail.gathered:
                    await anyio.to_thread.run_sync(self.trail.flush)
