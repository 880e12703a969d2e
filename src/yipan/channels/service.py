"""The channel registry: register, change and look up the channels orders come from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.channels.errors import ChannelInactive, UnknownChannel
from yipan.channels.events import ChannelSaved
from yipan.channels.models import Channel
from yipan.channels.schemas import ChannelIn, ChannelOut
from yipan.events import service as events
from yipan.kernel.cache import ReferenceCache
from yipan.kernel.clock import Clock, SystemClock


def save_channel(
    session: Session, channel_in: ChannelIn, *, clock: Clock | None = None
) -> ChannelOut:
    """Register a channel or change it in place; sending the same body twice changes nothing."""
    now = (clock or SystemClock()).now()
    _channels.forget(session)
    channel = session.scalar(select(Channel).where(Channel.code == channel_in.code))
    created = channel is None
    wanted = channel_in.model_dump(mode="json")
    if channel is None:
        channel = Channel(created_at=now, updated_at=now, **wanted)
        session.add(channel)
    elif any(getattr(channel, field) != value for field, value in wanted.items()):
        for field, value in wanted.items():
            setattr(channel, field, value)
        channel.updated_at = now
    else:
        return ChannelOut.model_validate(channel)
    session.flush()
    events.record(
        session,
        ChannelSaved(
            channel=channel.code, type=channel.type, active=channel.active, created=created
        ),
        clock=clock,
    )
    return ChannelOut.model_validate(channel)


# Every order reads its channel; channels change seldom.
_channels: ReferenceCache[ChannelOut] = ReferenceCache()


def get_channel(session: Session, code: str) -> ChannelOut:
    def load() -> ChannelOut:
        channel = session.scalar(select(Channel).where(Channel.code == code))
        if channel is None:
            raise UnknownChannel(f"no channel with code {code}", code=code)
        return ChannelOut.model_validate(channel)

    return _channels.get(session, code, load)


def active_channel(session: Session, code: str) -> ChannelOut:
    """The channel an order arrives through: it must exist and be active."""
    channel = get_channel(session, code)
    if not channel.active:
        raise ChannelInactive(f"channel {code} is not active", code=code)
    return channel


def list_channels(
    session: Session, *, type: str | None = None, active: bool | None = None
) -> list[ChannelOut]:
    stmt = select(Channel).order_by(Channel.code)
    if type:
        stmt = stmt.where(Channel.type == type)
    if active is not None:
        stmt = stmt.where(Channel.active == active)
    return [ChannelOut.model_validate(c) for c in session.scalars(stmt)]
