from __future__ import annotations

from fastapi import APIRouter

from yipan.auth.api import allowed
from yipan.channels import service
from yipan.channels.domain import ChannelType
from yipan.channels.errors import InvalidChannel
from yipan.channels.schemas import ChannelIn, ChannelOut
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], responses=ERROR_RESPONSES)


@router.get("", dependencies=allowed("channels.read"))
def list_channels(
    engine: EngineDep, type: ChannelType | None = None, active: bool | None = None
) -> list[ChannelOut]:
    with unit_of_work(engine, readonly=True) as session:
        return service.list_channels(session, type=type, active=active)


@router.get("/{code}", dependencies=allowed("channels.read"))
def get_channel(code: str, engine: EngineDep) -> ChannelOut:
    with unit_of_work(engine, readonly=True) as session:
        return service.get_channel(session, code)


@router.put("/{code}", dependencies=allowed("channels.manage"))
def put_channel(code: str, channel_in: ChannelIn, engine: EngineDep) -> ChannelOut:
    """Register a sales channel or change it; sending the same body twice changes nothing."""
    if channel_in.code != code:
        raise InvalidChannel(f"body code {channel_in.code} does not match path {code}", code=code)
    with unit_of_work(engine) as session:
        return service.save_channel(session, channel_in)
