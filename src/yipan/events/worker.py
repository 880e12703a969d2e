"""A background thread that drains the outbox: woken after each commit, and by a poll for retries."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from yipan.events.service import Relay, deliver_pending
from yipan.kernel.db import on_commit, remove_commit_listener

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(
        self,
        engine: Engine,
        relay: Relay,
        *,
        poll_seconds: float = 1.0,
        gather_seconds: float = 0.0,
        max_attempts: int = 8,
    ) -> None:
        self.engine = engine
        self.relay = relay
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.max_attempts = max_attempts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        on_commit(self.engine, self._wake.set)
        self._thread = threading.Thread(target=self._run, name="yipan-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        remove_commit_listener(self.engine, self._wake.set)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                deliver_pending(self.engine, self.relay, max_attempts=self.max_attempts)
            except Exception:  # the database may be briefly away; try again on the next tick
                log.exception("outbox delivery failed")
            if self._wake.wait(self.poll_seconds) and self.gather_seconds:
                # Under load commits come hundreds a second; waiting a moment after the first
                # lets the events of the next ones go out in the same transaction.
                self._stop.wait(self.gather_seconds)
