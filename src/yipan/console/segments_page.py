"""The segments page's view models (marketing): saved segments with their member counts, and
the form that saves a new one, checked here and by the insights segments service.

Counts are those of the visitor's data scope (a store's staff count the members their store
sees). Writing needs `segments.write` (HQ and marketers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE, Pager, pager
from yipan.data_scope import visible_nodes
from yipan.insights.domain import tags as rules
from yipan.insights.domain.segments import InvalidSegmentFilter
from yipan.insights.service import segments

READ_PERMISSION = "members.read"
WRITE_PERMISSION = "segments.write"
# Filters chosen with check boxes (their values are a closed set), and typed ones.
CHOICES: dict[str, tuple[str, ...]] = {
    "rfm_segment": tuple(rules.RfmSegment),
    "lapse_risk": tuple(rules.LapseRisk),
    "channel": tuple(rules.ChannelPreference),
    "scene": tuple(rules.Scene),
    "price_band": tuple(rules.PriceBand),
}
TYPED = ("tier", "store", "category", "size")
_SPLIT = re.compile(r"[\s,，、]+")


@dataclass(frozen=True)
class SegmentRow:
    id: int
    name: str
    description: str
    filters: dict[str, list[str]]
    member_count: int


@dataclass
class SegmentForm:
    """The form as typed: a refused form comes back with it."""

    name: str = ""
    description: str = ""
    chosen: dict[str, list[str]] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)

    def filters(self) -> dict[str, list[str]]:
        doc = {name: values for name, values in self.chosen.items() if values}
        for name, text in self.typed.items():
            values = [v for v in _SPLIT.split(text.strip()) if v]
            if values:
                doc[name] = values
        return doc

    def is_chosen(self, name: str, value: str) -> bool:
        return value in self.chosen.get(name, [])


def read_form(form: Mapping[str, Sequence[str]]) -> SegmentForm:
    def one(name: str) -> str:
        values = form.get(name) or [""]
        return str(values[0])

    return SegmentForm(
        name=one("name"),
        description=one("description"),
        chosen={name: [str(v) for v in form.get(name, [])] for name in CHOICES},
        typed={name: one(name) for name in TYPED},
    )


@dataclass(frozen=True)
class SegmentsPage:
    rows: list[SegmentRow]
    pager: Pager | None
    form: SegmentForm
    notice: Notice | None = None
    form_notice: Notice | None = None


def segments_page(
    session: Session,
    scope: Scope,
    page: int,
    *,
    form: SegmentForm | None = None,
    notice: Notice | None = None,
    form_notice: Notice | None = None,
) -> SegmentsPage:
    """One page of saved segments by name, each with the count of members the scope sees."""
    found, total = segments.list_segments(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    paging = pager(total, page)
    if page > paging.pages:
        past = Notice("segments.page_past_end", {"page": page, "pages": paging.pages}, status=404)
        return SegmentsPage([], None, form or SegmentForm(), past, form_notice)
    visible = visible_nodes(session, scope)
    rows = [
        SegmentRow(
            s.id,
            s.name,
            s.description,
            s.filters,
            segments.count_members(session, s.filters, visible=visible),
        )
        for s in found
    ]
    return SegmentsPage(rows, paging, form or SegmentForm(), notice, form_notice)


def create_segment(session: Session, form: SegmentForm, by: str) -> str | Notice:
    """Save the form's segment; its name, or the notice saying why not (nothing is written)."""
    name = form.name.strip()
    if not name:
        return Notice("segments.name_missing", status=422)
    if len(name) > segments.MAX_NAME:
        return Notice("segments.name_too_long", {"max": segments.MAX_NAME}, status=422)
    if len(form.description.strip()) > segments.MAX_DESCRIPTION:
        return Notice(
            "segments.description_too_long", {"max": segments.MAX_DESCRIPTION}, status=422
        )
    try:
        made = segments.create_segment(
            session, name=name, description=form.description, filters=form.filters(), by=by
        )
    except segments.SegmentNameTaken:
        return Notice("segments.name_taken", {"name": name}, status=409)
    except InvalidSegmentFilter as refused:
        return Notice("segments.bad_filter", {"message": refused.message}, status=422)
    return made.name


def delete_segment(session: Session, segment_id: int | None) -> str | Notice:
    if segment_id is None:
        return Notice("segments.unknown", status=404)
    try:
        found = segments.get_segment(session, segment_id)
        segments.delete_segment(session, segment_id)
    except segments.UnknownSegment:
        return Notice("segments.unknown", status=404)
    return found.name
