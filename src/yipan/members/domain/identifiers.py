"""Identifiers as sources send them, and the rules that say which ones may join records.

Normalisation is deliberately narrow: a phone is a mainland mobile (11 digits, 1[3-9]) after
stripping separators and a +86/0086 prefix, an e-mail is trimmed and lower-cased. Anything that
does not fit is kept as sent (INVALID) but never used to join members; neither is junk (BLOCKED):
empty values, one repeated character, known test numbers and placeholder addresses. Hand-written
because `phonenumbers` would parse far more than this one rule, much slower over a million rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    POS_CARD = "pos_card"
    ONLINE_ACCOUNT = "online_account"
    SOCIAL_OPENID = "social_openid"
    SOCIAL_UNIONID = "social_unionid"
    MARKETPLACE_BUYER = "marketplace_buyer"


class SourceSystem(StrEnum):
    """The systems Yipan knows by name; a connector may use any other string as a source."""

    POS = "pos"
    ONLINE_SHOP = "online_shop"
    SOCIAL = "social"
    MARKETPLACE = "marketplace"


class IdentityStatus(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # does not parse as its kind, e.g. a landline in the phone field
    BLOCKED = "blocked"  # parses, but is junk: empty, repeated digits, a test number


# An openid is per app and an account id per shop: they find a record again, they do not say two
# records are one person. A card or a unionid is one person's, hence "exclusive".
STRONG_KINDS = frozenset(
    {IdentityKind.PHONE, IdentityKind.EMAIL, IdentityKind.POS_CARD, IdentityKind.SOCIAL_UNIONID}
)
EXCLUSIVE_KINDS = frozenset({IdentityKind.POS_CARD, IdentityKind.SOCIAL_UNIONID})
DEFAULT_BLOCKED_PHONES = frozenset({"13800138000", "13900139000"})
DEFAULT_BLOCKED_EMAILS = frozenset(
    {"test@test.com", "test@qq.com", "test@163.com", "a@a.com", "123@qq.com", "no@email.com"}
)
# RFC 2606 / 6761 reserved names: no real mailbox can live there.
DEFAULT_BLOCKED_EMAIL_DOMAINS = frozenset(
    {"example.com", "example.net", "example.org", "example", "test", "invalid", "localhost"}
)
# What cashiers type when the customer gave no name; it says nothing about who holds the card.
DEFAULT_PLACEHOLDER_NAMES = frozenset(
    {"会员", "顾客", "客户", "散客", "先生", "女士", "测试"}
) | frozenset({"test", "unknown", "n/a", "none", "null"})


class RecordKey(NamedTuple):
    """A record's identity in its source; a tuple because a million of them get sorted and hashed."""

    source: str
    record_id: str

    def __str__(self) -> str:
        return f"{self.source}:{self.record_id}"


class IdentifierKey(NamedTuple):
    kind: IdentityKind
    value: str  # normalised

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


@dataclass(frozen=True, slots=True)
class Identity:
    """One identifier as a source sent it. `source` defaults to the carrying record's source."""

    kind: IdentityKind
    value: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class SourceRecord:
    source: str
    record_id: str
    identities: tuple[Identity, ...] = ()
    name: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.source, self.record_id)


def _default_blocked() -> dict[IdentityKind, frozenset[str]]:
    return {IdentityKind.PHONE: DEFAULT_BLOCKED_PHONES, IdentityKind.EMAIL: DEFAULT_BLOCKED_EMAILS}


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """Which kinds join records, which ones exclude each other, and which values are junk.

    Blocked values and placeholder names may be given in any spelling the normaliser accepts
    ("138-0013-8000", "N/A"); they are stored normalised.
    """

    strong_kinds: frozenset[IdentityKind] = STRONG_KINDS
    exclusive_kinds: frozenset[IdentityKind] = EXCLUSIVE_KINDS
    blocked: Mapping[IdentityKind, frozenset[str]] = field(
        default_factory=_default_blocked, hash=False
    )
    blocked_email_domains: frozenset[str] = DEFAULT_BLOCKED_EMAIL_DOMAINS
    placeholder_names: frozenset[str] = DEFAULT_PLACEHOLDER_NAMES

    def __post_init__(self) -> None:
        blocked = {
            kind: frozenset(v for v in (normalise(kind, raw) for raw in values) if v is not None)
            for kind, values in self.blocked.items()
        }
        object.__setattr__(self, "blocked", blocked)
        placeholders = frozenset(_name_key(n) for n in self.placeholder_names)
        object.__setattr__(self, "placeholder_names", placeholders)

    def blocking(self, kind: IdentityKind, *values: str) -> MatchPolicy:
        """This policy with more junk values of `kind` (a store's own phone, a shared test card)."""
        blocked = dict(self.blocked)
        blocked[kind] = blocked.get(kind, frozenset()) | frozenset(values)
        return replace(self, blocked=blocked)


# --- normalisation ------------------------------------------------------------------------------

_PHONE_NOISE = str.maketrans("", "", " \t\u00a0-()./")
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _nfkc(text: str) -> str:
    # Full-width digits and spaces come from Chinese input methods; ASCII needs no work.
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def normalise_phone(raw: str) -> str | None:
    """The 11-digit mainland mobile number in `raw`, or None when it is not one."""
    digits = _nfkc(raw).strip().translate(_PHONE_NOISE)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if _MAINLAND_MOBILE.fullmatch(digits) else None


def normalise_email(raw: str) -> str | None:
    """Lower-cased, trimmed address, or None when it has no local part or no dotted domain."""
    text = _nfkc(raw).strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or " " in text or "." not in domain.strip("."):
        return None
    return text


def normalise(kind: IdentityKind, raw: str) -> str | None:
    """The comparable form of a value of `kind`, or None when it cannot be one."""
    if kind is IdentityKind.PHONE:
        return normalise_phone(raw)
    if kind is IdentityKind.EMAIL:
        return normalise_email(raw)
    if kind is IdentityKind.POS_CARD:
        # Cards are printed in groups of digits; the spaces are not part of the number.
        return "".join(_nfkc(raw).split())
    return _nfkc(raw).strip()


_NOT_ALNUM = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 16)
def _name_key(raw: str) -> str:
    # Cached: a million records carry far fewer distinct names.
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", raw).casefold())


DEFAULT_POLICY = MatchPolicy()


def is_junk(kind: IdentityKind, value: str, policy: MatchPolicy = DEFAULT_POLICY) -> bool:
    """True for a normalised value that must never join records."""
    if not value or value in policy.blocked.get(kind, ()):
        return True
    if kind is IdentityKind.EMAIL:
        # The domain and each parent of it: mail.example.com, example.com, com.
        domain = value.rpartition("@")[2]
        blocked_domains = policy.blocked_email_domains
        while domain:
            if domain in blocked_domains:
                return True
            domain = domain.partition(".")[2]
        return False
    return value.count(value[0]) == len(value)  # 00000000, 11111111111, "x"


def classify(
    kind: IdentityKind, raw: str, policy: MatchPolicy = DEFAULT_POLICY
) -> tuple[str, IdentityStatus]:
    """The value to store for an identity and whether it may be used to find and join members.

    An invalid value comes back trimmed but otherwise as sent, so nothing the source said is lost.
    """
    value = normalise(kind, raw)
    if value is None:
        return raw.strip(), IdentityStatus.INVALID
    if is_junk(kind, value, policy):
        return value, IdentityStatus.BLOCKED
    return value, IdentityStatus.OK


def normalise_name(raw: str, policy: MatchPolicy = DEFAULT_POLICY) -> str:
    """Case, width, spaces and punctuation removed; "" for no name or a placeholder.

    Two names are *clearly different* when both are non-empty here and they differ. "张 三" and
    "张三" are the same; "Zhang San" and "张三" differ (no transliteration), which errs towards a
    review, never towards a wrong merge.
    """
    key = _name_key(raw)
    return "" if key in policy.placeholder_names else key


def strong_keys(
    identities: Iterable[tuple[IdentityKind, str]], policy: MatchPolicy = DEFAULT_POLICY
) -> tuple[IdentifierKey, ...]:
    """The identifiers by which a record with these (kind, value as sent) joins others: strong
    kinds, status OK, each once, sorted."""
    keys = set()
    for kind, raw in identities:
        if kind in policy.strong_kinds:
            value, status = classify(kind, raw, policy)
            if status is IdentityStatus.OK:
                keys.add(IdentifierKey(kind, value))
    return tuple(sorted(keys))


# --- records as sent, before validation ----------------------------------------------------------
# A bulk import splits its records by their strong identifiers before they are validated, so that
# each process validates its own part (`members.service.parallel`). A record as sent is a mapping
# of `SourceRecordIn`'s fields (a file's row as read) or an object with them (a record validated);
# these read what validation would leave of it, and pass over whatever could not validate.

_KIND_NAMED = {kind.value: kind for kind in IdentityKind}


def sent_strong_keys(
    record: object, policy: MatchPolicy = DEFAULT_POLICY
) -> tuple[IdentifierKey, ...]:
    """`strong_keys` of the record `record` validates to: its identities as sent, a list of
    {kind, value}, kinds by name, values as text or UTF-8 bytes (validation strips them;
    classifying strips them too).

    Raises `TypeError` for identities given as a one-pass iterator (a generator): validation
    takes them, but read here first they would be gone by then.
    """
    identities = _sent_field(record, "identities")
    if not isinstance(identities, list | tuple):
        if isinstance(identities, Iterator):
            raise TypeError("a record's identities must be a list, not a one-pass iterator")
        if not isinstance(identities, Collection) or isinstance(
            identities, str | bytes | bytearray | Mapping
        ):
            return ()  # not identities: the record will not validate
    keys = set()
    for identity in identities:
        kind = _KIND_NAMED.get(_sent_text(_sent_field(identity, "kind")) or "")
        raw = _sent_text(_sent_field(identity, "value"))
        if kind is not None and raw is not None and kind in policy.strong_kinds:
            value, status = classify(kind, raw, policy)
            if status is IdentityStatus.OK:
                keys.add(IdentifierKey(kind, value))
    return tuple(sorted(keys))


def sent_record_key(record: object) -> RecordKey | None:
    """The (source, record id) of a record as sent, spaces stripped; None if it has none that
    could validate. Two records that validate to one key have one key here (not always the
    reverse: `str.strip` takes off control characters that validation keeps)."""
    source = _sent_text(_sent_field(record, "source"))
    record_id = _sent_text(_sent_field(record, "record_id"))
    if source is None or record_id is None:
        return None
    return RecordKey(source.strip(), record_id.strip())


def _sent_field(item: object, name: str) -> object:
    if isinstance(item, dict):
        return item.get(name)
    if isinstance(item, Mapping):
        return item.get(name)  # another mapping: not dict's fast path
    return getattr(item, name, None)


def _sent_text(value: object) -> str | None:
    """`value` as validation reads a string: text, or bytes decoded."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """One identity as the service stores it. `matching` rows are the ones to index for lookup."""

    member_key: RecordKey
    record: RecordKey
    kind: IdentityKind
    source: str
    value: str
    raw: str
    status: IdentityStatus
    matching: bool


def identity_rows(
    record: SourceRecord, member_key: RecordKey, policy: MatchPolicy = DEFAULT_POLICY
) -> tuple[IdentityRow, ...]:
    """Every identity of `record`, junk included, so the 360 view shows what each source said."""
    rows = []
    for identity in record.identities:
        value, status = classify(identity.kind, identity.value, policy)
        rows.append(
            IdentityRow(
                member_key=member_key,
                record=record.key,
                kind=identity.kind,
                source=identity.source or record.source,
                value=value,
                raw=identity.value,
                status=status,
                matching=status is IdentityStatus.OK and identity.kind in policy.strong_kinds,
            )
        )
    return tuple(rows)
