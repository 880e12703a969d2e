"""Issuing coupons (to members, or as bearer codes) and reading offered coupons for pricing.

Issuing is idempotent per (template, issue key, member) — or per (template, issue key, n) for the
n-th bearer code of a batch — through a unique index: a replay inserts nothing and answers with
the coupons issued the first time. Codes come from `secrets` (12 characters from 32 that cannot be
misread: 60 bits), so nobody can guess the next one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import insert_for
from yipan.members.schemas import HeldCoupon, Member360
from yipan.promotions.domain.coupons import Coupon
from yipan.promotions.errors import (
    CouponAlreadyUsed,
    CouponNotValid,
    CouponVoid,
    IssueBudgetExhausted,
    IssueReplayMismatch,
    NotYourCoupon,
    UnknownCoupon,
)
from yipan.promotions.events import CouponsIssued
from yipan.promotions.models import CouponRow, CouponTemplateRow
from yipan.promotions.schemas import (
    CouponOut,
    IssueBearerCodesIn,
    IssuedOut,
    IssueToMembersIn,
)
from yipan.promotions.service.definitions import (
    template_definition,
    template_row,
    template_to_domain,
)

coupons_t = cast(Table, CouponRow.__table__)
templates_t = cast(Table, CouponTemplateRow.__table__)

ISSUED = "issued"
REDEEMED = "redeemed"
VOID = "void"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
CODE_LENGTH = 12
BEARER_SLOT = "#"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def with_coupons(session: Session, view: Member360, *, limit: int = 50) -> Member360:
    """The member's 360 view with the coupons issued to them or to any id merged into them,
    newest first. The members context cannot ask promotions (promotions asks members for tiers),
    so the edges that show a 360 view add its coupons here."""
    ids = {view.profile.id}
    ids.update(m.absorbed for m in view.merges if m.absorbed is not None and m.undone_at is None)
    return view.model_copy(update={"coupons": held_coupons(session, ids, limit=limit)})


def held_coupons(
    session: Session, member_ids: Iterable[str], *, limit: int | None = 50
) -> list[HeldCoupon]:
    """Coupons issued to any of `member_ids`, newest first (`limit` of them; None: all)."""
    rows = session.execute(
        select(CouponRow, CouponTemplateRow.code)
        .join(CouponTemplateRow, CouponTemplateRow.id == CouponRow.template_id)
        .where(CouponRow.owner_member_id.in_(sorted(set(member_ids))))
        .order_by(CouponRow.issued_at.desc(), CouponRow.id.desc())
        .limit(limit)
    ).all()
    return [
        HeldCoupon(
            code=row.code,
            template=template_code,
            status=row.status,
            valid_until=row.valid_until,
            redeemed_at=row.redeemed_at,
            redeemed_channel=row.redeemed_channel,
        )
        for row, template_code in rows
    ]


def normalise_code(code: str) -> str:
    """Codes are typed at tills and read out in live streams: case and spaces do not matter."""
    return code.strip().upper()


def coupon_out(row: CouponRow, template_code: str) -> CouponOut:
    return CouponOut.model_validate(
        {
            "code": row.code,
            "template": template_code,
            "owner_member_id": row.owner_member_id,
            "valid_from": row.valid_from,
            "valid_until": row.valid_until,
            "status": row.status,
            "issued_at": row.issued_at,
            "redeemed_at": row.redeemed_at,
            "redeemed_order_ref": row.redeemed_order_ref,
            "redeemed_channel": row.redeemed_channel,
        }
    )


def issue_to_members(
    session: Session, template_code: str, issue_in: IssueToMembersIn, *, clock: Clock | None = None
) -> IssuedOut:
    """One coupon per listed member; a member already given one under this key gets no second."""
    return issue_to_member_ids(
        session, template_code, issue_in.issue_key, issue_in.member_ids, clock=clock
    )


def issue_to_member_ids(
    session: Session,
    template_code: str,
    issue_key: str,
    member_ids: Iterable[str],
    *,
    clock: Clock | None = None,
) -> IssuedOut:
    """`issue_to_members` for ids read from Yipan itself (a segment's members), any number."""
    members = sorted(set(member_ids))
    return _issue(session, template_code, issue_key, [(m, m) for m in members], clock=clock)


def issue_bearer_codes(
    session: Session,
    template_code: str,
    issue_in: IssueBearerCodesIn,
    *,
    clock: Clock | None = None,
) -> IssuedOut:
    """`count` codes without an owner; the same key with another count is refused (409)."""
    template = template_row(session, template_code)
    already = session.scalar(
        select(func.count())
        .select_from(CouponRow)
        .where(
            CouponRow.template_id == template.id,
            CouponRow.issue_key == issue_in.issue_key,
            CouponRow.owner_member_id.is_(None),
        )
    )
    if already and already != issue_in.count:
        raise IssueReplayMismatch(
            f"issue key {issue_in.issue_key} was used for {already} codes, not {issue_in.count}",
            issue_key=issue_in.issue_key,
            issued=already,
        )
    slots = [(f"{BEARER_SLOT}{n}", None) for n in range(1, issue_in.count + 1)]
    return _issue(session, template_code, issue_in.issue_key, slots, clock=clock)


def _issue(
    session: Session,
    template_code: str,
    issue_key: str,
    slots: Sequence[tuple[str, str | None]],
    *,
    clock: Clock | None,
) -> IssuedOut:
    now = (clock or SystemClock()).now()
    template = template_row(session, template_code)
    valid_from, valid_until = _validity(template, now)
    owners = dict(slots)
    created: list[str] = []
    for _attempt in range(3):
        existing = _issued(session, template.id, issue_key, list(owners))
        missing = [slot for slot in owners if slot not in existing]
        if not missing:
            break
        rows = [
            {
                "code": new_code(),
                "template_id": template.id,
                "owner_member_id": owners[slot],
                "issue_key": issue_key,
                "issue_slot": slot,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "status": ISSUED,
                "issued_at": now,
            }
            for slot in missing
        ]
        statement = (
            insert_for(session, coupons_t)
            .on_conflict_do_nothing()
            .returning(coupons_t.c.issue_slot)
        )
        created += [r.issue_slot for r in session.execute(statement, rows)]
        # A slot still missing lost its code to a collision (or a concurrent issue): try again.
    existing = _issued(session, template.id, issue_key, list(owners))
    if len(existing) != len(owners):
        raise RuntimeError("could not draw unique coupon codes")  # 60-bit codes: never
    if created:
        counted = session.execute(
            update(templates_t)
            .where(
                templates_t.c.id == template.id,
                (templates_t.c.max_issued.is_(None))
                | (templates_t.c.issued_count + len(created) <= templates_t.c.max_issued),
            )
            .values(issued_count=templates_t.c.issued_count + len(created))
            .returning(templates_t.c.id)
        ).scalar()
        if counted is None:
            raise IssueBudgetExhausted(
                f"template {template_code} may issue {template.max_issued} coupons",
                template=template_code,
                max_issued=template.max_issued,
                issued=template.issued_count,
                asked=len(created),
            )
        events.record(
            session,
            CouponsIssued(
                template=template_code,
                issue_key=issue_key,
                member_ids=sorted(o for s in created if (o := owners[s]) is not None),
                bearer_codes=sum(1 for s in created if owners[s] is None),
            ),
            clock=clock,
        )
    return IssuedOut(
        template=template_code,
        issue_key=issue_key,
        created=len(created),
        coupons=[coupon_out(existing[slot], template_code) for slot in owners],
    )


def _issued(
    session: Session, template_id: int, issue_key: str, slots: list[str]
) -> dict[str, CouponRow]:
    found: dict[str, CouponRow] = {}
    for start in range(0, len(slots), 500):
        rows = session.scalars(
            select(CouponRow).where(
                CouponRow.template_id == template_id,
                CouponRow.issue_key == issue_key,
                CouponRow.issue_slot.in_(slots[start : start + 500]),
            )
        )
        found.update((row.issue_slot, row) for row in rows)
    return found


def _validity(
    template: CouponTemplateRow, now: datetime
) -> tuple[datetime | None, datetime | None]:
    until = template.valid_until
    if template.valid_days is not None:
        start = max(now, template.valid_from) if template.valid_from else now
        relative = start + timedelta(days=template.valid_days)
        until = relative if until is None else min(until, relative)
    return template.valid_from, until


def get_coupon(session: Session, code: str) -> CouponOut:
    found = session.execute(
        select(CouponRow, CouponTemplateRow.code)
        .join(CouponTemplateRow, CouponTemplateRow.id == CouponRow.template_id)
        .where(CouponRow.code == normalise_code(code))
    ).one_or_none()
    if found is None:
        raise UnknownCoupon(f"no coupon with code {code}", code=code)
    return coupon_out(found[0], found[1])


def offered_coupons(
    session: Session,
    codes: Sequence[str],
    *,
    member_id: str | None,
    at: datetime,
    strict: bool,
) -> dict[str, tuple[Coupon, CouponRow]]:
    """The coupons a customer offers, as domain coupons with their rows, by code.

    An unknown, used or void coupon is refused outright. Whose it is and whether it is valid now
    are the domain's to explain in a quote; `strict` (redeeming) refuses those too, with
    NOT_YOUR_COUPON and COUPON_NOT_VALID.
    """
    wanted = sorted({normalise_code(code) for code in codes})
    if not wanted:
        return {}
    rows = session.execute(
        select(CouponRow, CouponTemplateRow)
        .join(CouponTemplateRow, CouponTemplateRow.id == CouponRow.template_id)
        .where(CouponRow.code.in_(wanted))
    ).all()
    by_code = {row[0].code: (row[0], row[1]) for row in rows}
    offered: dict[str, tuple[Coupon, CouponRow]] = {}
    for code in wanted:
        if code not in by_code:
            raise UnknownCoupon(f"no coupon with code {code}", code=code)
        coupon, template = by_code[code]
        check_usable(coupon, member_id=member_id, at=at, strict=strict)
        domain = Coupon(
            coupon.code,
            template_to_domain(template_definition(template)),
            coupon.owner_member_id,
            coupon.valid_from,
            coupon.valid_until,
        )
        offered[code] = (domain, coupon)
    return offered


def check_usable(coupon: CouponRow, *, member_id: str | None, at: datetime, strict: bool) -> None:
    if coupon.status == REDEEMED:
        raise CouponAlreadyUsed(
            f"coupon {coupon.code} was already used", code=coupon.code, at=coupon.redeemed_at
        )
    if coupon.status == VOID:
        raise CouponVoid(f"coupon {coupon.code} is void", code=coupon.code)
    if not strict:
        return
    if coupon.owner_member_id is not None and coupon.owner_member_id != member_id:
        raise NotYourCoupon(f"coupon {coupon.code} belongs to another member", code=coupon.code)
    starts, ends = coupon.valid_from, coupon.valid_until
    if (starts is not None and at < starts) or (ends is not None and at >= ends):
        raise CouponNotValid(
            f"coupon {coupon.code} is not valid now",
            code=coupon.code,
            valid_from=starts,
            valid_until=ends,
        )


def explain_lost_redemption(session: Session, coupon_id: int) -> Exception:
    """Why a conditional update that should have redeemed this coupon matched no row: read what
    the transaction that won has committed."""
    coupon = session.execute(
        select(CouponRow).where(CouponRow.id == coupon_id).execution_options(populate_existing=True)
    ).scalar_one()
    if coupon.status == REDEEMED:
        return CouponAlreadyUsed(
            f"coupon {coupon.code} was already used", code=coupon.code, at=coupon.redeemed_at
        )
    if coupon.status == VOID:
        return CouponVoid(f"coupon {coupon.code} is void", code=coupon.code)
    return NotYourCoupon(f"coupon {coupon.code} belongs to another member", code=coupon.code)
