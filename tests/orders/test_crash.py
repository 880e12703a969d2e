"""Nothing acknowledged is lost when the server is killed mid-traffic, and nothing is taken twice.

A real server runs in a subprocess on the test database while client threads place orders over
HTTP. Once enough orders are acknowledged the server gets SIGKILL — no shutdown, requests in
flight — and a new server is started on the same database. Then every acknowledged order must be
there as it was acknowledged, every request whose answer was lost is sent again and either lands
now (201) or turns out to have landed before the crash (200, the same order), and the stock books
balance.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from tests import factories
from tests.access import api_key, bearer
from tests.orders import world
from tests.orders.books import assert_books_balance, order_count
from tests.orders.world import JEANS, LUJIAZUI, PEOPLES_SQUARE, TEE, line, order
from tests.servers import running_server
from yipan.auth.domain import Role
from yipan.kernel.db import unit_of_work
from yipan.orders.models import Order

CLIENTS = 4
ACKED_BEFORE_KILL = 30
# Generous: the machine is small and shared; none of these is a timing assertion.
REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
ACKS_WITHIN = 120.0


def _body(client: int, i: int) -> dict[str, Any]:
    """Shipping, pickup, and both in one order; the lines of each kind always in one order."""
    external_id = f"CR-{client}-{i}"
    kind = i % 3
    if kind == 0:
        return order(external_id, [line(qty=1 + i % 2)], address=LUJIAZUI)
    if kind == 1:
        return order(
            external_id,
            [line(method="pickup", pickup_node="ST-SH-1")],
            channel="miniapp",
            customer={"member_id": f"M-{client}"},
        )
    return order(
        external_id,
        [line(), line(JEANS, price=39900, method="pickup", pickup_node="ST-SH-2")],
        channel="miniapp",
        address=PEOPLES_SQUARE,
        shipping_fen=800,
    )


@dataclass
class Traffic:
    """What the clients saw: acknowledged orders, requests whose answer never came, surprises."""

    acked: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    lost: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _client(base_url: str, key: str, n: int, traffic: Traffic) -> None:
    with httpx.Client(base_url=base_url, headers=bearer(key), timeout=REQUEST_TIMEOUT) as http:
        for i in itertools.count():
            if traffic.stop.is_set():
                return
            body = _body(n, i)
            try:
                response = http.post("/api/v1/orders", json=body)
            except httpx.TransportError:
                # The answer was lost (the kill cut the request off, or the server is gone):
                # remember the request for the replay, and stop sending.
                with traffic.lock:
                    traffic.lost.append(body)
                return
            with traffic.lock:
                if response.status_code == 201:
                    traffic.acked[body["external_id"]] = (body, response.json()["order"])
                    if len(traffic.acked) >= ACKED_BEFORE_KILL:
                        traffic.enough.set()
                else:
                    traffic.unexpected.append(
                        (body["external_id"], response.status_code, response.text[:500])
                    )


def _stock_up(engine: Engine) -> None:
    world.build(engine)
    for node in ("ST-SH-1", "ST-SH-2", "WH-KS"):
        factories.receive(engine, TEE, node, 1000)
    factories.receive(engine, JEANS, "ST-SH-2", 1000)


@pytest.mark.slow
def test_orders_acknowledged_before_a_kill_survive_and_lost_answers_replay_safely(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _stock_up(engine)
    traffic = Traffic()

    key = api_key(engine, Role.INTEGRATOR)
    with running_server(database_url, tmp_path / "first.log") as first:
        clients = [
            threading.Thread(target=_client, args=(first.base_url, key, n, traffic), daemon=True)
            for n in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        reached = traffic.enough.wait(timeout=ACKS_WITHIN)
        os.kill(first.process.pid, signal.SIGKILL)  # while the clients are still sending
        first.process.wait(timeout=30)
        traffic.stop.set()
        for c in clients:
            c.join(timeout=120)
        assert reached, f"only {len(traffic.acked)} orders acknowledged:\n{first.output()}"
        assert not any(c.is_alive() for c in clients)
    assert traffic.unexpected == [], "a client got an answer that was neither 201 nor lost"
    assert traffic.lost, "no request was cut off by the kill"
    acked = dict(traffic.acked)
    assert len(acked) >= ACKED_BEFORE_KILL

    with (
        running_server(database_url, tmp_path / "second.log") as second,
        httpx.Client(
            base_url=second.base_url, headers=bearer(key), timeout=REQUEST_TIMEOUT
        ) as http,
    ):
        # Every acknowledged order is there, exactly as it was acknowledged.
        for external_id, (_body_sent, acknowledged) in acked.items():
            response = http.get(f"/api/v1/orders/{acknowledged['id']}")
            assert response.status_code == 200, (external_id, response.text)
            assert response.json() == acknowledged, external_id

        # The requests whose answers were lost: each lands now, or turns out to have landed.
        landed_before = landed_now = 0
        for body in traffic.lost:
            response = http.post("/api/v1/orders", json=body)
            assert response.status_code in (200, 201), (body["external_id"], response.text)
            placed = response.json()
            assert placed["created"] is (response.status_code == 201)
            assert placed["order"]["external_id"] == body["external_id"]
            if response.status_code == 200:
                landed_before += 1
            else:
                landed_now += 1
        assert landed_before + landed_now == len(traffic.lost)

        # An acknowledged order sent again is the same order, not a second one.
        for body, acknowledged in list(acked.values())[:10]:
            response = http.post("/api/v1/orders", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["order"]["id"] == acknowledged["id"]

    sent = set(acked) | {body["external_id"] for body in traffic.lost}
    assert order_count(engine) == len(sent)  # one order per external id, none extra
    with unit_of_work(engine, readonly=True) as session:
        stored = dict(session.execute(select(Order.external_id, Order.id)).all())
    assert set(stored) == sent
    assert {ext: stored[ext] for ext in acked} == {ext: o["id"] for ext, (_, o) in acked.items()}
    assert_books_balance(engine)
