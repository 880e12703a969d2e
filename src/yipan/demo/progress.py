"""How far the demo build is: the phases it reports, and a reporter for callers that want none."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where the build reports how far it is (the CLI draws a Rich bar per phase)."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class Silent:
    """Reports nothing (tests, benchmarks)."""

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass
