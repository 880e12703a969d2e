"""The demo's people: three member systems that overlap the way real ones do, deterministic."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from yipan.demo.network import demo_nodes
from yipan.demo.people import (
    JUNK_PHONES,
    ONLINE,
    POS,
    SOCIAL,
    People,
    demo_people,
    people_count,
)
from yipan.inventory.domain import NodeType
from yipan.members.domain import identifiers as ids
from yipan.members.domain import identity
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import SourceRecordIn

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _people(seed: int, scale: float) -> People:
    stores = [
        n
        for n in demo_nodes(seed, scale=scale)
        if n.type in (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)
    ]
    return demo_people(seed, stores, now=NOW, scale=scale)


@pytest.fixture(scope="module")
def many() -> People:
    return _people(7, 0.3)


def test_the_same_seed_makes_the_same_people_and_another_seed_others() -> None:
    first, again, other = _people(7, 0.05), _people(7, 0.05), _people(8, 0.05)
    assert first == again
    assert len(first.persons) == people_count(0.05)
    assert other.records != first.records


def test_a_third_of_the_people_are_in_two_systems_or_three(many: People) -> None:
    systems = Counter(len(p.systems) for p in many.persons)
    total = len(many.persons)
    assert 0.27 <= systems[2] / total <= 0.33
    assert 0.08 <= systems[3] / total <= 0.12
    sources = Counter(r.source for r in many.records)
    assert set(sources) == {POS, ONLINE, SOCIAL}
    assert sources[POS] > sources[ONLINE] > sources[SOCIAL]
    # Each system got its record when the person joined it: the records come in that order.
    assert [r.joined for r in many.records] == sorted(r.joined for r in many.records)


def test_every_record_is_valid_input_for_the_ingest(many: People) -> None:
    for record in many.records[:3000]:
        built = record.record_in()
        assert SourceRecordIn.model_validate(built.model_dump()) == built


def test_records_of_one_person_share_the_phone_however_it_is_written(many: People) -> None:
    phones = Counter(p.phone for p in many.persons if not p.household)
    assert max(phones.values()) == 1  # one number per person
    by_number = {p.number: p for p in many.persons}
    junk = written = 0
    for record in many.records:
        for kind, value in record.identities:
            if kind is not IdentityKind.PHONE:
                continue
            written += 1
            if value in JUNK_PHONES:
                junk += 1
                continue
            person = by_number[record.person]
            if not person.household:
                assert ids.normalise_phone(value) == person.phone
    assert 0.005 <= junk / written <= 0.02


def test_households_share_one_phone_under_two_names_and_two_cards(many: People) -> None:
    households = [p for p in many.persons if p.household]
    assert many.households >= 2
    by_person = defaultdict(list)
    for record in many.records:
        by_person[record.person].append(record)
    for first, second in zip(households[::2], households[1::2], strict=True):
        [a], [b] = by_person[first.number], by_person[second.number]
        assert first.name != second.name
        assert dict(a.identities)[IdentityKind.PHONE] == dict(b.identities)[IdentityKind.PHONE]
        assert a.record_id != b.record_id


def test_the_identity_rules_join_records_into_fewer_members_and_raise_reviews() -> None:
    people = _people(7, 0.05)
    records = [
        ids.SourceRecord(
            r.source,
            r.record_id,
            tuple(ids.Identity(kind, value) for kind, value in r.identities),
            r.name,
        )
        for r in people.records
    ]
    resolved = identity.resolve(records)
    members = resolved.members()
    assert len(members) < 0.8 * len(records)
    assert len(resolved.reviews) >= people.households
    # Most people in several systems end as one member: the phone or the unionid joins them.
    found: dict[int, set[ids.RecordKey]] = defaultdict(set)
    for r in people.records:
        found[r.person].add(resolved.member_of[ids.RecordKey(*r.key)])
    joined = sum(1 for p in people.persons if len(p.systems) > 1 and len(found[p.number]) == 1)
    several = sum(1 for p in people.persons if len(p.systems) > 1)
    assert joined / several > 0.8
