from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound


class UnknownChannel(NotFound):
    code = "UNKNOWN_CHANNEL"


class ChannelInactive(Conflict):
    code = "CHANNEL_INACTIVE"


class InvalidChannel(InvalidInput):
    code = "INVALID_CHANNEL"
