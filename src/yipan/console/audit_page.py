"""The audit log page: every write, newest first, for HQ administrators (`audit.read`).

Read through the auth context's audit service only. The log only grows, so it pages by keyset
(`before` = the last id seen) rather than by page number: a page stays the same however many
rows arrive meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from yipan.auth.schemas import AuditEntryOut
from yipan.auth.service import audit
from yipan.console.notice import Notice
from yipan.console.paging import MAX_ID, PAGE_SIZE, positive_int

READ_PERMISSION = "audit.read"
MAX_FILTER_LENGTH = 200


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""

    def query(self, before: int | None = None) -> dict[str, str]:
        wanted = {"actor": self.actor, "action": self.action}
        if before is not None:
            wanted["before"] = str(before)
        return {k: v for k, v in wanted.items() if v}


@dataclass(frozen=True)
class AuditPage:
    filters: AuditFilters
    notice: Notice | None = None
    rows: list[AuditEntryOut] = field(default_factory=list)
    older: int | None = None  # the `before` of the next (older) page, when there is one


def audit_page(
    session: Session, actor: str | None, action: str | None, before: str | None
) -> AuditPage:
    """One page of the log matching the filters (an exact actor name, an exact action)."""
    filters = AuditFilters((actor or "").strip(), (action or "").strip())
    if max(len(filters.actor), len(filters.action)) > MAX_FILTER_LENGTH:
        notice = Notice("audit.filter_too_long", {"max": MAX_FILTER_LENGTH}, status=422)
        return AuditPage(AuditFilters(), notice)
    try:
        before_id = positive_int(before, default=None, ceiling=MAX_ID)
    except ValueError:
        return AuditPage(filters, Notice("audit.bad_cursor", status=422))
    rows = audit.list_audit(
        session,
        actor=filters.actor or None,
        action=filters.action or None,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return AuditPage(filters, rows=rows[:PAGE_SIZE], older=older)
