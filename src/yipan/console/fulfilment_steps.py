"""One fulfilment step taken from a console page (the order page's buttons, the store desk's
pickups), with the service's refusal turned into a notice in plain words."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yipan.console.notice import Notice
from yipan.kernel.errors import YipanError
from yipan.orders.domain.fulfilment import Action
from yipan.orders.errors import WrongPickupCode
from yipan.orders.schemas import ActionIn
from yipan.orders.service import lifecycle

TERMINAL = "console"
WRONG_CODE = "desk.wrong_code"
MAX_CODE_LENGTH = 32


def take_step(
    session: Session, fulfilment_id: int, action: Action, who: str, code: str = ""
) -> Notice | None:
    """None when done; else why not. Handing a pickup over needs the customer's code; a wrong
    one is refused with the attempts left, and the caller records it with `count_wrong_code` in
    a unit of work of its own (this one is rolled back with the refusal)."""
    if action == Action.HAND_OVER and not code.strip():
        return Notice("desk.code_missing", status=422)
    act = ActionIn(actor=who, terminal=TERMINAL, code=code.strip()[:MAX_CODE_LENGTH] or None)
    try:
        lifecycle.advance(session, fulfilment_id, action, act)
    except WrongPickupCode as wrong:
        values = {"message": wrong.message, "left": wrong.details.get("attempts_left", 0)}
        return Notice(WRONG_CODE, values, status=wrong.status)
    except YipanError as refused:
        return Notice("desk.refused", {"message": refused.message}, status=refused.status)
    return None


def count_wrong_code(session: Session, fulfilment_id: int, who: str) -> None:
    """A wrong code counts towards the pickup's lock: `MAX_CODE_ATTEMPTS` and no more."""
    lifecycle.record_wrong_code(session, fulfilment_id, ActionIn(actor=who, terminal=TERMINAL))
