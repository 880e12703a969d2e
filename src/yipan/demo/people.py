"""The demo's customers: about 100,000 people as the chain's three member systems know them.

A person lives near one of the stores and may be known to the stores' POS (a member card), the
online shop (an account) and the WeChat mini-program tool (an openid and usually a unionid).
60 % are in one system, 30 % in two, 10 % in all three; each system's record was made when the
person joined it, so records arrive over the years and the identity merge joins them as they
come. What joins them is what joins real ones: the same phone (written in the ways people write
phones), the same unionid when the online shop account was opened with WeChat. What keeps some
apart is real too: junk numbers typed for people who gave none (`13800138000` …, blocked), a
social profile with no phone, and households, where two people with two cards gave one phone —
the conflict the rules send to the review queue rather than merge.

Pure and deterministic for a seed: `demo_people` only computes.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate

from yipan.inventory.schemas import NodeIn
from yipan.members.domain.identifiers import IdentityKind, SourceSystem
from yipan.members.schemas import IdentityIn, SourceRecordIn

FULL_PEOPLE = 95_000  # about 100,000 members: records that nothing links stay apart
MIN_PEOPLE = 300
SCALE_POWER = 1.25
HISTORY_DAYS = 365
POS, ONLINE, SOCIAL = (
    SourceSystem.POS.value,
    SourceSystem.ONLINE_SHOP.value,
    SourceSystem.SOCIAL.value,
)
SOURCES = (POS, ONLINE, SOCIAL)

# How many systems a person is in, and which.
ONE, TWO = 0.60, 0.30  # the rest (10 %) are in all three
SINGLE_MIX = ((POS, 0.45), (ONLINE, 0.35), (SOCIAL, 0.20))
PAIR_MIX = (((POS, ONLINE), 0.40), ((POS, SOCIAL), 0.35), ((ONLINE, SOCIAL), 0.25))
HOUSEHOLD_SHARE = 0.001  # two people, two cards, one phone: a review, never a merge
MIN_HOUSEHOLDS = 2
JUNK_PHONE_SHARE = 0.012
JUNK_PHONES = ("13800138000", "13800138000", "13900139000", "11111111111")
DORMANT_SHARE = 0.15  # members who never buy in the year shown
JOINED_BEFORE_SHARE = 0.55  # members from before the year shown; the rest joined during it

_SURNAMES = (
    ("王", "wang", 7.1), ("李", "li", 7.0), ("张", "zhang", 6.7), ("刘", "liu", 5.4),
    ("陈", "chen", 4.5), ("杨", "yang", 3.1), ("黄", "huang", 2.2), ("赵", "zhao", 2.0),
    ("吴", "wu", 1.9), ("周", "zhou", 1.9), ("徐", "xu", 1.3), ("孙", "sun", 1.2),
    ("马", "ma", 1.2), ("朱", "zhu", 1.1), ("胡", "hu", 1.0), ("郭", "guo", 1.0),
    ("何", "he", 0.9), ("林", "lin", 0.9), ("高", "gao", 0.9), ("罗", "luo", 0.8),
    ("郑", "zheng", 0.8), ("梁", "liang", 0.7), ("谢", "xie", 0.6), ("宋", "song", 0.6),
    ("唐", "tang", 0.6), ("许", "xu", 0.5), ("韩", "han", 0.5), ("冯", "feng", 0.5),
    ("邓", "deng", 0.5), ("曹", "cao", 0.4), ("沈", "shen", 0.4), ("顾", "gu", 0.3),
)  # fmt: skip
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志"
    "丹宁欣怡浩然子涵梓轩雨桐一诺思远嘉怡佳琪晨阳俊杰雅婷晓东文博心怡宇航"
)
_NICKNAMES = (
    "小鱼儿", "阳光", "Coco", "晴天", "木子", "安静的猫", "Lily", "大熊", "橙子",
    "Echo", "一颗葡萄", "Sunny", "小王子", "风轻云淡", "Amy", "糖豆", "Kevin", "小太阳",
)  # fmt: skip
_PLACEHOLDERS = ("会员", "顾客")
_MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com")
_PREFIXES = (
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
    "157", "158", "159", "176", "177", "180", "181", "182", "185", "186", "187", "188", "189",
    "199",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoRecord:
    """One person as one source system holds them, and when the system got the record."""

    person: int
    source: str
    record_id: str
    name: str
    identities: tuple[tuple[IdentityKind, str], ...]  # kind, value as the source wrote it
    joined: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.record_id)

    def record_in(self) -> SourceRecordIn:
        """The record as an ingest takes it. Built without validation (every value here is made
        to fit the schema; `tests/demo` validates them all), which is several times faster."""
        return SourceRecordIn.model_construct(
            source=self.source,
            record_id=self.record_id,
            name=self.name,
            identities=[
                IdentityIn.model_construct(kind=kind, value=value, source=None)
                for kind, value in self.identities
            ],
            attributes={},
        )


@dataclass(frozen=True, slots=True)
class Person:
    number: int
    name: str
    phone: str  # the real number, 11 digits
    home: str  # the store they live near
    latitude: float
    longitude: float
    activity: float  # relative rate of buying; 0 for members who did not buy this year
    systems: tuple[str, ...]  # in the order they joined them
    pinyin: str = ""  # of the surname, for their e-mail address
    household: bool = False


@dataclass(frozen=True)
class People:
    persons: tuple[Person, ...]
    records: tuple[DemoRecord, ...]  # in the order the systems got them

    @property
    def households(self) -> int:
        return sum(1 for p in self.persons if p.household) // 2


def people_count(scale: float) -> int:
    """In step with the orders (`history.order_count`): fewer than in proportion when small."""
    return max(MIN_PEOPLE, round(FULL_PEOPLE * math.pow(scale, SCALE_POWER)))


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(["yipan-demo", str(seed), "people", *map(str, parts)]))


def _pick(rng: random.Random, mix: Sequence[tuple[object, float]]) -> object:
    roll = rng.random() * sum(w for _, w in mix)
    for value, weight in mix:
        roll -= weight
        if roll < 0:
            return value
    return mix[-1][0]


def _phone(rng: random.Random, number: int) -> str:
    # A bijection of the person's number into the last 8 digits: unique within each prefix.
    return rng.choice(_PREFIXES) + f"{(number * 48271 + 19_750_113) % 100_000_000:08d}"


def _written(rng: random.Random, phone: str) -> str:
    """The phone as a cashier or a form wrote it; all spellings normalise to the same number."""
    roll = rng.random()
    if roll < 0.75:
        return phone
    if roll < 0.83:
        return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    if roll < 0.90:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if roll < 0.95:
        return f"+86{phone}"
    return f"0086 {phone}"


_SURNAME_WEIGHTS = list(accumulate(w for _, _, w in _SURNAMES))


def _name(rng: random.Random) -> tuple[str, str]:
    k = bisect_right(_SURNAME_WEIGHTS, rng.random() * _SURNAME_WEIGHTS[-1])
    surname, pinyin, _ = _SURNAMES[min(k, len(_SURNAMES) - 1)]
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return surname + given, pinyin


def _systems(rng: random.Random) -> tuple[str, ...]:
    roll = rng.random()
    if roll < ONE:
        return (str(_pick(rng, SINGLE_MIX)),)
    if roll < ONE + TWO:
        pair = list(_pick(rng, PAIR_MIX))  # type: ignore[call-overload]
        rng.shuffle(pair)
        return tuple(pair)
    three = list(SOURCES)
    rng.shuffle(three)
    return tuple(three)


def _joined(rng: random.Random, start: datetime, now: datetime) -> datetime:
    if rng.random() < JOINED_BEFORE_SHARE:
        return start - timedelta(days=rng.uniform(1, 3 * 365))
    # Joins pick up over the year: the chain is growing.
    share: float = rng.random() ** 0.8
    return start + (now - start) * share - timedelta(hours=1)


def _home(stores: Sequence[NodeIn], cumulative: list[float], rng: random.Random) -> NodeIn:
    return stores[bisect_right(cumulative, rng.random() * cumulative[-1])]


def demo_people(
    seed: int, stores: Sequence[NodeIn], *, now: datetime, scale: float = 1.0
) -> People:
    """Everyone the demo's member systems know, with their records, deterministic for a seed."""
    rng = _rng(seed)
    start = now - timedelta(days=HISTORY_DAYS)
    ordered = sorted(stores, key=lambda s: s.code)
    cumulative: list[float] = []
    for store in ordered:
        # Distributors' customers rarely sign up with the brand.
        cumulative.append(
            (cumulative[-1] if cumulative else 0.0)
            + store.daily_capacity * (0.2 if not store.can_receive_returns else 1.0)
        )
    wanted = people_count(scale)
    households = max(MIN_HOUSEHOLDS, round(wanted * HOUSEHOLD_SHARE))
    every = max(3, wanted // (households + 1))
    persons: list[Person] = []
    records: list[DemoRecord] = []
    number = 0
    while len(persons) < wanted:
        number += 1
        home = _home(ordered, cumulative, rng)
        if number % every == 0 and households > 0:
            households -= 1
            persons.extend(_household(rng, number, home, start, now, records))
            number += 1
            continue
        person = _person(rng, number, home, _systems(rng))
        persons.append(person)
        records.extend(_records(rng, person, _joined(rng, start, now), now))
    records.sort(key=lambda r: (r.joined, r.source, r.record_id))
    return People(tuple(persons), tuple(records))


def _person(
    rng: random.Random, number: int, home: NodeIn, systems: tuple[str, ...], **extra: object
) -> Person:
    name, pinyin = _name(rng)
    activity = 0.0 if rng.random() < DORMANT_SHARE else rng.lognormvariate(0, 1.0)
    return Person(
        number=number,
        name=name,
        pinyin=pinyin,
        phone=_phone(rng, number),
        home=home.code,
        latitude=round(home.latitude + rng.uniform(-0.03, 0.03), 5),
        longitude=round(home.longitude + rng.uniform(-0.036, 0.036), 5),
        activity=activity,
        systems=systems,
        **extra,  # type: ignore[arg-type]
    )


def _card(number: int) -> str:
    return f"6200{(number * 7919 + 104_729) % 10**12:012d}"


def _phone_field(rng: random.Random, person: Person) -> str:
    if rng.random() < JUNK_PHONE_SHARE:
        return rng.choice(JUNK_PHONES)
    return _written(rng, person.phone)


def _records(
    rng: random.Random, person: Person, joined: datetime, now: datetime
) -> list[DemoRecord]:
    made: list[DemoRecord] = []
    at = joined
    several = len(person.systems) > 1
    wechat_login = SOCIAL in person.systems and rng.random() < 0.35
    unionid = f"oUn{(person.number * 2_654_435_761) % 16**12:012x}"
    for n, system in enumerate(person.systems):
        if n:  # the next system gets them some weeks or months later
            at = min(at + timedelta(days=rng.expovariate(1 / 90)), now - timedelta(hours=2))
        identities: list[tuple[IdentityKind, str]] = []
        name = person.name
        if system == POS:
            card = _card(person.number)
            spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
            identities.append((IdentityKind.POS_CARD, spaced if rng.random() < 0.3 else card))
            if rng.random() < 0.97:
                identities.append((IdentityKind.PHONE, _phone_field(rng, person)))
            if rng.random() < 0.03:
                name = rng.choice(_PLACEHOLDERS)
            record_id = card
        elif system == ONLINE:
            record_id = f"U{person.number:08d}"
            identities.append((IdentityKind.ONLINE_ACCOUNT, f"hm_{person.number:08d}"))
            if rng.random() < 0.95:
                identities.append((IdentityKind.PHONE, _phone_field(rng, person)))
            if rng.random() < 0.5:
                mail = f"{person.pinyin}.{person.number}@{rng.choice(_MAIL_DOMAINS)}"
                identities.append(
                    (IdentityKind.EMAIL, mail.upper() if rng.random() < 0.1 else mail)
                )
            if wechat_login:
                identities.append((IdentityKind.SOCIAL_UNIONID, unionid))
        else:
            openid = f"oWx{(person.number * 40_503 + 7) % 16**12:012x}"
            record_id = openid
            identities.append((IdentityKind.SOCIAL_OPENID, openid))
            if rng.random() < 0.85 or wechat_login:
                identities.append((IdentityKind.SOCIAL_UNIONID, unionid))
            if rng.random() < (0.9 if several else 0.5):
                identities.append((IdentityKind.PHONE, _phone_field(rng, person)))
            if rng.random() < 0.7:
                name = rng.choice(_NICKNAMES)
        made.append(DemoRecord(person.number, system, record_id, name, tuple(identities), at))
    return made


def _household(
    rng: random.Random,
    number: int,
    home: NodeIn,
    start: datetime,
    now: datetime,
    records: list[DemoRecord],
) -> list[Person]:
    """Two POS-only people of one household: two cards, two names, the first one's phone."""
    first = _person(rng, number, home, (POS,), household=True)
    second = _person(rng, number + 1, home, (POS,), household=True)
    while second.name == first.name:
        second = _person(rng, number + 1, home, (POS,), household=True)
    for person in (first, second):
        records.append(
            DemoRecord(
                person.number,
                POS,
                _card(person.number),
                person.name,
                ((IdentityKind.POS_CARD, _card(person.number)), (IdentityKind.PHONE, first.phone)),
                _joined(rng, start, now),
            )
        )
    return [first, second]
