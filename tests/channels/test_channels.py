from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import sign_in
from yipan.app import create_app
from yipan.channels import service
from yipan.channels.domain import ChannelType, sells_over_the_counter
from yipan.channels.errors import ChannelInactive, UnknownChannel
from yipan.channels.schemas import ChannelIn
from yipan.events.service import recent_events
from yipan.kernel.db import unit_of_work

TMALL = {"code": "tmall", "name": "天猫旗舰店", "type": "marketplace", "return_window_days": 7}


def saved_events(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return len(recent_events(session, aggregate_type="channel"))


def test_a_channel_is_registered_changed_and_replayed_harmlessly(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        service.save_channel(session, ChannelIn(**TMALL))
    with unit_of_work(engine) as session:
        service.save_channel(session, ChannelIn(**TMALL))  # the same body: nothing changes
    assert saved_events(engine) == 1
    with unit_of_work(engine) as session:
        changed = service.save_channel(session, ChannelIn(**{**TMALL, "active": False}))
    assert not changed.active
    assert saved_events(engine) == 2
    with unit_of_work(engine, readonly=True) as session, pytest.raises(ChannelInactive):
        service.active_channel(session, "tmall")
    with unit_of_work(engine, readonly=True) as session, pytest.raises(UnknownChannel):
        service.get_channel(session, "jd")


def test_the_channel_api(engine: Engine) -> None:
    with TestClient(create_app(engine, background=False)) as client:
        sign_in(client)
        assert client.put("/api/v1/channels/tmall", json=TMALL).status_code == 200
        pos = {"code": "pos", "name": "门店收银", "type": "pos"}
        assert client.put("/api/v1/channels/pos", json=pos).json()["return_window_days"] == 7
        assert [c["code"] for c in client.get("/api/v1/channels").json()] == ["pos", "tmall"]
        assert [c["code"] for c in client.get("/api/v1/channels?type=pos").json()] == ["pos"]
        assert client.get("/api/v1/channels/jd").json()["code"] == "UNKNOWN_CHANNEL"
        wrong = client.put("/api/v1/channels/jd", json=TMALL)
        assert (wrong.status_code, wrong.json()["code"]) == (422, "INVALID_CHANNEL")
        bad_type = client.put("/api/v1/channels/x", json={**TMALL, "code": "x", "type": "fax"})
        assert (bad_type.status_code, bad_type.json()["code"]) == (422, "VALIDATION_ERROR")
        too_long = client.put("/api/v1/channels/tmall", json={**TMALL, "return_window_days": 400})
        assert too_long.status_code == 422


def test_only_the_till_sells_over_the_counter() -> None:
    assert [t for t in ChannelType if sells_over_the_counter(t)] == [ChannelType.POS]
