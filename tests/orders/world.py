"""A small Shanghai–Beijing network, channels and SKUs that the order stories run on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests import factories
from tests.access import sign_in
from yipan.app import create_app
from yipan.channels import service as channels
from yipan.channels.schemas import ChannelIn
from yipan.events.models import OutboxEvent
from yipan.inventory.models import Reservation
from yipan.inventory.service import ledger
from yipan.kernel.db import unit_of_work
from yipan.orders.models import Order

PEOPLES_SQUARE = {
    "line": "人民大道 200 号",
    "city": "上海",
    "latitude": 31.2304,
    "longitude": 121.4737,
}
LUJIAZUI = {
    "line": "陆家嘴环路 1000 号",
    "city": "上海",
    "latitude": 31.2397,
    "longitude": 121.4998,
}
BEIJING = {"line": "王府井大街 1 号", "city": "北京", "latitude": 39.9139, "longitude": 116.4109}
SUZHOU = {"line": "观前街 1 号", "city": "苏州", "latitude": 31.3110, "longitude": 120.6190}

TEE, JEANS = "TEE-WHT-M", "JEANS-32"


def build(engine: Engine) -> None:
    factories.sku(engine, TEE, list_price_fen=9900)
    factories.sku(engine, JEANS, list_price_fen=39900)
    # People's Square: picks up, delivers within 3 km, ships.
    factories.node(
        engine,
        "ST-SH-1",
        lat=31.2320,
        lon=121.4750,
        can_ship=True,
        can_local_delivery=True,
        local_delivery_radius_km=3,
    )
    # Lujiazui, 3 km east: picks up and ships; no local delivery.
    factories.node(engine, "ST-SH-2", lat=31.2380, lon=121.5000, can_ship=True)
    # A store that offers no pickup counter.
    factories.node(engine, "ST-SH-3", lat=31.2000, lon=121.4400, can_pickup=False)
    factories.node(engine, "WH-KS", type="warehouse", lat=31.3800, lon=120.9800)
    factories.node(engine, "WH-BJ", type="warehouse", lat=39.9000, lon=116.4000, province="北京市")
    for node, tee, jeans in [
        ("ST-SH-1", 5, 2),
        ("ST-SH-2", 5, 0),
        ("ST-SH-3", 5, 5),
        ("WH-KS", 100, 50),
        ("WH-BJ", 100, 50),
    ]:
        factories.receive(engine, TEE, node, tee)
        if jeans:
            factories.receive(engine, JEANS, node, jeans)
    with unit_of_work(engine) as session:
        for code, type in [
            ("tmall", "marketplace"),
            ("miniapp", "mini_program"),
            ("pos", "pos"),
            ("guide", "guide"),
        ]:
            channels.save_channel(session, ChannelIn(code=code, name=code, type=type))


@contextmanager
def client(engine: Engine) -> Iterator[TestClient]:
    build(engine)
    with TestClient(create_app(engine, background=False)) as c:
        yield sign_in(c)


def line(sku: str = TEE, qty: int = 1, price: int = 9900, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": qty, "unit_price_fen": price, **extra}


def order(
    external_id: str,
    lines: list[dict[str, Any]],
    *,
    channel: str = "tmall",
    address: dict[str, Any] | None = None,
    shipping_fen: int = 0,
    order_discount_fen: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    goods = sum(
        ln["unit_price_fen"] * ln["quantity"] - ln.get("line_discount_fen", 0) for ln in lines
    )
    body: dict[str, Any] = {
        "channel": channel,
        "external_id": external_id,
        "lines": lines,
        "shipping_fen": shipping_fen,
        "order_discount_fen": order_discount_fen,
        "total_fen": goods - order_discount_fen + shipping_fen,
        **extra,
    }
    if address is not None:
        body["address"] = address
    return body


def stock(engine: Engine, sku: str, node: str) -> tuple[int, int]:
    """(on_hand, reserved)."""
    with unit_of_work(engine, readonly=True) as session:
        level = ledger.stock_level(session, sku=sku, node=node)
    return level.on_hand, level.reserved


def footprint(engine: Engine) -> tuple[int, int, int]:
    """How many orders, reservations and outbox events exist: a refused request changes none."""
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(select(func.count()).select_from(Order)) or 0,
            session.scalar(select(func.count()).select_from(Reservation)) or 0,
            session.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
        )
