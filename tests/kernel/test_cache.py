"""Reference data kept per process: a change through this process shows at once, another
process's change once the copy runs out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from yipan.channels import service as channels
from yipan.channels.errors import ChannelInactive
from yipan.channels.schemas import ChannelIn
from yipan.inventory.schemas import ChannelBufferIn
from yipan.inventory.service import nodes
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work

TMALL = ChannelIn(code="tmall", name="天猫旗舰店", type="marketplace")


@pytest.fixture
def refresh_seconds(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(get_settings(), "reference_refresh_seconds", 3600.0)
    return monkeypatch


def active(engine: Engine) -> bool:
    with unit_of_work(engine, readonly=True) as session:
        try:
            channels.active_channel(session, "tmall")
        except ChannelInactive:
            return False
        return True


def change_behind_our_back(engine: Engine, statement: str) -> None:
    """What another process's write looks like to this one: the rows change, no forget()."""
    with engine.begin() as conn:
        conn.execute(text(statement))


def test_a_change_made_elsewhere_shows_when_the_copy_runs_out(
    engine: Engine, refresh_seconds: pytest.MonkeyPatch
) -> None:
    with unit_of_work(engine) as session:
        channels.save_channel(session, TMALL)
    assert active(engine)
    change_behind_our_back(engine, "UPDATE channels_channels SET active = false")
    assert active(engine), "the copy is still fresh"
    refresh_seconds.setattr(get_settings(), "reference_refresh_seconds", 0.0)
    assert not active(engine)


def test_a_change_made_through_this_process_shows_at_once(
    engine: Engine, refresh_seconds: pytest.MonkeyPatch
) -> None:
    with unit_of_work(engine) as session:
        channels.save_channel(session, TMALL)
    assert active(engine)
    with unit_of_work(engine) as session:
        channels.save_channel(session, TMALL.model_copy(update={"active": False}))
        # The transaction that changes the channel sees its own change too.
        with pytest.raises(ChannelInactive):
            channels.active_channel(session, "tmall")
    assert not active(engine)


def test_a_buffer_set_through_this_process_applies_at_once(
    engine: Engine, refresh_seconds: pytest.MonkeyPatch
) -> None:
    with unit_of_work(engine, readonly=True) as session:
        assert nodes.buffer_rules(session, "tmall") == {}
    with unit_of_work(engine) as session:
        nodes.set_channel_buffer(
            session, ChannelBufferIn(channel="tmall", node_type="store", mode="units", value=2)
        )
    with unit_of_work(engine, readonly=True) as session:
        assert set(nodes.buffer_rules(session, "tmall")) == {"store"}
