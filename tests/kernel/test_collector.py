"""collector_paused: off inside, and afterwards exactly as it was — even when the block fails."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from yipan.kernel.collector import collector_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was_on = gc.isenabled()
    yield
    if was_on:
        gc.enable()
    else:
        gc.disable()


def fail_while_paused() -> None:
    with collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the import failed")


def test_paused_inside_and_back_on_after_a_failure() -> None:
    gc.enable()
    with pytest.raises(RuntimeError, match="import failed"):
        fail_while_paused()
    assert gc.isenabled()


def test_a_nested_pause_leaves_the_outer_one_in_force() -> None:
    gc.enable()
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
