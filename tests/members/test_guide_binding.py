"""A member bound to the guide (导购) who serves them and that guide's store, over HTTP on both
backends: who may bind whom where, and what the 360 view and the outbox then say."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import api_key, bearer
from tests.members.test_points_stories import buy_at_the_till, new_member
from tests.orders import world
from yipan.auth.domain import Role
from yipan.events.service import recent_events
from yipan.kernel.db import unit_of_work


def bind(client: TestClient, member: str, body: dict[str, Any], key: dict[str, str]) -> Any:
    return client.put(f"/api/v1/members/{member}/guide", json=body, headers=key)


def bindings_recorded(engine: Engine) -> list[dict[str, Any]]:
    with unit_of_work(engine, readonly=True) as session:
        return [
            e["payload"]
            for e in recent_events(session, limit=100)
            if e["name"] == "members.GuideBound"
        ]


def test_a_store_manager_binds_a_customer_of_the_store_to_a_guide(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-31", "13800138031")
        buy_at_the_till(client, engine, "R-31", member)  # at ST-SH-1: the store sees them
        manager = bearer(
            api_key(engine, Role.STORE_MANAGER, scope_kind="store", scope_value="ST-SH-1")
        )
        body = {"guide": "G-SH1-07", "store": "ST-SH-1", "reason": "her regular guide"}

        bound = bind(client, member, body, manager)
        assert bound.status_code == 200, bound.text
        assert (bound.json()["guide"], bound.json()["store"]) == ("G-SH1-07", "ST-SH-1")
        profile = client.get(f"/api/v1/members/{member}/360", headers=manager).json()["profile"]
        assert (profile["guide"], profile["store"]) == ("G-SH1-07", "ST-SH-1")
        (recorded,) = bindings_recorded(engine)
        assert recorded == {
            "member": member,
            "guide": "G-SH1-07",
            "store": "ST-SH-1",
            "previous_guide": None,
            "previous_store": None,
            "actor": recorded["actor"],
            "reason": "her regular guide",
        }
        assert recorded["actor"].startswith("yk_")  # the manager's key
        assert bind(client, member, body, manager).status_code == 200
        assert len(bindings_recorded(engine)) == 1  # bound as she was: nothing happened

        elsewhere = bind(client, member, {"guide": "G-SH2-01", "store": "ST-SH-2"}, manager)
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "OUT_OF_SCOPE")
        guide = bearer(api_key(engine, Role.STORE_GUIDE, scope_kind="store", scope_value="ST-SH-1"))
        assert bind(client, member, body, guide).status_code == 403

        hq = bearer(api_key(engine))
        moved = bind(client, member, {"guide": "G-SH2-01", "store": "ST-SH-2"}, hq)
        assert moved.json()["store"] == "ST-SH-2"
        assert bindings_recorded(engine)[0]["previous_guide"] == "G-SH1-07"
        unbound = bind(client, member, {"guide": None, "store": None}, hq)
        assert (unbound.json()["guide"], unbound.json()["store"]) == (None, None)


def test_a_binding_to_no_store_a_warehouse_or_half_a_pair_is_refused(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-32", "13800138032")
        hq = bearer(api_key(engine))
        for body, status, code in (
            ({"guide": "G-1", "store": "WH-KS"}, 422, "INVALID_BINDING"),
            ({"guide": "G-1", "store": "ST-NOWHERE"}, 422, "INVALID_BINDING"),
            ({"guide": "G-1"}, 422, "VALIDATION_ERROR"),
        ):
            refused = bind(client, member, body, hq)
            assert (refused.status_code, refused.json()["code"]) == (status, code), body
        assert bindings_recorded(engine) == []
        assert client.post(f"/api/v1/members/{member}/erase", headers=hq).status_code == 200
        erased = bind(client, member, {"guide": "G-1", "store": "ST-SH-1"}, hq)
        assert (erased.status_code, erased.json()["code"]) == (409, "MEMBER_ERASED")
        unknown = bind(client, "M0999999999", {"guide": "G-1", "store": "ST-SH-1"}, hq)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_MEMBER")
