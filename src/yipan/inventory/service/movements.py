"""Stock movements from POS terminals, warehouse systems and people; the ledger; reconciliation.

A batch is checked row by row (unknown SKU or node, bad quantity, reused idempotency key) and the
good rows are kept. Rows of one SKU × node are applied together by one conditional update; if
that would take stock under what is reserved, that pair is replayed row by row on the locked
level so that exactly the rows that do not fit are refused.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import MovementKind, signed_quantity
from yipan.inventory.errors import (
    InvalidMovement,
    InvalidQuantity,
    StockWouldGoNegative,
    UnknownNode,
)
from yipan.inventory.events import StockMoved
from yipan.inventory.models import Movement
from yipan.inventory.schemas import BatchResult, BatchRowError, MovementIn
from yipan.inventory.service import levels as lv
from yipan.inventory.service.nodes import find_node_ids
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.errors import IdempotencyConflict, YipanError

Pair = lv.Pair


@dataclass
class _Row:
    index: int
    movement: MovementIn
    pair: Pair
    delta: int | None  # None for a count: the delta depends on the level when it is applied
    digest: str


@dataclass
class _Outcome:
    errors: list[BatchRowError] = field(default_factory=list)
    duplicates: int = 0

    def refuse(self, index: int, m: MovementIn, code: str, message: str) -> None:
        self.errors.append(
            BatchRowError(
                index=index, idempotency_key=m.idempotency_key, code=code, message=message
            )
        )


def payload_digest(m: MovementIn) -> str:
    """What a replay must match: everything about the movement except its key."""
    occurred = m.occurred_at.isoformat() if m.occurred_at else ""
    body = (m.sku, m.node, m.kind.value, m.quantity, m.reason, m.reference, m.channel, occurred)
    # repr keeps None apart from "None" and is much cheaper than JSON for a flat tuple.
    return hashlib.sha256(repr(body).encode()).hexdigest()


MAX_BATCH = 10_000
_KNOWN_KEYS_PG = text(
    "SELECT idempotency_key, payload_hash FROM inventory_movements "
    "WHERE idempotency_key = ANY(CAST(:keys AS varchar[]))"
)
_BATCH = TypeAdapter(list[MovementIn])


def ingest_movements(
    session: Session,
    batch: Sequence[MovementIn | dict[str, Any]],
    *,
    require_keys: bool = True,
    clock: Clock | None = None,
) -> BatchResult:
    """Apply a batch of movements; each bad row is reported and the good rows are kept."""
    if len(batch) > MAX_BATCH:
        raise InvalidMovement(
            f"a batch holds at most {MAX_BATCH} movements, got {len(batch)}; split it",
            size=len(batch),
            max=MAX_BATCH,
        )
    now = (clock or SystemClock()).now()
    outcome = _Outcome()
    rows = _validate(session, batch, require_keys, outcome)
    rows = _drop_replays(session, rows, outcome)

    by_pair: dict[Pair, list[_Row]] = defaultdict(list)
    for row in rows:
        by_pair[row.pair].append(row)
    # Pairs without counts are applied in one go; the rest, and refused pairs, one by one.
    simple = {
        p: sum(r.delta or 0 for r in rs)
        for p, rs in by_pair.items()
        if all(r.delta is not None for r in rs)
    }
    lv.ensure_levels(session, [p for p, d in simple.items() if d == 0], now)
    changes = lv.add_on_hand_many(session, {p: d for p, d in simple.items() if d}, now)
    applied = {
        p: [(r, r.delta or 0) for r in by_pair[p]]
        for p, d in simple.items()
        if d == 0 or p in changes
    }
    careful = [p for p in by_pair if p not in applied]
    locked = lv.lock_levels(session, careful)
    for pair in sorted(careful):
        applied[pair] = _one_by_one(
            session, pair, by_pair[pair], locked.get(pair), now, changes, outcome
        )

    _write(session, applied, changes, now, clock)
    accepted = sum(len(v) for v in applied.values())
    return BatchResult(
        accepted=accepted,
        duplicates=outcome.duplicates,
        rejected=len(outcome.errors),
        errors=sorted(outcome.errors, key=lambda e: e.index),
    )


def _parse(
    batch: Sequence[MovementIn | dict[str, Any]], outcome: _Outcome
) -> list[tuple[int, MovementIn]]:
    if all(isinstance(item, dict) for item in batch):
        try:  # the common case, a clean batch, validated in one call
            return list(enumerate(_BATCH.validate_python(batch)))
        except ValidationError:
            pass  # find the bad rows one by one
    parsed: list[tuple[int, MovementIn]] = []
    for index, item in enumerate(batch):
        if isinstance(item, MovementIn):
            parsed.append((index, item))
            continue
        try:
            parsed.append((index, MovementIn.model_validate(item)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            key = item.get("idempotency_key") if isinstance(item, dict) else None
            outcome.errors.append(
                BatchRowError(
                    index=index,
                    idempotency_key=key if isinstance(key, str) else None,
                    code="INVALID_ROW",
                    message=f"{where}: {first['msg']}",
                )
            )
    return parsed


def _validate(
    session: Session,
    batch: Sequence[MovementIn | dict[str, Any]],
    require_keys: bool,
    outcome: _Outcome,
) -> list[_Row]:
    parsed = _parse(batch, outcome)
    skus = catalog.find_sku_ids(session, {m.sku for _, m in parsed})
    nodes = find_node_ids(session, {m.node for _, m in parsed})
    rows: list[_Row] = []
    for index, m in parsed:
        if require_keys and not m.idempotency_key:
            outcome.refuse(
                index,
                m,
                "MISSING_IDEMPOTENCY_KEY",
                "every movement from outside needs an idempotency_key",
            )
            continue
        if m.sku not in skus:
            outcome.refuse(index, m, "UNKNOWN_SKU", f"unknown SKU code {m.sku}")
            continue
        if m.node not in nodes:
            outcome.refuse(index, m, "UNKNOWN_NODE", f"unknown node code {m.node}")
            continue
        delta: int | None
        if m.kind is MovementKind.COUNT:
            if m.quantity < 0:
                outcome.refuse(
                    index, m, "INVALID_QUANTITY", "a counted quantity cannot be negative"
                )
                continue
            delta = None
        else:
            try:
                delta = signed_quantity(m.kind, m.quantity)
            except ValueError as exc:
                outcome.refuse(index, m, "INVALID_QUANTITY", str(exc))
                continue
        rows.append(_Row(index, m, (skus[m.sku], nodes[m.node]), delta, payload_digest(m)))
    return rows


def _drop_replays(session: Session, rows: list[_Row], outcome: _Outcome) -> list[_Row]:
    """Rows whose key was applied before (same payload) are duplicates; other payloads conflict."""
    keyed = [r for r in rows if r.movement.idempotency_key]
    known: dict[str | None, str | None] = {}
    keys = list({r.movement.idempotency_key for r in keyed if r.movement.idempotency_key})
    if keys and session.get_bind().dialect.name == "postgresql":
        # One array parameter instead of a thousand: the statement text stays the same, so it
        # is prepared once per connection.
        known.update(session.execute(_KNOWN_KEYS_PG, {"keys": keys}).all())
        keys = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(
            session.execute(
                select(Movement.idempotency_key, Movement.payload_hash).where(
                    Movement.idempotency_key.in_(chunk)
                )
            ).all()
        )
    kept: list[_Row] = []
    for r in rows:
        key = r.movement.idempotency_key
        if key is None:
            kept.append(r)
            continue
        if key in known:
            if known[key] == r.digest:
                outcome.duplicates += 1
            else:
                outcome.refuse(
                    r.index,
                    r.movement,
                    IdempotencyConflict.code,
                    f"idempotency key {key} was used before for a different movement",
                )
            continue
        known[key] = r.digest
        kept.append(r)
    return kept


def _one_by_one(
    session: Session,
    pair: Pair,
    rows: list[_Row],
    level: Any,
    now: datetime,
    changes: dict[Pair, lv.LevelChange],
    outcome: _Outcome,
) -> list[tuple[_Row, int]]:
    """Replay a pair's rows in order on its locked level, keeping those that fit."""
    on_hand = level.on_hand if level is not None else 0
    reserved = level.reserved if level is not None else 0
    kept: list[tuple[_Row, int]] = []
    for r in rows:
        delta = r.movement.quantity - on_hand if r.delta is None else r.delta
        if on_hand + delta < reserved:
            outcome.refuse(
                r.index,
                r.movement,
                "STOCK_WOULD_GO_NEGATIVE",
                f"{r.movement.kind.value} of {abs(delta)} would leave {on_hand + delta} on hand "
                f"of {r.movement.sku} at {r.movement.node}, {reserved} of it reserved",
            )
            continue
        on_hand += delta
        kept.append((r, delta))
    net = sum(d for _, d in kept)
    if net != 0:
        change = lv.add_on_hand(session, pair[0], pair[1], net, now)
        if change is None:  # cannot happen while the level is locked
            raise InvalidMovement("stock changed under a lock", sku_id=pair[0], node_id=pair[1])
        changes[pair] = change
    return kept


def _write(
    session: Session,
    applied: dict[Pair, list[tuple[_Row, int]]],
    changes: dict[Pair, lv.LevelChange],
    now: datetime,
    clock: Clock | None,
) -> None:
    ledger: list[dict[str, Any]] = []
    recorded: list[DomainEvent] = []
    moved: dict[str, list[dict[str, int | str]]] = defaultdict(list)
    references: dict[str, set[str | None]] = defaultdict(set)
    channels: dict[str, set[str | None]] = defaultdict(set)
    for pair in sorted(applied):
        kept = applied[pair]
        for r, delta in kept:
            if delta == 0:
                continue  # a count that found what the books said: nothing moved
            m = r.movement
            ledger.append(
                lv.movement_row(
                    sku_id=pair[0],
                    node_id=pair[1],
                    kind=m.kind.value,
                    quantity=delta,
                    now=now,
                    reason=m.reason,
                    reference=m.reference,
                    channel=m.channel,
                    idempotency_key=m.idempotency_key,
                    payload_hash=r.digest,
                    occurred_at=m.occurred_at,
                )
            )
        change = changes.get(pair)
        if change is None or not kept:
            continue
        first = kept[0][0].movement
        kinds = {r.movement.kind.value for r, _ in kept}
        moved[first.node].append(
            {
                "sku": first.sku,
                "kind": kinds.pop() if len(kinds) == 1 else "mixed",
                "quantity": sum(d for _, d in kept),
                "on_hand": change.on_hand,
            }
        )
        references[first.node].update(r.movement.reference for r, _ in kept)
        channels[first.node].update(r.movement.channel for r, _ in kept)
        below = change.fell_below(first.sku, first.node)
        if below is not None:
            recorded.append(below)
    for node, node_changes in moved.items():
        recorded.append(
            StockMoved(
                node=node,
                changes=node_changes,
                reference=_only(references[node]),
                channel=_only(channels[node]),
            )
        )
    lv.write_movements(session, ledger)
    events.record_many(session, recorded, clock=clock)


def _only(values: set[str | None]) -> str | None:
    """The one value all rows share, or None when they differ."""
    return next(iter(values)) if len(values) == 1 else None


def record_movement(
    session: Session, movement: MovementIn, *, clock: Clock | None = None
) -> BatchResult:
    """One movement, checked like a batch row; its error, if any, is raised."""
    result = ingest_movements(session, [movement], require_keys=False, clock=clock)
    if result.errors:
        error = result.errors[0]
        raise _ROW_ERRORS.get(error.code, InvalidMovement)(error.message, index=error.index)
    return result


_ROW_ERRORS: dict[str, type[YipanError]] = {
    "UNKNOWN_SKU": UnknownSku,
    "UNKNOWN_NODE": UnknownNode,
    "INVALID_QUANTITY": InvalidQuantity,
    "STOCK_WOULD_GO_NEGATIVE": StockWouldGoNegative,
    IdempotencyConflict.code: IdempotencyConflict,
}
