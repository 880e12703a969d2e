"""What a data scope sees: the one rule the API routes and the console pages share.

HQ (scope `all`) sees everything. A region manager sees the nodes of their province, a store's
staff their store. Orders and members are not owned by a node in the data model, so visibility
is derived: an order is seen through the store it was sold at or a node that fulfils it; a member
through the store they are bound to, or an order of theirs that the scope sees (under any id
merged into them). Something outside the scope answers exactly as something unknown (404), so
neither the API nor a page can be used to learn what another store holds.

It lives beside `wiring.py`, above the contexts, because the answer needs three of them (the
node register of inventory, the orders, the members); each context's own services stay free of
the others' scope questions.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.inventory.service import nodes
from yipan.members.errors import UnknownMember
from yipan.members.schemas import Member360
from yipan.members.service import profile
from yipan.orders.errors import UnknownFulfilment, UnknownOrder, UnknownReturn
from yipan.orders.schemas import OrderOut
from yipan.orders.service import queries as orders


def visible_nodes(session: Session, scope: Scope) -> list[str] | None:
    """The node codes `scope` covers; None for the whole chain."""
    return nodes.codes_in_scope(session, scope)


def covers_node(session: Session, scope: Scope, node: str | None) -> bool:
    """Whether `scope` covers one node; no node at all is covered only by the whole chain."""
    visible = visible_nodes(session, scope)
    return visible is None or (node is not None and node in visible)


def sees_order(order: OrderOut, visible: list[str] | frozenset[str] | None) -> bool:
    """An order is seen through the store that sold it or any node that fulfils it."""
    if visible is None:
        return True
    codes = set(visible)
    return order.store in codes or any(f.node in codes for f in order.fulfilments)


def member_ids_of(view: Member360) -> list[str]:
    """Every id the member has had: its own and those merged into it and not split off since."""
    absorbed = [m.absorbed for m in view.merges if m.absorbed is not None and m.undone_at is None]
    return sorted({view.profile.id, *absorbed})


def sees_member(
    session: Session, view: Member360, visible: list[str] | frozenset[str] | None
) -> bool:
    """A member bound to one of the scope's stores, or with an order sold or fulfilled at one of
    its nodes (under any of the member's ids)."""
    if visible is None:
        return True
    if view.profile.store is not None and view.profile.store in visible:
        return True
    codes = list(visible)
    return any(
        orders.count_orders(session, orders.OrderQuery(member_id=member_id, visible_at=codes)) > 0
        for member_id in member_ids_of(view)
    )


# --- the checks routes make: reads outside the scope are unknown, writes are refused -----------


def check_node(session: Session, scope: Scope, node: str | None, doing: str) -> None:
    """Refuse (403) a write at a node the scope does not cover, e.g. a POS receipt of another
    store sent with one store's till key."""
    nodes.check_in_scope(session, scope, node, doing)


def check_order(session: Session, scope: Scope, order_id: int) -> None:
    """UnknownOrder (404) for an order the scope does not see, as for a missing one."""
    if scope.kind == "all":
        return
    if not sees_order(orders.get_order(session, order_id), visible_nodes(session, scope)):
        raise UnknownOrder(f"no order {order_id}", order_id=order_id)


def check_fulfilment(session: Session, scope: Scope, fulfilment_id: int) -> None:
    """A fulfilment is seen by the scope of the node doing it."""
    if scope.kind == "all":
        return
    if not covers_node(session, scope, orders.get_fulfilment(session, fulfilment_id).node):
        raise UnknownFulfilment(f"no fulfilment {fulfilment_id}", fulfilment_id=fulfilment_id)


def check_return(session: Session, scope: Scope, return_id: int) -> None:
    """A return is seen by the node that took the goods back, and by whoever sees its order."""
    if scope.kind == "all":
        return
    ret = orders.get_return(session, return_id)
    visible = visible_nodes(session, scope)
    if ret.node in (visible or ()):
        return
    if not sees_order(orders.get_order(session, ret.order_id), visible):
        raise UnknownReturn(f"no return {return_id}", return_id=return_id)


def check_member(session: Session, scope: Scope, member_id: str) -> None:
    """UnknownMember (404) for a member the scope does not see, as for a missing one."""
    if scope.kind == "all":
        return
    if not sees_member(
        session, profile.member_360(session, member_id), visible_nodes(session, scope)
    ):
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
