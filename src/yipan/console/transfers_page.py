"""The transfers pages' view models: the list of transfers (filtered by state and node, paged,
limited to the user's data scope), one transfer with what may be done to it, the form that
requests a new one with the best source suggested, and the steps ship, receive and cancel.

Read and written through the inventory and catalogue services only (`transfers`, `atp`,
`ledger`, `nodes`, `get_sku`). Who may act: roles with `inventory.transfer`, and within their
scope: a transfer is requested by someone who sees its source or its destination, shipped by
someone who sees its source, received by someone who sees its destination (the destination's
staff, its region's manager, or HQ), cancelled by someone who sees either end. A transfer
outside the scope answers as an unknown one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal, Scope
from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE
from yipan.insights.domain.rebalance import Move, Rules
from yipan.insights.service import transfer_plans
from yipan.inventory.domain import (
    IllegalTransition,
    TransferStatus,
    alert_threshold,
    haversine_km,
    surplus,
)
from yipan.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    NodeInactive,
    UnknownNode,
    UnknownTransfer,
)
from yipan.inventory.schemas import (
    MAX_QUANTITY,
    NodeOut,
    ReceiveIn,
    ReceiveLineIn,
    TransferIn,
    TransferLineIn,
    TransferOut,
)
from yipan.inventory.service import atp, ledger, nodes, transfers
from yipan.kernel.errors import IdempotencyConflict, YipanError

TRANSFER_PERMISSION = "inventory.transfer"
READ_PERMISSION = "inventory.read"
STATES = tuple(s.value for s in TransferStatus)
MAX_CODE_LENGTH = 64
MAX_REASON_LENGTH = 200  # as the service's TransferIn.reason
SOURCES_SHOWN = 5
_KEY = re.compile(r"TRC-[0-9A-F]{10}")


def new_key() -> str:
    """A transfer code for one rendering of the form: sending the form twice requests once."""
    return f"TRC-{secrets.token_hex(5).upper()}"


def _sees(covered: frozenset[str] | None, node: str) -> bool:
    return covered is None or node in covered


def covered_nodes(session: Session, scope: Scope) -> frozenset[str] | None:
    """The node codes the scope covers; None for the whole chain."""
    codes = nodes.codes_in_scope(session, scope)
    return None if codes is None else frozenset(codes)


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferList:
    state: str = ""
    node: str = ""
    page: int = 1
    rows: list[TransferOut] = field(default_factory=list)
    has_next: bool = False
    notice: Notice | None = None

    def link(self, page: int) -> list[tuple[str, str]]:
        pairs = [("state", self.state), ("node", self.node), ("page", str(page))]
        return [(k, v) for k, v in pairs if v]


def _unknown_node(code: str) -> Notice:
    return Notice("transfers.unknown_node", {"node": code[:MAX_CODE_LENGTH]}, status=404)


def list_page(session: Session, scope: Scope, state: str, node: str, page: int) -> TransferList:
    """One page of transfers in or out of the scope's nodes, newest first."""
    state, node = state.strip(), node.strip()
    asked = TransferList(state=state, node=node, page=page)
    if state and state not in STATES:
        return _with(asked, Notice("transfers.bad_state", {"state": state[:20]}, status=422))
    covered = covered_nodes(session, scope)
    if node:
        try:
            nodes.get_node(session, node)
        except UnknownNode:
            return _with(asked, _unknown_node(node))
        if not _sees(covered, node):
            return _with(asked, Notice("transfers.node_not_yours", {"node": node}, status=403))
    offset = (page - 1) * PAGE_SIZE
    wanted = PAGE_SIZE + 1  # one more tells whether there is a next page
    status = state or None
    if node or covered is None:
        found = transfers.list_transfers(
            session, status=status, node=node or None, offset=offset, limit=wanted
        )
    else:
        found = _merged(session, covered, status, offset + wanted)[offset:]
    if page > 1 and not found:
        return _with(asked, Notice("transfers.page_past_end", {"page": page}, status=404))
    return TransferList(
        state=state, node=node, page=page, rows=found[:PAGE_SIZE], has_next=len(found) > PAGE_SIZE
    )


def _merged(
    session: Session, covered: frozenset[str], status: str | None, limit: int
) -> list[TransferOut]:
    """Transfers touching any of `covered`, newest first: the service filters by one node, so a
    region's list is the merge of its nodes' lists (a transfer inside the region appears in two)."""
    seen: dict[str, TransferOut] = {}
    for code in sorted(covered):
        for t in transfers.list_transfers(session, status=status, node=code, limit=limit):
            seen.setdefault(t.code, t)
    merged = sorted(seen.values(), key=lambda t: (t.created_at, t.code), reverse=True)
    return merged[:limit]


def _with(asked: TransferList, notice: Notice) -> TransferList:
    return TransferList(state=asked.state, node=asked.node, page=asked.page, notice=notice)


# --- one transfer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferView:
    asked: str
    transfer: TransferOut | None = None
    notice: Notice | None = None
    may_ship: bool = False
    may_receive: bool = False
    may_cancel: bool = False


def _unknown_transfer(code: str) -> Notice:
    return Notice("transfers.unknown", {"code": code[:MAX_CODE_LENGTH]}, status=404)


def transfer_view(
    session: Session, principal: Principal, code: str, *, notice: Notice | None = None
) -> TransferView:
    """One transfer the user's scope touches, with the steps they may take now."""
    asked = code.strip()
    if not asked or len(asked) > MAX_CODE_LENGTH:
        return TransferView(asked=asked[:MAX_CODE_LENGTH], notice=_unknown_transfer(asked))
    try:
        found = transfers.get_transfer(session, asked)
    except UnknownTransfer:
        return TransferView(asked=asked, notice=_unknown_transfer(asked))
    covered = covered_nodes(session, principal.scope)
    sees_source = _sees(covered, found.source)
    sees_destination = _sees(covered, found.destination)
    if not (sees_source or sees_destination):
        return TransferView(asked=asked, notice=_unknown_transfer(asked))
    writes = principal.may(TRANSFER_PERMISSION)
    status = found.status
    return TransferView(
        asked=asked,
        transfer=found,
        notice=notice,
        may_ship=writes and sees_source and status == TransferStatus.REQUESTED.value,
        may_receive=writes and sees_destination and status == TransferStatus.SHIPPED.value,
        may_cancel=writes and status == TransferStatus.REQUESTED.value,
    )


def _refused(refused: YipanError) -> Notice:
    if isinstance(refused, InsufficientStock):
        values = {
            "sku": refused.details.get("sku", ""),
            "node": refused.details.get("node", ""),
            "n": refused.details.get("available", 0),
            "asked": refused.details.get("requested", 0),
        }
        return Notice("transfers.insufficient", values, status=refused.status)
    if isinstance(refused, NodeInactive):
        return Notice("transfers.node_inactive", {"node": refused.details.get("node", "")}, 409)
    if isinstance(refused, IdempotencyConflict):
        return Notice("transfers.form_used", {"code": refused.details.get("code", "")}, 409)
    if isinstance(refused, InvalidQuantity):
        return Notice("transfers.too_many_counted", {"message": refused.message}, 422)
    return Notice("transfers.refused", {"message": refused.message}, status=refused.status)


def ship(session: Session, view: TransferView) -> TransferOut | Notice:
    """Ship a transfer the user may ship; shipping one already shipped counts as done (two
    clerks pressing the button at once, or a double tap)."""
    if view.transfer is None:
        return view.notice or _unknown_transfer(view.asked)
    if not view.may_ship:
        if view.transfer.status == TransferStatus.SHIPPED.value:
            return view.transfer
        return _not_now(view.transfer, "ship")
    try:
        return transfers.ship_transfer(session, view.transfer.code)
    except IllegalTransition as moved:
        if moved.details.get("status") == TransferStatus.SHIPPED.value:
            return transfers.get_transfer(session, view.transfer.code)
        return _refused(moved)
    except YipanError as refused:
        return _refused(refused)


def _not_now(transfer: TransferOut, step: str) -> Notice:
    values = {"code": transfer.code, "status": transfer.status}
    return Notice(f"transfers.may_not_{step}", values, status=403)


def _count(raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return 0
    if not text.isdecimal() or len(text) > len(str(MAX_QUANTITY)):
        return None
    number = int(text)
    return number if number <= MAX_QUANTITY else None


def receive(
    session: Session,
    view: TransferView,
    skus: Sequence[str],
    received: Sequence[str],
    damaged: Sequence[str],
) -> TransferOut | Notice:
    """Receive what arrived, per SKU (received and damaged); nothing counted means everything
    shipped arrived sound. Receiving one already received counts as done."""
    if view.transfer is None:
        return view.notice or _unknown_transfer(view.asked)
    if not view.may_receive:
        if view.transfer.status == TransferStatus.RECEIVED.value:
            return view.transfer
        return _not_now(view.transfer, "receive")
    if not (len(skus) == len(received) == len(damaged)):
        return Notice("transfers.form_expired", status=403)
    lines: list[ReceiveLineIn] = []
    for sku, raw_received, raw_damaged in zip(skus, received, damaged, strict=True):
        good, broken = _count(raw_received), _count(raw_damaged)
        if good is None or broken is None:
            return Notice("transfers.bad_count", {"sku": sku[:MAX_CODE_LENGTH]}, status=422)
        try:
            lines.append(ReceiveLineIn(sku=sku, received=good, damaged=broken))
        except ValidationError:
            return Notice("transfers.bad_count", {"sku": sku[:MAX_CODE_LENGTH]}, status=422)
    try:
        return transfers.receive_transfer(
            session, view.transfer.code, ReceiveIn(lines=lines or None)
        )
    except IllegalTransition as moved:
        if moved.details.get("status") == TransferStatus.RECEIVED.value:
            return transfers.get_transfer(session, view.transfer.code)
        return _refused(moved)
    except YipanError as refused:
        return _refused(refused)


def cancel(session: Session, view: TransferView) -> TransferOut | Notice:
    if view.transfer is None:
        return view.notice or _unknown_transfer(view.asked)
    if not view.may_cancel:
        if view.transfer.status == TransferStatus.CANCELLED.value:
            return view.transfer
        return _not_now(view.transfer, "cancel")
    try:
        return transfers.cancel_transfer(session, view.transfer.code, reason="cancelled in console")
    except IllegalTransition as moved:
        if moved.details.get("status") == TransferStatus.CANCELLED.value:
            return transfers.get_transfer(session, view.transfer.code)
        return _refused(moved)
    except YipanError as refused:
        return _refused(refused)


# --- the form --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A node that could give units of the SKU and stay at its own reorder point."""

    node: str
    name: str
    type: str
    spare: int
    distance_km: float | None


@dataclass(frozen=True)
class TransferForm:
    sku: str = ""
    sku_name: str = ""
    source: str = ""
    destination: str = ""
    quantity: str = ""
    reason: str = ""
    idempotency_key: str = ""
    sources: list[Source] = field(default_factory=list)
    destination_atp: int | None = None
    destination_threshold: int | None = None
    notice: Notice | None = None

    @property
    def suggested(self) -> Source | None:
        return self.sources[0] if self.sources else None


def surplus_sources(session: Session, sku: str, destination: NodeOut | None) -> list[Source]:
    """Where the SKU could come from, best first: the most to spare (what a node holds beyond
    its own reorder point, as low-stock alerts count it), then the nearest. Drawing from the
    largest surplus leaves no other node short; the distance breaks ties and is shown."""
    pool = atp.atp_for_sku(session, sku)
    reorder = {level.node: level.reorder_point for level in ledger.levels_of_sku(session, sku)}
    where = {n.code: n for n in nodes.list_nodes(session, active=True)}
    found: list[Source] = []
    for held in pool.nodes:
        if destination is not None and held.node == destination.code:
            continue
        spare = surplus(held.atp, reorder.get(held.node, 0))
        node = where.get(held.node)
        if spare <= 0 or node is None:
            continue
        distance = None
        if destination is not None:
            distance = round(
                haversine_km(
                    destination.latitude, destination.longitude, node.latitude, node.longitude
                ),
                1,
            )
        found.append(Source(held.node, held.name, held.type, spare, distance))
    found.sort(key=lambda s: (-s.spare, s.distance_km or 0.0, s.node))
    return found[:SOURCES_SHOWN]


def transfer_form(
    session: Session,
    *,
    sku: str = "",
    source: str = "",
    destination: str = "",
    quantity: str = "",
    reason: str = "",
    notice: Notice | None = None,
) -> TransferForm:
    """The request form, filled in as far as the query allows: with a SKU and a destination
    (the stock page's "Transfer here"), the best source suggested and the quantity the
    destination lacks to reach its reorder point."""
    form = TransferForm(
        sku=sku.strip()[:MAX_CODE_LENGTH],
        source=source.strip()[:MAX_CODE_LENGTH],
        destination=destination.strip()[:MAX_CODE_LENGTH],
        quantity=quantity.strip()[:12],
        reason=reason.strip()[:MAX_REASON_LENGTH],
        idempotency_key=new_key(),
        notice=notice,
    )
    if not form.sku:
        return form
    try:
        found = catalog.get_sku(session, form.sku)
    except UnknownSku:
        return _form_with(form, notice or Notice("transfers.unknown_sku", {"sku": form.sku}, 404))
    dest: NodeOut | None = None
    if form.destination:
        try:
            dest = nodes.get_node(session, form.destination)
        except UnknownNode:
            return _form_with(form, notice or _unknown_node(form.destination))
    sources = surplus_sources(session, found.code, dest)
    form = replace(form, sku=found.code, sku_name=found.name, sources=sources)
    if dest is None:
        return form
    level = {lv.node: lv for lv in ledger.levels_of_sku(session, found.code)}.get(dest.code)
    dest_atp = level.atp if level else 0
    threshold = alert_threshold(level.reorder_point, level.safety_stock) if level else 0
    form = replace(form, destination_atp=dest_atp, destination_threshold=threshold)
    if not form.quantity:
        # What the destination lacks to reach its threshold, no more than the best source spares.
        lacking = max(threshold - dest_atp, 1)
        best = sources[0].spare if sources else lacking
        form = replace(form, quantity=str(max(min(lacking, best), 1)))
    if not form.source and sources:
        form = replace(form, source=sources[0].node)
    return form


def _form_with(form: TransferForm, notice: Notice) -> TransferForm:
    return replace(form, notice=notice)


def _quantity(raw: str) -> int | None:
    text = raw.strip()
    if not text.isdecimal() or len(text) > len(str(MAX_QUANTITY)):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_QUANTITY else None


def request(
    session: Session,
    principal: Principal,
    *,
    sku: str,
    source: str,
    destination: str,
    quantity: str,
    reason: str,
    idempotency_key: str,
) -> TransferOut | Notice:
    """Request the transfer; the notice saying why not, with nothing written (the caller rolls
    back). The form's key is the transfer code: the same form sent twice requests once."""
    if not _KEY.fullmatch(idempotency_key):
        return Notice("transfers.form_expired", status=403)
    if not principal.may(TRANSFER_PERMISSION):
        return Notice("transfers.may_not", status=403)
    sku, source, destination = sku.strip(), source.strip(), destination.strip()
    if not sku:
        return Notice("transfers.sku_missing", status=422)
    if not source or not destination:
        return Notice("transfers.nodes_missing", status=422)
    try:
        code = catalog.get_sku(session, sku[:MAX_CODE_LENGTH]).code
    except UnknownSku:
        return Notice("transfers.unknown_sku", {"sku": sku[:MAX_CODE_LENGTH]}, status=422)
    for node in (source, destination):
        try:
            nodes.get_node(session, node[:MAX_CODE_LENGTH])
        except UnknownNode:
            return _unknown_node(node)
    if source == destination:
        return Notice("transfers.same_node", {"node": source}, status=422)
    covered = covered_nodes(session, principal.scope)
    if not (_sees(covered, source) or _sees(covered, destination)):
        return Notice("transfers.nodes_not_yours", status=403)
    units = _quantity(quantity)
    if units is None:
        return Notice("transfers.bad_quantity", {"max": MAX_QUANTITY}, status=422)
    why = reason.strip()
    if len(why) > MAX_REASON_LENGTH:
        return Notice("transfers.reason_too_long", {"max": MAX_REASON_LENGTH}, status=422)
    transfer_in = TransferIn(
        code=idempotency_key,
        source=source,
        destination=destination,
        lines=[TransferLineIn(sku=code, quantity=units)],
        reason=why or None,
        requested_by=principal.name[:100],
    )
    try:
        return transfers.request_transfer(session, transfer_in)
    except YipanError as refused:
        return _refused(refused)


# --- suggested moves (the transfer plan) -----------------------------------------------------

SUGGESTIONS_SHOWN = 10
_BASIS = re.compile(r"[0-9a-f]{1,64}")


@dataclass(frozen=True)
class Suggestion:
    basis: str  # sent back to apply the move: it names the transfer the move becomes
    move: Move


@dataclass(frozen=True)
class Suggestions:
    """The most urgent moves of the transfer plan that touch the user's nodes."""

    rules: Rules
    shown: list[Suggestion] = field(default_factory=list)
    total: int = 0
    notice: Notice | None = None


def suggested_moves(session: Session, scope: Scope, *, notice: Notice | None = None) -> Suggestions:
    """The plan's moves from or to the scope's nodes, stock-outs first, then the least cover."""
    rules = Rules()
    plan = transfer_plans.plan_transfers(session, rules, visible=covered_nodes(session, scope))

    def urgency(move: Move) -> tuple[bool, float, int, str, str]:
        cover = move.destination_cover_before
        return (
            move.destination_before > 0,
            cover if cover is not None else float("inf"),
            -move.quantity,
            move.sku,
            move.destination,
        )

    ordered = sorted(plan.moves, key=urgency)[:SUGGESTIONS_SHOWN]
    return Suggestions(
        rules=rules,
        shown=[Suggestion(plan.bases[m.sku], m) for m in ordered],
        total=len(plan.moves),
        notice=notice,
    )


def apply_suggestion(
    session: Session,
    principal: Principal,
    *,
    basis: str,
    sku: str,
    source: str,
    destination: str,
    quantity: str,
) -> TransferOut | Notice:
    """Turn one suggested move into a transfer; the same move applied twice is one transfer.
    The notice saying why not, with nothing written (the caller rolls back)."""
    if not principal.may(TRANSFER_PERMISSION):
        return Notice("transfers.may_not", status=403)
    units = _quantity(quantity)
    fields = (sku.strip(), source.strip(), destination.strip())
    if not _BASIS.fullmatch(basis) or units is None or not all(fields):
        return Notice("transfers.suggest.bad_move", status=422)
    sku, source, destination = (f[:MAX_CODE_LENGTH] for f in fields)
    covered = covered_nodes(session, principal.scope)
    if not (_sees(covered, source) or _sees(covered, destination)):
        return Notice("transfers.nodes_not_yours", status=403)
    move = transfer_plans.PlannedMove(basis, sku, source, destination, units)
    try:
        return transfer_plans.apply_plan(session, [move], requested_by=principal.name)[0]
    except UnknownSku:
        return Notice("transfers.unknown_sku", {"sku": sku}, status=422)
    except UnknownNode as unknown:
        return _unknown_node(", ".join(unknown.details.get("codes", [source])))
    except YipanError as refused:
        return _refused(refused)
