from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from yipan.channels.domain import DEFAULT_RETURN_WINDOW_DAYS, ChannelType
from yipan.inventory.domain import NodeType
from yipan.kernel.fields import Number

Weight = Annotated[Number, Field(ge=0, le=1_000_000)]


class RoutingRules(BaseModel):
    """How orders from this channel are routed; a field left out keeps the platform default.

    The cost of a plan is distance × `distance_weight` + each node type's handling cost + a
    `split_penalty` per extra shipment + `capacity_weight` / shipments left today + a stock-health
    term weighted by `stock_health_weight` (nodes near their reorder point cost more).
    """

    model_config = ConfigDict(extra="forbid")

    distance_weight: Weight | None = None
    handling_cost: dict[NodeType, Weight] | None = Field(
        default=None, description='Cost of one shipment per node type, e.g. {"store": 8}'
    )
    split_penalty: Weight | None = None
    capacity_weight: Weight | None = None
    stock_health_weight: Weight | None = None
    max_distance_km: Annotated[Number, Field(gt=0, le=10_000)] | None = Field(
        default=None, description="Never ship from a node farther than this from the customer"
    )
    excluded_node_types: list[NodeType] = Field(default_factory=list, max_length=4)
    allow_split: StrictBool | None = None
    local_promise_hours: Annotated[Number, Field(gt=0, le=48)] | None = None
    group_leader_radius_km: Annotated[Number, Field(gt=0, le=100)] | None = None


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9._\-]*$")
    name: str = Field(min_length=1, max_length=200)
    type: ChannelType
    active: StrictBool = True
    return_window_days: StrictInt = Field(default=DEFAULT_RETURN_WINDOW_DAYS, ge=0, le=365)
    routing: RoutingRules = Field(default_factory=RoutingRules)


class ChannelOut(ChannelIn):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    updated_at: datetime
