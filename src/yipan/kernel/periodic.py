"""A job run every N seconds on a background thread (sweepers), stopped cleanly with the app."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicJob:
    def __init__(self, name: str, every_seconds: float, job: Callable[[], object]) -> None:
        self.name = name
        self.every_seconds = every_seconds
        self.job = job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"yipan-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                self.job()
            except Exception:  # keep sweeping; the next tick may find the database back
                log.exception("periodic job %s failed", self.name)
