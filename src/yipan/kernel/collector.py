"""CPython's cyclic garbage collector: paused around bulk work, kept off what a server starts with.

A bulk step (a chunk of an import, the demo build) keeps what it allocates until it writes it, and
forms no reference cycles worth finding. Each collection meanwhile would only walk those objects
again, and everything else the process holds: on an import of a million member records that cost
more than the rest of the validation together. What is allocated while paused is collected once
the collector is back on.

A serving process holds a few hundred thousand objects from its start until it stops (modules,
the app's routes and models, the ORM's mappings). Every full collection walked all of them: under
a steady load of orders a worker made one every few seconds, each a pause of its requests, and
they doubled the orders' p99. Frozen after start, they are no longer walked.
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


def freeze_startup_objects() -> None:
    """Collect what starting left behind, then keep everything still alive out of later
    collections; `thaw_startup_objects` gives it back (a stopping app, tests)."""
    gc.collect()
    gc.freeze()


def thaw_startup_objects() -> None:
    gc.unfreeze()
