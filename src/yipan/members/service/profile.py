"""One member: look up, the 360 view, export, erasure and consent.

Views mask phones and e-mails (138****8000, z***@qq.com) unless the caller's role may see them
whole (`members.pii`, decided at the edges); `export_member` shows everything held. Who may call
which is the API's and the console's business (roles and data scopes of the auth context).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.inventory.domain import NodeType
from yipan.inventory.errors import UnknownNode
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import Clock, SystemClock
from yipan.members.domain import identifiers as ids
from yipan.members.errors import InvalidBinding, InvalidLookup
from yipan.members.events import ConsentChanged, GuideBound, MemberErased
from yipan.members.models import Identity, Member, SourceRecord
from yipan.members.schemas import (
    ConsentIn,
    ExportedIdentity,
    ExportedRecord,
    GuideBindingIn,
    IdentityOut,
    Member360,
    MemberExport,
    MemberOrder,
    MemberOut,
    MemberReturn,
)
from yipan.members.service import points, store, tiers
from yipan.members.service.pii import mask, vault
from yipan.orders.service.queries import orders_for_customers, returns_for_customers


def get_member(session: Session, member_id: str) -> MemberOut:
    """A member by id; an id merged away answers with the member it now lives in."""
    member = store.load_member(session, member_id)
    return store.member_out(store.holder(session, member), asked=member_id)


def find_members(
    session: Session, *, phone: str | None = None, email: str | None = None
) -> list[MemberOut]:
    """Members holding a phone or e-mail, written in any format the normaliser accepts."""
    wanted = [(ids.IdentityKind.PHONE, phone), (ids.IdentityKind.EMAIL, email)]
    given = [(kind, raw) for kind, raw in wanted if raw is not None]
    if len(given) != 1:
        raise InvalidLookup("look members up by exactly one of phone or email")
    kind, raw = given[0]
    value = ids.normalise(kind, raw)
    if value is None:
        raise InvalidLookup(f"{raw!r} is not a {kind.value}", kind=kind.value)
    lookup = vault().lookup_hash(kind.value, value)
    member_ids = session.scalars(
        select(Identity.member_id)
        .where(Identity.value_hash == lookup, Identity.kind == kind.value)
        .distinct()
    )
    members = session.scalars(
        select(Member).where(Member.id.in_(list(member_ids))).order_by(Member.id)
    )
    return [store.member_out(m) for m in members]


def member_360(
    session: Session,
    member_id: str,
    *,
    order_limit: int = 50,
    unmasked: bool = False,
    clock: Clock | None = None,
) -> Member360:
    """Profile, identities (masked unless `unmasked`: for roles that may see personal data
    whole), merge history, the orders of every channel and every id the member has had, points
    and tier. The edges add the coupons (`promotions.service.coupons.with_coupons`): promotions
    asks members for tiers, so members cannot ask promotions."""
    member = store.holder(session, store.load_member(session, member_id))
    box = vault()
    rows = session.execute(
        select(Identity, SourceRecord.source, SourceRecord.record_id)
        .join(SourceRecord, SourceRecord.id == Identity.record_id)
        .where(Identity.member_id == member.id)
        .order_by(Identity.id)
    ).all()
    identities = []
    for identity, source, record_id in rows:
        raw = box.decrypt(identity.kind, identity.value_encrypted)
        shown, _ = ids.classify(ids.IdentityKind(identity.kind), raw)
        identities.append(
            IdentityOut(
                kind=identity.kind,
                value=shown if unmasked else mask(identity.kind, shown),
                source=identity.source,
                status=identity.status,
                record=str(ids.RecordKey(source, record_id)),
            )
        )
    absorbed = store.merged_into(session, member.id)
    all_ids = [store.public_id(i) for i in (member.id, *absorbed)]
    orders = orders_for_customers(session, all_ids, limit=order_limit)
    returns = returns_for_customers(session, all_ids, limit=order_limit)
    return Member360(
        profile=store.member_out(member, asked=member_id),
        identities=identities,
        merges=store.merges_of(session, [member.id, *absorbed]),
        orders=[
            MemberOrder(member_id=placed_under, **summary.model_dump())
            for placed_under, summary in orders
        ],
        returns=[
            MemberReturn(member_id=placed_under, **summary.model_dump())
            for placed_under, summary in returns
        ],
        points_balance=points.balance_of(session, member.id),
        points_entries=points.latest_entries(session, member.id),
        tier=tiers.tier_status(session, member, (clock or SystemClock()).now()),
    )


def export_member(session: Session, member_id: str, *, clock: Clock | None = None) -> MemberExport:
    """Everything held about a member, personal data decrypted: the answer to an access request.
    Its orders, returns and ledger whole, under every id merged into it. The edges add the
    coupons and tags, as for the 360 view.

    Only HQ administrators may call it (`members.export`).
    """
    member = store.holder(session, store.load_member(session, member_id))
    records = store.domain_records(session, [member.id]).get(member.id, [])
    statuses = {
        (i.record_id, i.kind, i.id): i.status
        for i in session.scalars(select(Identity).where(Identity.member_id == member.id))
    }
    by_record: dict[int, list[str]] = {}
    for (record_id, _kind, _id), status in sorted(statuses.items(), key=lambda kv: kv[0][2]):
        by_record.setdefault(record_id, []).append(status)
    absorbed = store.merged_into(session, member.id)
    all_ids = [store.public_id(i) for i in (member.id, *absorbed)]
    return MemberExport(
        member=store.member_out(member, asked=member_id),
        merged_ids=[store.public_id(i) for i in absorbed],
        records=[
            ExportedRecord(
                source=row.source,
                record_id=row.record_id,
                name=row.name,
                attributes=row.attributes,
                identities=[
                    ExportedIdentity(
                        kind=identity.kind.value,
                        value=identity.value,
                        source=identity.source or row.source,
                        status=status,
                    )
                    for identity, status in zip(
                        record.identities, by_record.get(row.id, []), strict=True
                    )
                ],
            )
            for row, record in records
        ],
        merges=store.merges_of(session, [member.id, *absorbed]),
        orders=[
            MemberOrder(member_id=placed_under, **summary.model_dump())
            for placed_under, summary in orders_for_customers(session, all_ids, limit=None)
        ],
        returns=[
            MemberReturn(member_id=placed_under, **summary.model_dump())
            for placed_under, summary in returns_for_customers(session, all_ids, limit=None)
        ],
        points_entries=points.latest_entries(session, member.id, limit=None),
        tier=tiers.tier_status(session, member, (clock or SystemClock()).now()),
    )


def erase_member(session: Session, member_id: str, *, clock: Clock | None = None) -> MemberOut:
    """Anonymise a member on request: names, attributes and identities go; ids stay, so what
    other contexts keep under the id (orders, ledgers) still adds up. Erasing twice is harmless."""
    member = store.holder(session, store.load_member(session, member_id))
    if member.status == store.ERASED:
        return store.member_out(member, asked=member_id)
    now = (clock or SystemClock()).now()
    everyone = [member.id, *store.merged_into(session, member.id)]
    session.execute(delete(Identity).where(Identity.member_id.in_(everyone)))
    for row in session.scalars(select(SourceRecord).where(SourceRecord.member_id.in_(everyone))):
        row.name = ""
        row.attributes = {}
        row.updated_at = now
    for other in session.scalars(select(Member).where(Member.id.in_(everyone))):
        other.name = ""
        other.guide = None
        other.store = None
        other.updated_at = now
    member.status = store.ERASED
    member.marketing_sms = False
    member.social_messages = False
    member.consent_updated_at = now
    member.erased_at = now
    session.flush()
    events.record(session, MemberErased(member=store.public_id(member.id)), clock=clock)
    return store.member_out(member, asked=member_id)


def bind_guide(
    session: Session,
    member_id: str,
    binding: GuideBindingIn,
    *,
    actor: str,
    clock: Clock | None = None,
) -> MemberOut:
    """Bind the member to the guide who serves them and that guide's store (a store, not a
    warehouse), or unbind them; binding them as they are changes nothing."""
    member = store.writable(session, member_id)
    if binding.store is not None:
        try:
            node = inventory_nodes.get_node(session, binding.store)
        except UnknownNode:
            raise InvalidBinding(f"no store {binding.store}", store=binding.store) from None
        if node.type != NodeType.STORE or not node.active:
            raise InvalidBinding(
                f"{binding.store} is not an open store: members are bound to a store's guide",
                store=binding.store,
            )
    before = (member.guide, member.store)
    if before == (binding.guide, binding.store):
        return store.member_out(member, asked=member_id)
    now = (clock or SystemClock()).now()
    member.guide, member.store = binding.guide, binding.store
    member.updated_at = now
    session.flush()
    events.record(
        session,
        GuideBound(
            member=store.public_id(member.id),
            guide=binding.guide,
            store=binding.store,
            previous_guide=before[0],
            previous_store=before[1],
            actor=actor,
            reason=binding.reason,
        ),
        clock=clock,
    )
    return store.member_out(member, asked=member_id)


def update_consent(
    session: Session, member_id: str, consent: ConsentIn, *, clock: Clock | None = None
) -> MemberOut:
    member = store.writable(session, member_id)
    wanted = consent.model_dump(exclude_none=True)
    if all(getattr(member, purpose) == value for purpose, value in wanted.items()):
        return store.member_out(member, asked=member_id)
    now = (clock or SystemClock()).now()
    for purpose, value in wanted.items():
        setattr(member, purpose, value)
    member.consent_updated_at = now
    member.updated_at = now
    session.flush()
    events.record(
        session,
        ConsentChanged(
            member=store.public_id(member.id),
            marketing_sms=member.marketing_sms,
            social_messages=member.social_messages,
        ),
        clock=clock,
    )
    return store.member_out(member, asked=member_id)
