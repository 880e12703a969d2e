"""CPython's cyclic garbage collector paused around bulk work.

A bulk step (a chunk of an import, the demo build) keeps what it allocates until it writes it, and
forms no reference cycles worth finding. Each collection meanwhile would only walk those objects
again, and everything else the process holds: on an import of a million member records that cost
more than the rest of the validation together. What is allocated while paused is collected once
the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block; back on after it only if it was on before (so blocks nest)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
