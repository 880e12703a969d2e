"""Events the channels context records in the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ChannelSaved(DomainEvent):
    name: ClassVar[str] = "channels.ChannelSaved"
    aggregate: ClassVar[str] = "channel"
    channel: str
    type: str
    active: bool
    created: bool

    def aggregate_id(self) -> str:
        return self.channel
