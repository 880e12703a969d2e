"""Identity resolution: which source records are one member, and why.

A record from a source system (a POS card holder, an online-shop account, a social profile, a
marketplace buyer) carries identities. Records sharing a *strong* identifier (phone, e-mail, POS
card, social unionid, after normalisation) are one member, unless joining them would put two
different POS cards (or unionids) held under clearly different names into one member: then the
join is refused and a `ConflictReview` goes to a person instead. Junk values (empty, one repeated
character, known test numbers, placeholder e-mails; see `identifiers`) never join anything.

Why the result is defined by a canonical order. Without conflicts the members are the connected
components of "shares a strong identifier", which no order of arrival can change. With conflicts
no rule can be both order-free and incremental without ever splitting a member: take r1 (card X,
Zhang, phone P), r2 (card Y, Li, phone P) and r3 (phone P only). Alone with either, r3 must join
it; with both, it cannot join both. So the batch result is *defined* as processing the records in
ascending `RecordKey` order, which makes it a function of the set of records alone; `decide` runs
the very same step on one new record, so feeding records in that order reproduces the batch
exactly, and any order reproduces it whenever no conflict is reported. Where a conflict is
reported the incremental outcome may depend on arrival order; the review item is what settles it
(a person merges, or records a `Separation` that every later run honours).

A member's key is the smallest record key among its records: order-free, but it changes when a
record with a smaller key joins, so a service keeps a surrogate id and stores the key as data.

Written by hand: the union-find carries conflict checks and separations inside each union, which
no graph library offers. Cost: one sort of the record keys
(timsort, linear on already ordered input), then O(n α(n)) for the union-find; per-group conflict
data merges small into large.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

from yipan.members.domain.identifiers import (
    DEFAULT_POLICY,
    IdentifierKey,
    IdentityKind,
    IdentityRow,
    MatchPolicy,
    RecordKey,
    SourceRecord,
    identity_rows,
    is_junk,
    normalise,
    normalise_name,
)


class ConflictReason(StrEnum):
    DIFFERENT_HOLDERS = "different_holders"  # two cards/unionids, two clearly different names
    KEPT_APART = "kept_apart"  # a person decided these records are different people


class MergeKind(StrEnum):
    RECORD_LINKED = "record_linked"  # a lone incoming record joined a member
    MEMBERS_MERGED = "members_merged"  # the record bridged two members that existed before


class Outcome(StrEnum):
    NEW_MEMBER = "new_member"  # no member holds any of the record's identifiers
    ATTACH = "attach"  # joined exactly one existing member
    MERGE = "merge"  # joined several members, which become one
    CONFLICT = "conflict"  # every member it touches refused it; it stands alone, under review


@dataclass(frozen=True, order=True, slots=True)
class Separation:
    """Two records a person declared to be different people; no resolution joins them again."""

    first: RecordKey
    second: RecordKey

    @classmethod
    def between(cls, a: RecordKey, b: RecordKey) -> Separation:
        if a == b:
            raise ValueError("a record cannot be kept apart from itself")
        return cls(min(a, b), max(a, b))


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeRecord:
    """Why two parts became one member: record `via` carries `identifier`, which the other part
    held too, and `rule` names the kind of identifier that joined them (`same_phone`, ...).

    `survivor` and `absorbed` are the two parts' member keys just before the join (the smaller one
    survives). Splitting this merge back means keeping exactly these two records apart.
    """

    survivor: RecordKey
    absorbed: RecordKey
    rule: str
    identifier: IdentifierKey
    via: RecordKey
    kind: MergeKind


@dataclass(frozen=True, slots=True)
class Claim:
    """One side of a conflict: `record` holds `value` of `kind` under the name `name` (as sent)."""

    record: RecordKey
    kind: IdentityKind
    value: str
    name: str


@dataclass(frozen=True, slots=True)
class ConflictReview:
    """A join that was refused: `record` (in member `member_key`) shares `shared` with member
    `other_member`, but `left` and `right` say they are different people (or a `separation` does).
    """

    reason: ConflictReason
    record: RecordKey
    member_key: RecordKey
    other_member: RecordKey
    shared: IdentifierKey
    left: Claim | None = None
    right: Claim | None = None
    separation: Separation | None = None


@dataclass(frozen=True, slots=True)
class Member:
    key: RecordKey
    records: tuple[RecordKey, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    """A batch result. `records` are in canonical (key) order; `member_of` maps every one."""

    records: tuple[SourceRecord, ...]
    member_of: Mapping[RecordKey, RecordKey] = field(hash=False)
    merges: tuple[MergeRecord, ...]
    reviews: tuple[ConflictReview, ...]
    policy: MatchPolicy

    def members(self) -> tuple[Member, ...]:
        grouped: dict[RecordKey, list[RecordKey]] = {}
        for record in self.records:
            grouped.setdefault(self.member_of[record.key], []).append(record.key)
        return tuple(Member(key, tuple(keys)) for key, keys in sorted(grouped.items()))

    def identity_rows(self) -> Iterator[IdentityRow]:
        """Generated on demand: a million records carry several million identities."""
        for record in self.records:
            yield from identity_rows(record, self.member_of[record.key], self.policy)


# --- conflict data per group --------------------------------------------------------------------

# (kind, value, normalised name, record key, name as sent); only claims with a non-empty name.
_ClaimTuple = tuple[IdentityKind, str, str, RecordKey, str]
_SMALL = 8


class _ClaimIndex:
    """Counts that answer "does any claim differ from this one in value AND name?" in O(1).

    Claims differing from (k, v, n) in both = all of kind k − same value − same name + both same.
    Used once a group holds more than `_SMALL` claims, so a busy group is not scanned per record.
    """

    __slots__ = ("claims", "per_kind", "per_name", "per_value")

    def __init__(self, claims: Iterable[_ClaimTuple]) -> None:
        self.claims: dict[tuple[IdentityKind, str, str], _ClaimTuple] = {}
        self.per_kind: dict[IdentityKind, int] = {}
        self.per_value: dict[tuple[IdentityKind, str], int] = {}
        self.per_name: dict[tuple[IdentityKind, str], int] = {}
        for claim in claims:
            self.add(claim)

    def __len__(self) -> int:
        return len(self.claims)

    def add(self, claim: _ClaimTuple) -> None:
        kind, value, name, record, _ = claim
        held = self.claims.get((kind, value, name))
        if held is not None:
            if record < held[3]:
                self.claims[(kind, value, name)] = claim
            return
        self.claims[(kind, value, name)] = claim
        self.per_kind[kind] = self.per_kind.get(kind, 0) + 1
        self.per_value[(kind, value)] = self.per_value.get((kind, value), 0) + 1
        self.per_name[(kind, name)] = self.per_name.get((kind, name), 0) + 1

    def clashes_with(self, kind: IdentityKind, value: str, name: str) -> bool:
        differing = (
            self.per_kind.get(kind, 0)
            - self.per_value.get((kind, value), 0)
            - self.per_name.get((kind, name), 0)
            + ((kind, value, name) in self.claims)
        )
        return differing > 0


_Claims = tuple[_ClaimTuple, ...] | _ClaimIndex | None


def _claim_list(claims: _Claims) -> Iterable[_ClaimTuple]:
    if claims is None:
        return ()
    return claims.claims.values() if isinstance(claims, _ClaimIndex) else claims


def _different(a: _ClaimTuple, b: _ClaimTuple) -> bool:
    return a[0] == b[0] and a[1] != b[1] and a[2] != b[2]


def _find_clash(left: _Claims, right: _Claims) -> tuple[_ClaimTuple, _ClaimTuple] | None:
    """The smallest pair (left claim, right claim) of different holders, or None."""
    if left is None or right is None:
        return None
    if isinstance(left, tuple) and isinstance(right, tuple):
        pairs = [(a, b) for a in left for b in right if _different(a, b)]
        return min(pairs, key=_pair_order) if pairs else None
    flipped = isinstance(left, _ClaimIndex) and (
        not isinstance(right, _ClaimIndex) or len(left) > len(right)
    )
    small, big = (right, left) if flipped else (left, right)
    assert isinstance(big, _ClaimIndex)
    found: list[tuple[_ClaimTuple, _ClaimTuple]] = []
    for claim in _claim_list(small):
        if big.clashes_with(claim[0], claim[1], claim[2]):
            partner = min(
                (b for b in big.claims.values() if _different(claim, b)), key=_claim_order
            )
            found.append((partner, claim) if flipped else (claim, partner))
    return min(found, key=_pair_order) if found else None


def _claim_order(claim: _ClaimTuple) -> tuple[RecordKey, str, str]:
    return claim[3], claim[0], claim[1]


def _pair_order(
    pair: tuple[_ClaimTuple, _ClaimTuple],
) -> tuple[tuple[RecordKey, str, str], tuple[RecordKey, str, str]]:
    return _claim_order(pair[0]), _claim_order(pair[1])


def _merge_claims(a: _Claims, b: _Claims) -> _Claims:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) + len(b) <= _SMALL:
        kept: dict[tuple[IdentityKind, str, str], _ClaimTuple] = {}
        for claim in (*a, *b):
            held = kept.get(claim[:3])
            if held is None or claim[3] < held[3]:
                kept[claim[:3]] = claim
        return tuple(kept.values())
    if isinstance(b, _ClaimIndex) and (not isinstance(a, _ClaimIndex) or len(b) > len(a)):
        a, b = b, a
    index = a if isinstance(a, _ClaimIndex) else _ClaimIndex(a)
    for claim in _claim_list(b):
        index.add(claim)
    return index


def _prepare(
    record: SourceRecord, policy: MatchPolicy
) -> tuple[tuple[IdentifierKey, ...], tuple[_ClaimTuple, ...] | None]:
    """The record's strong identifiers, sorted, and its named claims on exclusive kinds."""
    strong, exclusive = policy.strong_kinds, policy.exclusive_kinds
    keys: set[IdentifierKey] = set()
    claimed: list[tuple[IdentityKind, str]] = []
    for identity in record.identities:
        kind = identity.kind
        if kind not in strong and kind not in exclusive:
            continue
        value = normalise(kind, identity.value)
        if value is None or is_junk(kind, value, policy):
            continue
        if kind in strong:
            keys.add(IdentifierKey(kind, value))
        if kind in exclusive:
            claimed.append((kind, value))
    claims = None
    if claimed:
        name = normalise_name(record.name, policy)
        if name:
            key = record.key
            claims = tuple(dict.fromkeys((k, v, name, key, record.name) for k, v in claimed))
    return (tuple(sorted(keys)) if len(keys) > 1 else tuple(keys)), claims


# --- the resolver -------------------------------------------------------------------------------


class _Resolver:
    """Union-find over records with an index identifier → record(s), checked unions, history.

    A value normally points at one record; it points at several only when holders of it were
    refused a join, and each lookup shrinks that list to one record per current group.
    """

    def __init__(self, policy: MatchPolicy, separations: Iterable[Separation]) -> None:
        self.policy = policy
        self.keys: list[RecordKey] = []
        self.parent: list[int] = []
        self.size: list[int] = []
        self.least: list[RecordKey] = []
        self.claims: list[_Claims] = []
        self.index: dict[IdentityKind, dict[str, int | list[int]]] = {
            kind: {} for kind in policy.strong_kinds
        }
        self.partners: dict[RecordKey, set[RecordKey]] = {}
        for sep in separations:
            self.partners.setdefault(sep.first, set()).add(sep.second)
            self.partners.setdefault(sep.second, set()).add(sep.first)
        self.position: dict[RecordKey, int] = {}
        self.apart: dict[int, list[int]] = {}
        self.merges: list[MergeRecord] = []
        self.reviews: list[ConflictReview] = []

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def member_key(self, i: int) -> RecordKey:
        return self.least[self.find(i)]

    def _node(self, key: RecordKey, claims: _Claims) -> int:
        i = len(self.keys)
        self.keys.append(key)
        self.parent.append(i)
        self.size.append(1)
        self.least.append(key)
        self.claims.append(claims)
        if key in self.partners:
            self.position[key] = i
            self.apart[i] = [i]
        return i

    def _union(self, a: int, b: int) -> int:
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        self.least[a] = min(self.least[a], self.least[b])
        self.claims[a] = _merge_claims(self.claims[a], self.claims[b])
        self.claims[b] = None
        moved = self.apart.pop(b, None)
        if moved:
            self.apart.setdefault(a, []).extend(moved)
        return a

    def _touched(self, keys: Sequence[IdentifierKey]) -> dict[int, IdentifierKey]:
        """Current groups holding any of `keys`, each with the smallest key it shares."""
        touched: dict[int, IdentifierKey] = {}
        for key in keys:
            values = self.index[key.kind]
            held = values.get(key.value)
            if held is None:
                continue
            if isinstance(held, int):
                touched.setdefault(self.find(held), key)
                continue
            roots = list(dict.fromkeys(self.find(i) for i in held))
            values[key.value] = roots[0] if len(roots) == 1 else roots
            for root in roots:
                touched.setdefault(root, key)
        return touched

    def _index(self, i: int, keys: Sequence[IdentifierKey]) -> None:
        root = self.find(i)
        for key in keys:
            values = self.index[key.kind]
            held = values.get(key.value)
            if held is None:
                values[key.value] = i
            elif isinstance(held, int):
                if self.find(held) != root:
                    values[key.value] = [held, i]
            elif all(self.find(j) != root for j in held):
                held.append(i)

    def _kept_apart(self, a: int, b: int) -> Separation | None:
        mine, theirs = self.apart.get(a), self.apart.get(b)
        if not mine or not theirs:
            return None
        if len(mine) > len(theirs):
            mine, b = theirs, a
        found = [
            Separation.between(self.keys[m], other)
            for m in mine
            for other in self.partners[self.keys[m]]
            if other in self.position and self.find(self.position[other]) == b
        ]
        return min(found) if found else None

    def seed(self, records: Sequence[SourceRecord]) -> None:
        """Load an existing member as it is: its records were joined before, checks included."""
        first: int | None = None
        for record in records:
            keys, claims = _prepare(record, self.policy)
            i = self._node(record.key, claims)
            if first is not None:
                self._union(self.find(first), i)
            first = i
            self._index(i, keys)

    def add(self, record: SourceRecord) -> tuple[list[RecordKey], list[RecordKey]]:
        """Resolve one record against everything added so far: (members joined, members refused)."""
        keys, claims = _prepare(record, self.policy)
        touched = self._touched(keys) if keys else {}
        i = self._node(record.key, claims)
        joined: list[RecordKey] = []
        refused: list[RecordKey] = []
        least = self.least
        for group in sorted(touched, key=least.__getitem__):
            current = self.find(i)
            shared = touched[group]
            separation = self._kept_apart(current, group)
            clash = None if separation else _find_clash(self.claims[current], self.claims[group])
            if separation or clash:
                left, right = (_as_claim(c) for c in clash) if clash else (None, None)
                reason = (
                    ConflictReason.KEPT_APART if separation else ConflictReason.DIFFERENT_HOLDERS
                )
                self.reviews.append(
                    ConflictReview(
                        reason,
                        record.key,
                        least[current],
                        least[group],
                        shared,
                        left,
                        right,
                        separation,
                    )
                )
                refused.append(least[group])
                continue
            mine, theirs = least[current], least[group]
            self.merges.append(
                MergeRecord(
                    survivor=min(mine, theirs),
                    absorbed=max(mine, theirs),
                    rule=f"same_{shared.kind.value}",
                    identifier=shared,
                    via=record.key,
                    kind=MergeKind.RECORD_LINKED
                    if self.size[current] == 1
                    else MergeKind.MEMBERS_MERGED,
                )
            )
            joined.append(theirs)
            self._union(current, group)
        if keys:
            self._index(i, keys)
        return joined, refused


def _as_claim(claim: _ClaimTuple) -> Claim:
    return Claim(record=claim[3], kind=claim[0], value=claim[1], name=claim[4])


# --- batch --------------------------------------------------------------------------------------


def resolve(
    records: Iterable[SourceRecord],
    policy: MatchPolicy = DEFAULT_POLICY,
    separations: Iterable[Separation] = (),
) -> Resolution:
    """Group `records` into members; the result depends on the set of records, not their order.

    A bulk caller may pause CPython's cyclic garbage collector around the call (`gc.freeze()` or
    `gc.disable()`): nothing here forms cycles, and on a million records the collector's rescans
    of the input cost more than the resolution itself.
    """
    ordered = sorted(records, key=lambda r: (r.source, r.record_id))
    for before, after in pairwise(ordered):
        if before.source == after.source and before.record_id == after.record_id:
            raise ValueError(f"record {before.key} appears more than once")
    resolver = _Resolver(policy, separations)
    for record in ordered:
        resolver.add(record)
    member_of = {key: resolver.member_key(i) for i, key in enumerate(resolver.keys)}
    return Resolution(
        records=tuple(ordered),
        member_of=member_of,
        merges=tuple(resolver.merges),
        reviews=tuple(resolver.reviews),
        policy=policy,
    )


# --- incremental --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberGroup:
    """An existing member as the service loads it: all of its source records."""

    records: tuple[SourceRecord, ...]

    def __post_init__(self) -> None:
        if not self.records:
            raise ValueError("a member has at least one record")

    @property
    def key(self) -> RecordKey:
        return min(r.key for r in self.records)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one new record. `member_key` is the key of the member it ends up in; when a
    joined member's key is not `member_key`, that member was absorbed (or re-keyed by a record with
    a smaller key).
    """

    outcome: Outcome
    member_key: RecordKey
    joined: tuple[RecordKey, ...]
    refused: tuple[RecordKey, ...]
    merges: tuple[MergeRecord, ...]
    reviews: tuple[ConflictReview, ...]
    record: SourceRecord
    policy: MatchPolicy = field(default=DEFAULT_POLICY, repr=False)

    @property
    def identities(self) -> tuple[IdentityRow, ...]:
        """The record's identities as rows of its member. Worked out when asked: the bulk ingest,
        which decides hundreds of thousands of records, classifies them once on its own."""
        return identity_rows(self.record, self.member_key, self.policy)


def decide(
    record: SourceRecord,
    touched: Iterable[MemberGroup],
    policy: MatchPolicy = DEFAULT_POLICY,
    separations: Iterable[Separation] = (),
) -> Decision:
    """Resolve one new record against the members that hold any of its identifiers.

    Members passed in that share no strong identifier with the record are ignored, so the service
    may look members up generously. Runs the same step as `resolve`, so members fed in key order
    end exactly as the batch would put them.
    """
    groups = sorted(touched, key=lambda g: g.key)
    seen = {record.key}
    for group in groups:
        for member_record in group.records:
            if member_record.key in seen:
                raise ValueError(
                    f"record {member_record.key} is already placed; re-resolve instead"
                )
            seen.add(member_record.key)
    resolver = _Resolver(policy, separations)
    for group in groups:
        resolver.seed(group.records)
    joined, refused = resolver.add(record)
    member_key = resolver.member_key(len(resolver.keys) - 1)
    if joined:
        outcome = Outcome.ATTACH if len(joined) == 1 else Outcome.MERGE
    else:
        outcome = Outcome.CONFLICT if refused else Outcome.NEW_MEMBER
    return Decision(
        outcome=outcome,
        member_key=member_key,
        joined=tuple(sorted(joined)),
        refused=tuple(sorted(refused)),
        merges=tuple(resolver.merges),
        reviews=tuple(resolver.reviews),
        record=record,
        policy=policy,
    )


# --- un-merge -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberPart:
    member_key: RecordKey
    records: tuple[RecordKey, ...]
    identities: tuple[IdentityRow, ...]


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """How to undo a merge: persist `separation`, then give each part its records' history.

    The part holding the member's old key keeps the member; every other part becomes a new one.
    `reviews` lists joins the split now refuses, so a person sees what else it touched.
    """

    separation: Separation
    parts: tuple[MemberPart, ...]
    merges: tuple[MergeRecord, ...]
    reviews: tuple[ConflictReview, ...]

    def part_of(self, record: RecordKey) -> MemberPart:
        for part in self.parts:
            if record in part.records:
                return part
        raise KeyError(record)


def plan_unmerge(
    member_records: Sequence[SourceRecord],
    merge: MergeRecord,
    policy: MatchPolicy = DEFAULT_POLICY,
    separations: Iterable[Separation] = (),
) -> SplitPlan:
    """Split a member along one of its merges, re-resolving its records with the two sides apart.

    Records that joined after the merge go where resolution puts them with the separation in
    force, which is where they would be had the merge never happened.
    """
    present = {r.key for r in member_records}
    for anchor in (merge.survivor, merge.absorbed):
        if anchor not in present:
            raise ValueError(f"record {anchor} of the merge is not among the member's records")
    separation = Separation.between(merge.survivor, merge.absorbed)
    resolution = resolve(member_records, policy, [*separations, separation])
    by_key = {r.key: r for r in resolution.records}
    parts = tuple(
        MemberPart(
            member_key=m.key,
            records=m.records,
            identities=tuple(
                row for key in m.records for row in identity_rows(by_key[key], m.key, policy)
            ),
        )
        for m in resolution.members()
    )
    return SplitPlan(separation, parts, resolution.merges, resolution.reviews)
