"""Transfers of stock between two nodes: request → ship (in transit) → receive → close, or cancel.

- Requesting holds the goods at the source through `reservations.reserve` under the reference
  `transfer:<code>`, so the source's ATP drops at once and no channel can sell them meanwhile.
- Shipping turns those holds into `transfer_out` ledger rows at the source (not
  `reservation_commit`: the goods were moved, not sold). From then until receipt the goods are
  in transit: shipped − received − damaged.
- Receiving adds what arrived in sellable condition at the destination as `transfer_in` rows;
  damaged units are recorded on the line but never enter `on_hand`, and what neither arrived
  nor came damaged is the difference, kept on the line and reported in `TransferReceived`.
- A transfer moves one step at a time, through a conditional update on its status, so two
  clerks pressing "ship" at once ship it once; the second gets `ILLEGAL_TRANSITION`. Shipping
  or receiving twice is refused that way too, not replayed: the error's details carry the
  current status, which is all a retrying client needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import (
    IllegalTransition,
    MovementKind,
    ReservationStatus,
    TransferAction,
    TransferStatus,
    transfer_next,
)
from yipan.inventory.errors import (
    InvalidQuantity,
    InvalidTransfer,
    NodeInactive,
    ReservationClosed,
    UnknownTransfer,
)
from yipan.inventory.events import (
    StockMoved,
    TransferCancelled,
    TransferClosed,
    TransferReceived,
    TransferRequested,
    TransferShipped,
)
from yipan.inventory.models import Node, Reservation, Transfer, TransferLine
from yipan.inventory.schemas import (
    InTransitOut,
    InTransitTransfer,
    ReceiveIn,
    ReserveIn,
    ReserveLine,
    TransferIn,
    TransferLineOut,
    TransferOut,
)
from yipan.inventory.service import levels as lv
from yipan.inventory.service import reservations as holds
from yipan.inventory.service.nodes import node_codes, node_id, node_ids
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import insert_for
from yipan.kernel.errors import IdempotencyConflict

transfers = cast(Table, Transfer.__table__)
transfer_lines = cast(Table, TransferLine.__table__)
reservation_table = cast(Table, Reservation.__table__)

_STAMPS = {
    TransferStatus.SHIPPED: "shipped_at",
    TransferStatus.RECEIVED: "received_at",
    TransferStatus.CLOSED: "closed_at",
    TransferStatus.CANCELLED: "cancelled_at",
}
# The states in which what left the source is settled: anything not received is a difference.
_SETTLED = frozenset({TransferStatus.RECEIVED.value, TransferStatus.CLOSED.value})


def hold_reference(code: str) -> str:
    """The reservation reference under which a transfer holds its goods at the source."""
    return f"transfer:{code}"


# --- request -----------------------------------------------------------------------------------


def request_transfer(
    session: Session, transfer_in: TransferIn, *, clock: Clock | None = None
) -> TransferOut:
    """Ask for goods to move, holding them at the source; all lines or none.

    With a `code`, replaying the same request returns the transfer made the first time, whatever
    its status now; the same code with other nodes or lines is refused.
    """
    now = (clock or SystemClock()).now()
    if transfer_in.source == transfer_in.destination:
        raise InvalidTransfer(
            "source and destination must be different nodes", node=transfer_in.source
        )
    asked = _asked_lines(transfer_in)
    nodes = node_ids(session, [transfer_in.source, transfer_in.destination])
    skus = catalog.sku_ids(session, asked)
    source_id, dest_id = nodes[transfer_in.source], nodes[transfer_in.destination]

    if transfer_in.code is not None:
        existing = _find(session, transfer_in.code)
        if existing is not None:
            return _replay(session, existing, transfer_in, asked)
    _require_active(session, {transfer_in.source: source_id, transfer_in.destination: dest_id})

    values = {
        "source_node_id": source_id,
        "dest_node_id": dest_id,
        "status": TransferStatus.REQUESTED.value,
        "reason": transfer_in.reason,
        "requested_by": transfer_in.requested_by,
        "created_at": now,
    }
    if transfer_in.code is None:
        code, transfer_id = _insert_with_generated_code(session, values, now)
    else:
        code = transfer_in.code
        new_id = session.execute(
            insert_for(session, transfers)
            .values(code=code, **values)
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(transfers.c.id)
        ).scalar()
        if new_id is None:  # the same code was requested concurrently and won
            found = _find(session, code)
            assert found is not None
            return _replay(session, found, transfer_in, asked)
        transfer_id = new_id

    session.execute(
        transfer_lines.insert(),
        [
            {"transfer_id": transfer_id, "sku_id": skus[sku], "quantity_requested": quantity}
            for sku, quantity in sorted(asked.items(), key=lambda kv: skus[kv[0]])
        ],
    )
    # Last, so the stock level is locked only from here to the commit.
    holds.reserve(
        session,
        ReserveIn(
            reference=hold_reference(code),
            lines=[
                ReserveLine(sku=sku, node=transfer_in.source, quantity=quantity)
                for sku, quantity in asked.items()
            ],
        ),
        clock=clock,
    )
    events.record(
        session,
        TransferRequested(
            transfer=code,
            source=transfer_in.source,
            destination=transfer_in.destination,
            lines=[{"sku": sku, "quantity": q} for sku, q in sorted(asked.items())],
        ),
        clock=clock,
    )
    return get_transfer(session, code)


def _asked_lines(transfer_in: TransferIn) -> dict[str, int]:
    asked: dict[str, int] = {}
    for line in transfer_in.lines:
        if line.sku in asked:
            raise InvalidTransfer(
                f"SKU {line.sku} appears twice; send one line with the sum", sku=line.sku
            )
        asked[line.sku] = line.quantity
    return asked


def _require_active(session: Session, nodes: dict[str, int]) -> None:
    active = dict(
        session.execute(select(Node.id, Node.active).where(Node.id.in_(nodes.values()))).all()
    )
    for code, nid in sorted(nodes.items()):
        if not active.get(nid):
            raise NodeInactive(f"node {code} is not active", node=code)


def _insert_with_generated_code(
    session: Session, values: dict[str, Any], now: datetime
) -> tuple[str, int]:
    """Insert under a throw-away code, then name the transfer after its id: TR-<date>-<id>."""
    transfer_id = session.execute(
        transfers.insert().values(code=f"~{uuid.uuid4().hex}", **values).returning(transfers.c.id)
    ).scalar_one()
    base = f"TR-{now:%Y%m%d}-{transfer_id:05d}"
    code, n = base, 1
    # A client may have chosen this very code for another transfer; step aside rather than fail.
    while session.scalar(select(transfers.c.id).where(transfers.c.code == code)) is not None:
        n += 1
        code = f"{base}-{n}"
    session.execute(update(transfers).where(transfers.c.id == transfer_id).values(code=code))
    return code, transfer_id


def _replay(
    session: Session, existing: Row[Any], transfer_in: TransferIn, asked: dict[str, int]
) -> TransferOut:
    out = _outs(session, [existing])[0]
    same = (
        out.source == transfer_in.source
        and out.destination == transfer_in.destination
        and {line.sku: line.requested for line in out.lines} == asked
    )
    if not same:
        raise IdempotencyConflict(
            f"transfer {out.code} was requested before with other nodes or lines; use a new code",
            code=out.code,
            source=out.source,
            destination=out.destination,
            lines=[{"sku": line.sku, "quantity": line.requested} for line in out.lines],
        )
    return out


# --- the steps after the request ----------------------------------------------------------------


def ship_transfer(session: Session, code: str, *, clock: Clock | None = None) -> TransferOut:
    """The goods leave the source: its holds become `transfer_out` ledger rows."""
    now = (clock or SystemClock()).now()
    transfer = _get(session, code)
    _advance(session, transfer, TransferAction.SHIP, now)
    reference = hold_reference(code)
    source = node_codes(session, [transfer.source_node_id])[transfer.source_node_id]
    lines = _lines(session, [transfer.id]).get(transfer.id, [])
    skus = catalog.sku_codes(session, [line.sku_id for line in lines])
    active = {
        r.sku_id: r
        for r in session.execute(
            select(reservation_table.c.id, reservation_table.c.sku_id, reservation_table.c.quantity)
            .where(
                reservation_table.c.reference == reference,
                reservation_table.c.node_id == transfer.source_node_id,
                reservation_table.c.status == ReservationStatus.ACTIVE.value,
            )
            .with_for_update()
        )
    }
    ledger: list[dict[str, Any]] = []
    recorded: list[DomainEvent] = []
    shipped_out: list[dict[str, int | str]] = []
    for line in lines:  # in sku_id order; the node is the same for all
        hold = active.get(line.sku_id)
        done = 0
        if hold is not None and hold.quantity == line.quantity_requested:
            done = session.execute(
                update(reservation_table)
                .where(
                    reservation_table.c.id == hold.id,
                    reservation_table.c.status == ReservationStatus.ACTIVE.value,
                )
                .values(status=ReservationStatus.COMMITTED.value, closed_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if not done:
            raise ReservationClosed(
                f"the hold of {skus[line.sku_id]} for transfer {code} is gone (released by "
                "hand?); cancel the transfer and request it again",
                transfer=code,
                sku=skus[line.sku_id],
            )
        quantity = line.quantity_requested
        change = lv.unreserve_level(
            session, line.sku_id, transfer.source_node_id, quantity, now, consume=True
        )
        ledger.append(
            lv.movement_row(
                sku_id=line.sku_id,
                node_id=transfer.source_node_id,
                kind=MovementKind.TRANSFER_OUT.value,
                quantity=-quantity,
                now=now,
                reference=reference,
                reason=f"transfer {code} shipped",
            )
        )
        shipped_out.append(
            {
                "sku": skus[line.sku_id],
                "kind": MovementKind.TRANSFER_OUT.value,
                "quantity": -quantity,
                "on_hand": change.on_hand,
            }
        )
        below = change.fell_below(skus[line.sku_id], source)
        if below is not None:  # cannot happen (the goods were already off ATP), but cheap to ask
            recorded.append(below)
    session.execute(
        update(transfer_lines)
        .where(transfer_lines.c.transfer_id == transfer.id)
        .values(quantity_shipped=transfer_lines.c.quantity_requested)
    )
    lv.write_movements(session, ledger)
    recorded.append(StockMoved(node=source, changes=shipped_out, reference=reference))
    recorded.append(
        TransferShipped(
            transfer=code,
            lines=[
                {"sku": skus[line.sku_id], "quantity": line.quantity_requested} for line in lines
            ],
        )
    )
    events.record_many(session, recorded, clock=clock)
    return get_transfer(session, code)


def receive_transfer(
    session: Session, code: str, receive_in: ReceiveIn, *, clock: Clock | None = None
) -> TransferOut:
    """What arrived goes on hand at the destination; damaged and missing units are recorded.

    Without lines everything shipped arrived in good condition. With lines, each names what
    arrived of one SKU; a SKU left out arrived not at all.
    """
    now = (clock or SystemClock()).now()
    transfer = _get(session, code)
    transfer_next(TransferStatus(transfer.status), TransferAction.RECEIVE)
    lines = _lines(session, [transfer.id]).get(transfer.id, [])
    skus = catalog.sku_codes(session, [line.sku_id for line in lines])
    counted = _counted(code, lines, skus, receive_in)  # validated before anything is written
    _advance(session, transfer, TransferAction.RECEIVE, now)

    session.execute(
        update(transfer_lines)
        .where(transfer_lines.c.id == bindparam("line_id"))
        .values(
            quantity_received=bindparam("received"),
            quantity_damaged=bindparam("damaged"),
            note=bindparam("line_note"),
        ),
        [
            {"line_id": line.id, "received": r, "damaged": d, "line_note": note}
            for line, (r, d, note) in zip(lines, counted, strict=True)
        ],
    )
    dest = transfer.dest_node_id
    arrived = {(line.sku_id, dest): r for line, (r, _, _) in zip(lines, counted, strict=True) if r}
    changes = lv.add_on_hand_many(session, arrived, now)
    destination = node_codes(session, [dest])[dest]
    reference = hold_reference(code)
    ledger: list[dict[str, Any]] = []
    recorded: list[DomainEvent] = []
    received: list[dict[str, int | str]] = []
    discrepancies: list[dict[str, int | str]] = []
    arrivals: list[dict[str, int | str]] = []
    for line, (r, d, _) in zip(lines, counted, strict=True):
        sku = skus[line.sku_id]
        received.append({"sku": sku, "received": r, "damaged": d})
        missing = line.quantity_shipped - r - d
        if r != line.quantity_shipped:
            discrepancies.append(
                {
                    "sku": sku,
                    "shipped": line.quantity_shipped,
                    "received": r,
                    "damaged": d,
                    "missing": missing,
                }
            )
        if not r:
            continue
        ledger.append(
            lv.movement_row(
                sku_id=line.sku_id,
                node_id=dest,
                kind=MovementKind.TRANSFER_IN.value,
                quantity=r,
                now=now,
                reference=reference,
                reason=f"transfer {code} received",
            )
        )
        arrivals.append(
            {
                "sku": sku,
                "kind": MovementKind.TRANSFER_IN.value,
                "quantity": r,
                "on_hand": changes[(line.sku_id, dest)].on_hand,
            }
        )
    if arrivals:
        recorded.append(StockMoved(node=destination, changes=arrivals, reference=reference))
    lv.write_movements(session, ledger)
    recorded.append(TransferReceived(transfer=code, lines=received, discrepancies=discrepancies))
    events.record_many(session, recorded, clock=clock)
    return get_transfer(session, code)


def _counted(
    code: str, lines: Sequence[Any], skus: dict[int, str], receive_in: ReceiveIn
) -> list[tuple[int, int, str | None]]:
    """(received, damaged, note) per transfer line, in line order; refuses what cannot be."""
    if receive_in.lines is None:
        return [(line.quantity_shipped, 0, line.note) for line in lines]
    on_transfer = set(skus.values())
    given: dict[str, tuple[int, int, str | None]] = {}
    for line_in in receive_in.lines:
        if line_in.sku not in on_transfer:
            raise InvalidTransfer(
                f"SKU {line_in.sku} is not on transfer {code}", transfer=code, sku=line_in.sku
            )
        if line_in.sku in given:
            raise InvalidTransfer(
                f"SKU {line_in.sku} appears twice; send one line per SKU", sku=line_in.sku
            )
        given[line_in.sku] = (line_in.received, line_in.damaged, line_in.note)
    counted: list[tuple[int, int, str | None]] = []
    for line in lines:
        sku = skus[line.sku_id]
        received, damaged, note = given.get(sku, (0, 0, None))
        if received + damaged > line.quantity_shipped:
            raise InvalidQuantity(
                f"{received} received and {damaged} damaged of {sku}, but only "
                f"{line.quantity_shipped} shipped",
                sku=sku,
                shipped=line.quantity_shipped,
                received=received,
                damaged=damaged,
            )
        counted.append((received, damaged, note or line.note))
    return counted


def close_transfer(session: Session, code: str, *, clock: Clock | None = None) -> TransferOut:
    """File a received transfer: its differences are accepted as they stand."""
    now = (clock or SystemClock()).now()
    _advance(session, _get(session, code), TransferAction.CLOSE, now)
    events.record(session, TransferClosed(transfer=code), clock=clock)
    return get_transfer(session, code)


def cancel_transfer(
    session: Session, code: str, *, reason: str | None = None, clock: Clock | None = None
) -> TransferOut:
    """Call off a transfer that has not shipped: its holds at the source are released."""
    now = (clock or SystemClock()).now()
    _advance(session, _get(session, code), TransferAction.CANCEL, now)
    holds.release(session, hold_reference(code), clock=clock)
    events.record(session, TransferCancelled(transfer=code, reason=reason), clock=clock)
    return get_transfer(session, code)


def _advance(session: Session, transfer: Row[Any], action: TransferAction, now: datetime) -> None:
    """Move the transfer one step, if nobody moved it first; IllegalTransition otherwise."""
    current = TransferStatus(transfer.status)
    target = transfer_next(current, action)
    done = session.execute(
        update(transfers)
        .where(transfers.c.id == transfer.id, transfers.c.status == current.value)
        .values(status=target.value, **{_STAMPS[target]: now})
    ).rowcount  # type: ignore[attr-defined]
    if not done:
        now_status: str = session.execute(
            select(transfers.c.status).where(transfers.c.id == transfer.id)
        ).scalar_one()
        transfer_next(TransferStatus(now_status), action)
        raise IllegalTransition(  # moved to a state that allows it again: still not ours to do
            f"transfer {transfer.code} changed under this {action.value}; try again",
            status=now_status,
            action=action.value,
        )


# --- reading ------------------------------------------------------------------------------------


def get_transfer(session: Session, code: str) -> TransferOut:
    return _outs(session, [_get(session, code)])[0]


def list_transfers(
    session: Session,
    *,
    status: str | None = None,
    node: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[TransferOut]:
    """Transfers newest first, optionally in one status and from or to one node."""
    stmt = select(transfers).order_by(transfers.c.id.desc()).offset(offset).limit(limit)
    if status:
        stmt = stmt.where(transfers.c.status == TransferStatus(status).value)
    if node:
        nid = node_id(session, node)
        stmt = stmt.where(or_(transfers.c.source_node_id == nid, transfers.c.dest_node_id == nid))
    return _outs(session, session.execute(stmt).all())


def in_transit(session: Session, *, sku: str, node: str) -> InTransitOut:
    """How much of a SKU is on the road to (inbound) and from (outbound) a node right now."""
    sku_id = catalog.sku_id(session, sku)
    nid = node_id(session, node)
    quantity = (
        transfer_lines.c.quantity_shipped
        - transfer_lines.c.quantity_received
        - transfer_lines.c.quantity_damaged
    )
    rows = session.execute(
        select(
            transfers.c.code,
            transfers.c.source_node_id,
            transfers.c.dest_node_id,
            quantity.label("quantity"),
        )
        .join(transfer_lines, transfer_lines.c.transfer_id == transfers.c.id)
        .where(
            transfers.c.status == TransferStatus.SHIPPED.value,
            transfer_lines.c.sku_id == sku_id,
            or_(transfers.c.source_node_id == nid, transfers.c.dest_node_id == nid),
            quantity > 0,
        )
        .order_by(transfers.c.id)
    ).all()
    codes = node_codes(session, [n for r in rows for n in (r.source_node_id, r.dest_node_id)])
    return InTransitOut(
        sku=sku,
        node=node,
        inbound=sum(r.quantity for r in rows if r.dest_node_id == nid),
        outbound=sum(r.quantity for r in rows if r.source_node_id == nid),
        transfers=[
            InTransitTransfer(
                code=r.code,
                source=codes[r.source_node_id],
                destination=codes[r.dest_node_id],
                quantity=r.quantity,
            )
            for r in rows
        ],
    )


def in_transit_total(session: Session) -> int:
    """Every unit shipped and not yet received, across the pool (for stock-balance checks)."""
    return int(
        session.scalar(
            select(
                func.coalesce(
                    func.sum(
                        transfer_lines.c.quantity_shipped
                        - transfer_lines.c.quantity_received
                        - transfer_lines.c.quantity_damaged
                    ),
                    0,
                )
            )
            .join(transfers, transfers.c.id == transfer_lines.c.transfer_id)
            .where(transfers.c.status == TransferStatus.SHIPPED.value)
        )
        or 0
    )


def _find(session: Session, code: str) -> Row[Any] | None:
    return session.execute(select(transfers).where(transfers.c.code == code)).first()


def _get(session: Session, code: str) -> Row[Any]:
    found = _find(session, code)
    if found is None:
        raise UnknownTransfer(f"no transfer with code {code}", code=code)
    return found


def _lines(session: Session, ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    found: dict[int, list[Row[Any]]] = {i: [] for i in ids}
    if ids:
        for row in session.execute(
            select(transfer_lines)
            .where(transfer_lines.c.transfer_id.in_(ids))
            .order_by(transfer_lines.c.transfer_id, transfer_lines.c.sku_id)
        ):
            found[row.transfer_id].append(row)
    return found


def _outs(session: Session, rows: Sequence[Row[Any]]) -> list[TransferOut]:
    lines = _lines(session, [t.id for t in rows])
    skus = catalog.sku_codes(session, [line.sku_id for ls in lines.values() for line in ls])
    nodes = node_codes(session, [n for t in rows for n in (t.source_node_id, t.dest_node_id)])
    return [_out(t, lines[t.id], skus, nodes) for t in rows]


def _out(
    t: Row[Any], lines: Sequence[Row[Any]], skus: dict[int, str], nodes: dict[int, str]
) -> TransferOut:
    def line_out(line: Row[Any]) -> TransferLineOut:
        open_ = line.quantity_shipped - line.quantity_received - line.quantity_damaged
        return TransferLineOut(
            sku=skus[line.sku_id],
            requested=line.quantity_requested,
            shipped=line.quantity_shipped,
            received=line.quantity_received,
            damaged=line.quantity_damaged,
            in_transit=open_ if t.status == TransferStatus.SHIPPED.value else 0,
            difference=open_ if t.status in _SETTLED else 0,
            note=line.note,
        )

    return TransferOut(
        code=t.code,
        source=nodes[t.source_node_id],
        destination=nodes[t.dest_node_id],
        status=t.status,
        reason=t.reason,
        requested_by=t.requested_by,
        created_at=t.created_at,
        shipped_at=t.shipped_at,
        received_at=t.received_at,
        closed_at=t.closed_at,
        cancelled_at=t.cancelled_at,
        lines=[line_out(line) for line in lines],
    )
