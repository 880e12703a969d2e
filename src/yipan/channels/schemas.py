from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from yipan.channels.domain import DEFAULT_RETURN_WINDOW_DAYS, ChannelType


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9._\-]*$")
    name: str = Field(min_length=1, max_length=200)
    type: ChannelType
    active: StrictBool = True
    return_window_days: StrictInt = Field(default=DEFAULT_RETURN_WINDOW_DAYS, ge=0, le=365)


class ChannelOut(ChannelIn):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    updated_at: datetime
