"""Errors of the demo build."""

from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput


class DemoDataConflict(Conflict):
    """Demo nodes are there but not the marker of a finished build (or the other way round)."""

    code = "DEMO_DATA_CONFLICT"


class InvalidDemoScale(InvalidInput):
    code = "INVALID_DEMO_SCALE"
