"""Small builders for test data, going through the real services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from yipan.catalog import service as catalog
from yipan.catalog.schemas import SkuIn
from yipan.inventory.schemas import MovementIn, NodeIn
from yipan.inventory.service import movements, nodes
from yipan.kernel.db import unit_of_work


def sku(engine: Engine, code: str = "SKU-1", **overrides: Any) -> str:
    data: dict[str, Any] = {
        "code": code,
        "name": f"Item {code}",
        "product_code": f"P-{code}",
        "category_code": "apparel",
        "list_price_fen": 19900,
    }
    data.update(overrides)
    with unit_of_work(engine) as session:
        catalog.upsert_sku(session, SkuIn(**data))
    return code


def node(
    engine: Engine,
    code: str = "ST-1",
    *,
    type: str = "store",
    lat: float = 31.23,
    lon: float = 121.47,
    province: str = "上海市",
    city: str = "上海市",
    **overrides: Any,
) -> str:
    data: dict[str, Any] = {
        "code": code,
        "name": f"Node {code}",
        "type": type,
        "province": province,
        "city": city,
        "latitude": lat,
        "longitude": lon,
        "can_ship": type != "store",
        "can_pickup": type == "store",
        "can_receive_returns": True,
        "daily_capacity": 500,
    }
    data.update(overrides)
    with unit_of_work(engine) as session:
        nodes.save_node(session, NodeIn(**data))
    return code


def receive(engine: Engine, sku_code: str, node_code: str, quantity: int) -> None:
    with unit_of_work(engine) as session:
        movements.record_movement(
            session,
            MovementIn(sku=sku_code, node=node_code, kind="receipt", quantity=quantity),
        )
