"""People benchmark: pricing a cart, resolving a million customer records, the 360 view, points.

    python -m bench.people [--only postgresql|sqlite] [--identity-records 1000000]
                           [--sqlite-identity-records 50000] [--carts 5000] [--quick]

- Pricing (in-process, once, no database): `price_cart` on 20-line carts against an index of 200
  promotions built once, each cart offered 5 coupons.
- Identity (per backend): a seeded generator of people, each in 1 to 3 source systems (pos,
  online_shop, social) with the noise real exports carry; the three systems' records are
  ingested as one import, split over processes, in chunks of 5,000, one unit of work each,
  each process keeping its part's members in memory (`ingest.PartIngest`) as `yipan members
  import` does with the three files, and the members found are scored against the generator's
  truth.
- 360 (per backend): the import's pending events delivered first (those a handler listens
  for; a running worker would have done it by then), orders placed over HTTP for a sample of
  members seen in several systems and their events delivered, then `GET
  /api/v1/members/{id}/360` from one client against a server in its own process.
- Points (per backend, when `members.service.points` exists): processes redeeming concurrently
  from a few funded members, then the ledger is checked for points spent twice.

PostgreSQL database yipan_bench_people (YIPAN_BENCH_PEOPLE_DATABASE_URL overrides it; emptied and
migrated first), SQLite in a temporary file. Progress goes to stderr; the last line on stdout is
one JSON object: the pricing figures at the top level, the other figures keyed by backend.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import comb
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from bench.harness import (
    api_server,
    bearer,
    deliver_backlog,
    fresh_postgres,
    fresh_sqlite,
    integration_key,
    log,
    machine,
    percentiles,
    run_workers,
    vacuum_analyze,
)
from bench.orders import World
from bench.orders import build as build_world
from yipan.kernel.clock import SystemClock
from yipan.kernel.collector import collector_paused
from yipan.kernel.db import make_engine, unit_of_work
from yipan.members.models import Member, Review, SourceRecord
from yipan.members.service import store
from yipan.members.service.parallel import ingest_in_parallel
from yipan.promotions.domain.cart import Cart, CartLine
from yipan.promotions.domain.cart import Member as CartMember
from yipan.promotions.domain.coupons import (
    AmountOff,
    CappedPercentOff,
    Coupon,
    CouponTemplate,
    FreeItem,
    Stacking,
    ThresholdOff,
)
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import (
    BuyXGetY,
    MemberPrice,
    NForPrice,
    PercentOff,
    Promotion,
    PromotionIndex,
    Rule,
    Step,
    ThresholdReduction,
)
from yipan.promotions.domain.scope import ALL_GOODS, Scope
from yipan.wiring import route_events

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yipan_bench_people"
PG_ENV = "YIPAN_BENCH_PEOPLE_DATABASE_URL"

# --- pricing ----------------------------------------------------------------------------------

NOW = datetime(2026, 6, 18, 10, 0, tzinfo=UTC)
CHANNELS = ("online-shop", "mini-program", "tmall", "pos", "guide")
STORES = tuple(f"S{n:03d}" for n in range(40))
CATEGORIES = tuple(f"cat-{n:02d}" for n in range(40))
SKUS_PER_CATEGORY = 50
PROMOTIONS, COUPONS_PER_CART, CART_LINES = 200, 5, 20
WARMUP_CARTS = 500


@dataclass(frozen=True)
class Shelf:
    """The goods a pricing run draws carts from: SKU → (category, unit price in fen)."""

    items: dict[str, tuple[str, int]]
    by_category: dict[str, list[str]]


def make_shelf(rng: random.Random) -> Shelf:
    items: dict[str, tuple[str, int]] = {}
    by_category: dict[str, list[str]] = {}
    for category in CATEGORIES:
        for n in range(SKUS_PER_CATEGORY):
            sku = f"{category}-{n:03d}"
            # Mostly 5 – 200 yuan, a few dear items; always whole fen, often x9.90.
            price = rng.choice((590, 990, 1990, 2990, 3990, 5990, 7990, 9990, 12900, 19900))
            if rng.random() < 0.1:
                price = rng.randrange(20_000, 150_000, 100)
            items[sku] = (category, price)
            by_category.setdefault(category, []).append(sku)
    return Shelf(items, by_category)


def _window(rng: random.Random) -> dict[str, Any]:
    """Most promotions run now; about a quarter have ended or not yet begun."""
    roll = rng.random()
    if roll < 0.12:
        return {"starts_at": NOW - timedelta(days=30), "ends_at": NOW - timedelta(days=1)}
    if roll < 0.25:
        return {"starts_at": NOW + timedelta(days=2), "ends_at": NOW + timedelta(days=9)}
    if roll < 0.6:
        return {"starts_at": NOW - timedelta(days=3), "ends_at": NOW + timedelta(days=4)}
    return {}


def _places(rng: random.Random) -> dict[str, Any]:
    """About 40 % are limited to some channels, a few to some stores."""
    found: dict[str, Any] = {}
    if rng.random() < 0.4:
        found["channels"] = frozenset(rng.sample(CHANNELS, rng.randint(1, 3)))
    if rng.random() < 0.08:
        found["stores"] = frozenset(rng.sample(STORES, 5))
    return found


def make_promotions(rng: random.Random, shelf: Shelf) -> list[Promotion]:
    """200 promotions in a realistic mix; most name a few SKUs or one category."""

    def some_skus(k: int) -> Scope:
        category = rng.choice(CATEGORIES)
        return Scope(skus=frozenset(rng.sample(shelf.by_category[category], k)))

    def one_category() -> Scope:
        return Scope(categories=frozenset({rng.choice(CATEGORIES)}))

    mix: list[tuple[Rule, Scope, str | None]] = []
    rule: Rule
    for _ in range(55):  # SKU-scoped percent off (单品折扣)
        mix.append((PercentOff(rng.choice((5, 10, 12, 15, 20, 30))), some_skus(6), None))
    for n in range(30):  # category-wide percent off, some competing in groups
        group = f"cat-sale-{n % 6}" if n % 3 == 0 else None
        mix.append((PercentOff(rng.choice((5, 10, 20))), one_category(), group))
    for _ in range(20):  # 满减 on a category
        low = rng.choice((10_000, 20_000, 30_000))
        steps = (Step(low, low // 10), Step(low * 2, low // 4))
        mix.append((ThresholdReduction(steps), one_category(), None))
    for n in range(6):  # store-wide 满减 (每满), in one exclusion group
        rule = ThresholdReduction((Step(30_000, 3_000),), repeat=True, cap_fen=30_000)
        if n % 2:
            rule = ThresholdReduction((Step(20_000, 2_000), Step(50_000, 6_000)))
        mix.append((rule, ALL_GOODS, "store-wide"))
    for _ in range(25):  # buy X get Y
        rule = BuyXGetY(1, 1) if rng.random() < 0.6 else BuyXGetY(2, 1)
        mix.append((rule, some_skus(4), None))
    for _ in range(24):  # N for a price (3件99元)
        mix.append(
            (NForPrice(rng.choice((2, 3)), rng.choice((5_900, 9_900, 19_900))), some_skus(5), None)
        )
    for _ in range(20):  # member prices
        scope = some_skus(8)
        cheapest = min(shelf.items[s][1] for s in scope.skus)
        tiers = {"gold": max(1, cheapest * 85 // 100), "silver": max(1, cheapest * 95 // 100)}
        mix.append((MemberPrice(tiers), scope, None))
    for _ in range(20):  # channel-only percent off (天猫专享) on a few SKUs
        mix.append((PercentOff(rng.choice((8, 15))), some_skus(10), None))
    assert len(mix) == PROMOTIONS
    promotions = []
    for n, (rule, scope, group) in enumerate(mix):
        places = _places(rng)
        if n >= PROMOTIONS - 20:
            places["channels"] = frozenset({rng.choice(("tmall", "mini-program"))})
        promotions.append(
            Promotion(f"P{n:03d}", rule, scope, exclusion_group=group, **_window(rng), **places)
        )
    return promotions


def make_coupons(rng: random.Random, shelf: Shelf, lines: Sequence[CartLine]) -> list[Coupon]:
    """One coupon of each kind, and a category 满减 one; stacking rules vary."""
    free_sku = rng.choice(lines).sku if rng.random() < 0.5 else rng.choice(list(shelf.items))
    category = rng.choice(lines).category
    templates = [
        CouponTemplate("T-amount", AmountOff(1_000), stacking=Stacking.WITH_ALL),
        CouponTemplate(
            "T-threshold", ThresholdOff(30_000, 3_000), stacking=Stacking.WITH_PROMOTIONS
        ),
        CouponTemplate(
            "T-percent",
            CappedPercentOff(10, 5_000),
            min_spend_fen=10_000,
            stacking=Stacking.EXCLUSIVE,
        ),
        CouponTemplate("T-free", FreeItem(free_sku), stacking=Stacking.WITH_ALL),
        CouponTemplate(
            "T-category",
            ThresholdOff(15_000, 2_000),
            scope=Scope(categories=frozenset({category})),
            stacking=rng.choice(list(Stacking)),
            channels=frozenset(rng.sample(CHANNELS, 3)),
        ),
    ]
    return [
        Coupon(f"C{n}", template, valid_until=NOW + timedelta(days=rng.choice((-1, 7, 30))))
        for n, template in enumerate(templates)
    ]


def make_cart(rng: random.Random, shelf: Shelf, index: PromotionIndex) -> Cart:
    """20 lines from about six categories, as one shopper's basket."""
    categories = rng.sample(CATEGORIES, 6)
    chosen: set[str] = set()
    while len(chosen) < CART_LINES:
        chosen.add(rng.choice(shelf.by_category[rng.choice(categories)]))
    lines = []
    for no, sku in enumerate(sorted(chosen), start=1):
        category, price = shelf.items[sku]
        quantity = rng.choices((1, 2, 3, 4, 6), weights=(60, 20, 10, 6, 4))[0]
        lines.append(CartLine(no, sku, category, quantity, price))
    tier = rng.choices(("gold", "silver", None), weights=(20, 30, 50))[0]
    member = CartMember(f"m{rng.randrange(10**6)}", tier) if tier or rng.random() < 0.5 else None
    channel = rng.choice(CHANNELS)
    return Cart(
        tuple(lines),
        channel,
        NOW + timedelta(minutes=rng.randrange(-600, 600)),
        member,
        rng.choice(STORES) if channel in ("pos", "guide") else None,
        index,
        tuple(make_coupons(rng, shelf, lines)),
    )


def pricing(carts: int) -> dict[str, Any]:
    rng = random.Random(20260618)
    shelf = make_shelf(rng)
    promotions = make_promotions(rng, shelf)
    t0 = time.perf_counter()
    index = PromotionIndex(promotions)
    index_ms = (time.perf_counter() - t0) * 1000
    batch = [make_cart(rng, shelf, index) for _ in range(WARMUP_CARTS + carts)]
    samples: list[float] = []
    incomplete = touched = applied = discounted = 0
    for i, cart in enumerate(batch):
        t0 = time.perf_counter()
        priced = price_cart(cart)
        elapsed_us = (time.perf_counter() - t0) * 1e6
        if i < WARMUP_CARTS:
            continue
        samples.append(elapsed_us)
        incomplete += not priced.search_complete
        applied += len(priced.applied)
        discounted += priced.discount_fen > 0
        touched += len(index.covering([(line.sku, line.category) for line in cart.lines]))
    cut = percentiles(samples)
    return {
        "price_cart_p50_us": round(cut["p50"]),
        "price_cart_p99_us": round(cut["p99"]),
        "price_cart_max_us": round(cut["max"]),
        "price_cart_mean_us": round(statistics.fmean(samples)),
        "price_cart_carts": len(samples),
        "price_cart_warmup": WARMUP_CARTS,
        "price_cart_incomplete_share": round(incomplete / len(samples), 4),
        "price_cart_promotions": len(index),
        "price_cart_lines": CART_LINES,
        "price_cart_coupons": COUPONS_PER_CART,
        "price_cart_promotions_touching_mean": round(touched / len(samples), 1),
        "price_cart_applied_mean": round(applied / len(samples), 2),
        "price_cart_discounted_share": round(discounted / len(samples), 3),
        "price_cart_index_build_ms": round(index_ms, 2),
    }


# --- people and their records -----------------------------------------------------------------

SYSTEMS = ("pos", "online_shop", "social")
JUNK_PHONES = ("13800138000", "00000000000", "13900139000", "11111111111")
MOBILE_PREFIXES = ("138", "139", "150", "151", "158", "186", "187", "188", "135", "136", "177")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鑫晨浩宇欣怡子涵梓轩"
NICKNAMES = ("小鱼", "阿杰", "Lucky", "晴天", "momo", "大白", "Coco", "向日葵", "🍀", "Tom", "")
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com")


@dataclass
class Person:
    """What the generator knows that the systems do not: who each record really is."""

    number: int
    name: str
    phone: str
    email: str | None
    systems: tuple[str, ...]
    card: str
    unionid: str


@dataclass
class Generated:
    """Source records by system (dicts shaped like `SourceRecordIn`) and the truth for each."""

    records: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {s: [] for s in SYSTEMS}
    )
    truth: dict[tuple[str, str], str] = field(default_factory=dict)
    persons: int = 0
    multi_system_persons: int = 0
    junk_only_records: int = 0
    conflict_pairs: int = 0

    @property
    def total(self) -> int:
        return sum(len(r) for r in self.records.values())


def _phone_of(number: int) -> str:
    # An affine permutation of 10^8 keeps every person's number distinct.
    digits = f"{(number * 48_271 + 12_345_679) % 100_000_000:08d}"
    phone = MOBILE_PREFIXES[number % len(MOBILE_PREFIXES)] + digits
    return "13700000001" if phone in JUNK_PHONES or len(set(phone)) == 1 else phone


def _written_phone(rng: random.Random, phone: str) -> str:
    """The same mobile as different systems write it."""
    style = rng.random()
    if style < 0.45:
        return phone
    if style < 0.6:
        return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    if style < 0.72:
        return f"0086{phone}"
    if style < 0.84:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    if style < 0.92:
        return f"+86{phone}"
    return phone.translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # full-width


def _written_email(rng: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    style = rng.random()
    if style < 0.5:
        return email
    if style < 0.8:
        return f"{local.capitalize()}@{domain.upper()}"
    return f"  {email.upper()} "


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _pick_systems(rng: random.Random) -> tuple[str, ...]:
    """About 70 % of people are known to one system, 20 % to two, 10 % to all three."""
    roll = rng.random()
    if roll < 0.7:
        return (rng.choices(SYSTEMS, weights=(45, 35, 20))[0],)
    if roll < 0.9:
        return tuple(sorted(rng.sample(SYSTEMS, 2)))
    return SYSTEMS


class Generator:
    """Deterministic (seeded) people → source records, with the noise real exports carry:

    phones as +86 138-0013-8001 / 13800138001 / 0086… / full-width, e-mails in other cases and
    padded, cards printed in groups, junk phones (13800138000, 00000000000, …) typed for people
    who gave none and so shared by strangers, a few landlines in the phone field, placeholder
    names, and a few households where one phone is on two cards held by different names.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counters = Counter[str]()

    def _record_id(self, system: str) -> str:
        self.counters[system] += 1
        prefix = {"pos": "P", "online_shop": "O", "social": "S"}[system]
        return f"{prefix}{self.counters[system]:08d}"

    def person(self, number: int, systems: tuple[str, ...] | None = None) -> Person:
        rng = self.rng
        name = _name(rng)
        email = None
        if rng.random() < 0.6:
            local = (
                f"user{number}"
                if rng.random() < 0.5
                else f"{rng.choice('abcdefghjkmnpqrstwxyz')}{number:x}"
            )
            email = f"{local}@{rng.choice(MAIL_DOMAINS)}"
        return Person(
            number=number,
            name=name,
            phone=_phone_of(number),
            email=email,
            systems=systems or _pick_systems(rng),
            card=f"6222{number:012d}",
            unionid=f"oU{(number * 2_654_435_761) % 10**12:012d}x{number}",
        )

    def records_of(
        self, person: Person, *, phone_override: str | None = None
    ) -> list[tuple[dict[str, Any], set[str]]]:
        """Each record with the true (generator) values of its strong identifiers that can link."""
        rng = self.rng
        out: list[tuple[dict[str, Any], set[str]]] = []
        several = len(person.systems) > 1
        for system in person.systems:
            identities: list[dict[str, str]] = []
            links: set[str] = set()
            phone = phone_override or person.phone

            def add_phone(
                share: float,
                *,
                identities: list[dict[str, str]] = identities,
                links: set[str] = links,
                phone: str = phone,
            ) -> None:
                roll = rng.random()
                if roll < share:
                    identities.append({"kind": "phone", "value": _written_phone(rng, phone)})
                    links.add(f"phone:{phone}")
                elif roll < share + 0.012:  # no number given: the cashier typed a junk one
                    identities.append({"kind": "phone", "value": rng.choice(JUNK_PHONES)})
                elif roll < share + 0.016:  # a landline in the mobile field
                    identities.append(
                        {"kind": "phone", "value": f"021-{rng.randrange(10**7, 10**8)}"}
                    )

            if system == "pos":
                card = person.card
                shown = (
                    card
                    if rng.random() < 0.7
                    else f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"
                )
                identities.append({"kind": "pos_card", "value": shown})
                links.add(f"card:{card}")
                add_phone(0.97)
                if person.email and rng.random() < 0.15:
                    identities.append({"kind": "email", "value": _written_email(rng, person.email)})
                    links.add(f"email:{person.email}")
                name = person.name if rng.random() > 0.03 else rng.choice(("会员", "顾客", ""))
                if rng.random() < 0.05 and len(name) == 2:
                    name = f"{name[0]} {name[1]}"
            elif system == "online_shop":
                identities.append({"kind": "online_account", "value": f"acct-{person.number}"})
                add_phone(0.93 if several else 0.85)
                if person.email and rng.random() < 0.9:
                    identities.append({"kind": "email", "value": _written_email(rng, person.email)})
                    links.add(f"email:{person.email}")
                elif rng.random() < 0.01:
                    identities.append({"kind": "email", "value": "test@test.com"})
                name = person.name if rng.random() < 0.7 else ""
            else:
                identities.append({"kind": "social_openid", "value": f"oP{person.number:010d}"})
                if rng.random() < 0.85:
                    identities.append({"kind": "social_unionid", "value": person.unionid})
                    links.add(f"unionid:{person.unionid}")
                add_phone(0.9 if several else 0.6)
                name = rng.choice(NICKNAMES)
            record = {
                "source": system,
                "record_id": self._record_id(system),
                "name": name,
                "identities": identities,
            }
            out.append((record, links))
        return out


def _components(links: list[set[str]]) -> list[int]:
    """Which records of one person their own identifiers join (at most 3 records: brute force)."""
    label = list(range(len(links)))
    changed = True
    while changed:
        changed = False
        for a in range(len(links)):
            for b in range(a + 1, len(links)):
                if links[a] & links[b] and label[a] != label[b]:
                    label[a] = label[b] = min(label[a], label[b])
                    changed = True
    return label


def generate(records: int, seed: int = 4) -> Generated:
    """At least `records` source records (cut at the last whole person past it)."""
    gen = Generator(seed)
    out = Generated()
    number = 0
    while out.total < records:
        number += 1
        if gen.rng.random() < 0.001:  # a household: one phone on two cards, two names
            first = gen.person(number, ("pos",))
            number += 1
            second = gen.person(number, ("pos",))
            pair = gen.records_of(first) + gen.records_of(second, phone_override=first.phone)
            for (record, _), person in zip(pair, (first, second), strict=True):
                record["identities"] = [i for i in record["identities"] if i["kind"] != "phone"]
                record["identities"].append(
                    {"kind": "phone", "value": _written_phone(gen.rng, first.phone)}
                )
                record["name"] = person.name
                out.records["pos"].append(record)
                out.truth[(record["source"], record["record_id"])] = f"p{person.number}"
            out.persons += 2
            out.conflict_pairs += 1
            continue
        person = gen.person(number)
        made = gen.records_of(person)
        labels = _components([links for _, links in made])
        main = Counter(labels).most_common(1)[0][0] if len(made) > 1 else labels[0]
        for (record, links), label in zip(made, labels, strict=True):
            key = (record["source"], record["record_id"])
            if label == main and (links or len(made) == 1):
                out.truth[key] = f"p{person.number}"
            else:  # nothing it carries says whose it is: it belongs alone
                out.truth[key] = f"p{person.number}/{record['record_id']}"
                out.junk_only_records += 1
            out.records[record["source"]].append(record)
        out.persons += 1
        out.multi_system_persons += len(person.systems) > 1
    return out


def pair_scores(
    truth: dict[tuple[str, str], str], found: dict[tuple[str, str], int]
) -> dict[str, Any]:
    """Precision and recall over pairs of records: a pair is together in the truth when both are
    the same person's (and neither stands alone), together in the result when one member holds
    both. Counted from the contingency table, never by listing pairs."""
    both = Counter((truth[k], found[k]) for k in truth)
    true_sizes = Counter(truth.values())
    found_sizes = Counter(found[k] for k in truth)
    together = sum(comb(n, 2) for n in both.values())
    true_pairs = sum(comb(n, 2) for n in true_sizes.values())
    found_pairs = sum(comb(n, 2) for n in found_sizes.values())
    return {
        "identity_merge_precision": round(together / found_pairs, 6) if found_pairs else 1.0,
        "identity_merge_recall": round(together / true_pairs, 6) if true_pairs else 1.0,
        "identity_pairs_true": true_pairs,
        "identity_pairs_found": found_pairs,
        "identity_pairs_both": together,
        "identity_members_true": len(true_sizes),
        "identity_members_found": len(found_sizes),
    }


def _final_members(engine: Engine) -> dict[tuple[str, str], int]:
    """Every source record's member after all merges (a merged-away member → its survivor)."""
    with unit_of_work(engine, readonly=True) as session:
        survivor: dict[int, int] = {}
        for member_id, survivor_id in session.execute(
            select(Member.id, Member.survivor_id).where(Member.survivor_id.is_not(None))
        ):
            if survivor_id is not None:
                survivor[member_id] = survivor_id
        rows = session.execute(
            select(SourceRecord.source, SourceRecord.record_id, SourceRecord.member_id)
        )
        found: dict[tuple[str, str], int] = {}
        for source, record_id, member_id in rows:
            while member_id in survivor:
                member_id = survivor[member_id]
            found[(source, record_id)] = member_id
    return found


def _reviews_raised(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(Review)) or 0


def identity(
    engine: Engine, wanted: int, chunk_size: int, workers: int, name: str
) -> tuple[dict[str, Any], dict[tuple[str, str], int]]:
    """The ingest's figures, and the member each (source, record id) ended in."""
    t0 = time.perf_counter()
    data = generate(wanted)
    log(
        f"{name}: generated {data.total:,} records of {data.persons:,} people "
        f"({data.multi_system_persons:,} in several systems) in {time.perf_counter() - t0:.1f}s"
    )
    clock = SystemClock()
    outcomes: Counter[str] = Counter()
    url = engine.url.render_as_string(hide_password=False)
    done = 0
    started = time.perf_counter()
    last_log = started

    def committed(count: int) -> None:
        nonlocal done, last_log
        done += count
        if time.perf_counter() - last_log > 15:
            last_log = time.perf_counter()
            log(f"{name}: {done:,} / {data.total:,} records, {done / (last_log - started):,.0f}/s")

    route_events()  # as every `yipan` command does: events nobody listens for are done at once
    # As `yipan members import pos.csv shop.jsonl social.csv --workers 2` does with the three
    # systems' files: the rows of all of them, in a record's shape, ingested by `workers`
    # processes over parts that share no identifier and no stored member, each process
    # validating its own rows, the garbage collector paused throughout.
    with collector_paused():
        rows = [row for system in SYSTEMS for row in data.records[system]]
        ingested = ingest_in_parallel(
            url, rows, workers=workers, chunk_size=chunk_size, clock=clock, progress=committed
        )
    if ingested.rejected:
        raise RuntimeError(
            f"{len(ingested.rejected)} generated rows were rejected: {ingested.rejected}"
        )
    outcomes.update(ingested.outcomes)
    seconds = time.perf_counter() - started
    log(
        f"{name}: ingested {data.total:,} records in {seconds:.1f}s ({data.total / seconds:,.0f}/s)"
    )
    reviews = _reviews_raised(engine)
    found = _final_members(engine)
    missing = [k for k in data.truth if k not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} records were not stored, e.g. {missing[:3]}")
    figures: dict[str, Any] = {
        "identity_records": data.total,
        "identity_seconds": round(seconds, 1),
        "identity_records_per_s": round(data.total / seconds),
        "identity_chunk_size": chunk_size,
        "identity_workers": workers,
        "identity_people": data.persons,
        "identity_people_in_several_systems": data.multi_system_persons,
        "identity_records_standing_alone_by_truth": data.junk_only_records,
        "identity_household_conflicts_generated": data.conflict_pairs,
        "identity_outcomes": dict(sorted(outcomes.items())),
        "identity_reviews_raised": reviews,
    }
    if data.total >= 1_000_000:
        figures["identity_seconds_1m"] = figures["identity_seconds"]
    figures.update(pair_scores(data.truth, found))
    return figures, found


# --- the 360 view -----------------------------------------------------------------------------

ORDER_CHANNELS = ("online-shop", "mini-program", "tmall", "pos", "guide")
SAMPLE_MEMBERS, ORDERS_PER_MEMBER, VIEWS, VIEW_WARMUP = 300, 4, 3000, 300


def rich_members(found: dict[tuple[str, str], int], k: int) -> list[str]:
    """Members holding records from at least two systems, by public id; a seeded sample of k."""
    systems: dict[int, set[str]] = {}
    for (source, _), member_id in found.items():
        systems.setdefault(member_id, set()).add(source)
    several = sorted(m for m, s in systems.items() if len(s) >= 2)
    sample = random.Random(7).sample(several, min(k, len(several)))
    return [store.public_id(m) for m in sample]


def _order(rng: random.Random, world: World, member: str, n: int) -> dict[str, Any]:
    skus = rng.sample(world.skus, 2)
    lat, lon = rng.choice(world.points)
    return {
        "channel": ORDER_CHANNELS[n % len(ORDER_CHANNELS)],
        "external_id": f"people-{member}-{n}",
        # Yipan prices its own channels' orders: they carry the list price (no promotion is set up).
        "lines": [
            {"sku": sku, "quantity": 1, "unit_price_fen": world.prices[sku], "method": "ship"}
            for sku in skus
        ],
        "customer": {"member_id": member},
        "address": {
            "line": "bench street 2",
            "latitude": round(lat + rng.uniform(-0.05, 0.05), 6),
            "longitude": round(lon + rng.uniform(-0.05, 0.05), 6),
        },
        "total_fen": sum(world.prices[sku] for sku in skus),
    }


def member_360(url: str, engine: Engine, world: World, members: list[str]) -> dict[str, Any]:
    rng = random.Random(360)
    placed = refused = 0
    statuses: Counter[int] = Counter()
    identities: list[int] = []
    orders_seen: list[int] = []
    with (
        api_server(url, workers=1) as (port, _pid),
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers=bearer(integration_key(engine)),
            timeout=30,
        ) as client,
    ):
        for member in members:
            for n in range(ORDERS_PER_MEMBER):
                response = client.post("/api/v1/orders", json=_order(rng, world, member, n))
                if response.status_code == 201:
                    placed += 1
                else:
                    refused += 1
        log(f"360: placed {placed} orders for {len(members)} members ({refused} refused)")
        deliver_backlog(engine)  # what their events set off is done before the views are timed
        vacuum_analyze(engine)
        samples: list[float] = []
        for i in range(VIEW_WARMUP + VIEWS):
            member = members[i % len(members)]
            t0 = time.perf_counter()
            response = client.get(f"/api/v1/members/{member}/360")
            elapsed = (time.perf_counter() - t0) * 1000
            statuses[response.status_code] += 1
            if i < VIEW_WARMUP:
                continue
            if response.status_code == 200:
                samples.append(elapsed)
                if i < VIEW_WARMUP + len(members):
                    body = response.json()
                    identities.append(len(body["identities"]))
                    orders_seen.append(len(body["orders"]))
    cut = percentiles(samples) if len(samples) > 100 else {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "member_360_p50_ms": cut["p50"],
        "member_360_p99_ms": cut["p99"],
        "member_360_max_ms": cut["max"],
        "member_360_requests": len(samples),
        "member_360_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "member_360_members": len(members),
        "member_360_identities_mean": round(statistics.fmean(identities), 1) if identities else 0,
        "member_360_orders_mean": round(statistics.fmean(orders_seen), 1) if orders_seen else 0,
        "member_360_orders_placed": placed,
        "member_360_orders_refused": refused,
    }


# --- points -----------------------------------------------------------------------------------

# Throughput: 40 members funded well beyond what 8 s can spend. Race: 10 members with 10
# redemptions' worth each, drained by the same processes in 3 s, so most tries are refusals.
POINTS_STEP, POINTS_PROCESSES = 100, 4
# Each run funds its own members (the race takes the 10 after the throughput's 40).
THROUGHPUT = ("throughput", 0, 40, 100_000, 8.0)
RACE = ("race", 40, 10, 1_000, 3.0)
_MEMBERS_ENV = "BENCH_PEOPLE_POINTS_MEMBERS"


def points_module() -> ModuleType | None:
    """The points service, if this checkout has it (it arrives with its own issue)."""
    try:
        return importlib.import_module("yipan.members.service.points")
    except ImportError:
        return None


def _redeemer(url: str, worker: int, seconds: float, barrier: Any) -> tuple[int, int, float]:
    """Redeem POINTS_STEP points at a time from random funded members until `seconds` pass."""
    points = points_module()
    assert points is not None
    engine = make_engine(url, pool_size=1)
    tag, members = json.loads(os.environ[_MEMBERS_ENV])
    rng = random.Random(f"{tag}-{worker}")
    done = refused = 0
    barrier.wait()
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        member = rng.choice(members)
        i += 1
        try:
            with unit_of_work(engine) as session:
                points.redeem(session, member, POINTS_STEP, f"{tag}-{worker}-{i}", channel="pos")
            done += 1
        except Exception as exc:  # an INSUFFICIENT_POINTS refusal is the expected one
            if getattr(exc, "code", "") != "INSUFFICIENT_POINTS":
                raise
            refused += 1
    elapsed = time.perf_counter() - start
    engine.dispose()
    return done, refused, elapsed


def _ledger_check(engine: Engine, points: ModuleType, ids: list[int]) -> dict[str, dict[int, int]]:
    """Per member: the ledger's sum, the points its redeem entries took, the cached balance."""
    entry = points.PointsEntry
    with unit_of_work(engine, readonly=True) as session:
        ledger: dict[int, int] = {
            int(m): int(v)
            for m, v in session.execute(
                select(entry.member_id, func.sum(entry.points))
                .where(entry.member_id.in_(ids))
                .group_by(entry.member_id)
            )
        }
        redeemed: dict[int, int] = {
            int(m): -int(v)
            for m, v in session.execute(
                select(entry.member_id, func.sum(entry.points))
                .where(entry.member_id.in_(ids), entry.kind == "redeem")
                .group_by(entry.member_id)
            )
        }
        balances: dict[int, int] = {m: points.balance_of(session, m) for m in ids}
    return {"ledger": ledger, "redeemed": redeemed, "balances": balances}


def _points_run(
    url: str,
    engine: Engine,
    points: ModuleType,
    members: list[str],
    plan: tuple[str, int, int, int, float],
) -> dict[str, Any]:
    tag, first, count, granted, seconds = plan
    funded = members[first : first + count]
    with unit_of_work(engine) as session:
        for member in funded:
            points.adjust(
                session, member, granted, "bench funding", "bench", reference=f"fund-{tag}-{member}"
            )
    os.environ[_MEMBERS_ENV] = json.dumps([tag, funded])
    vacuum_analyze(engine)
    done, refused, elapsed = run_workers(_redeemer, url, POINTS_PROCESSES, seconds)
    ids = [int(m[1:]) for m in funded]
    check = _ledger_check(engine, points, ids)
    redeemed, ledger, balances = check["redeemed"], check["ledger"], check["balances"]
    booked = sum(redeemed.values())
    # Everything ever credited to the member (its funding, earlier orders' points).
    credited = {m: ledger.get(m, 0) + redeemed.get(m, 0) for m in ids}
    return {
        "per_s": round(done / elapsed),
        "tries_per_s": round((done + refused) / elapsed),
        "redeemed": done,
        "refused_insufficient": refused,
        "members": len(ids),
        "granted_each": granted,
        "seconds": seconds,
        # Points handed out beyond what was there, or booked beyond what the tills were told.
        "double_spent": sum(max(0, redeemed.get(m, 0) - credited[m]) for m in ids)
        + max(0, booked - done * POINTS_STEP),
        "ledger_drift": sum(abs(ledger.get(m, 0) - balances[m]) for m in ids),
        "negative_balances": sum(1 for m in ids if balances[m] < 0),
        "booked_matches_successes": booked == done * POINTS_STEP,
    }


def points_phase(url: str, engine: Engine, members: list[str]) -> dict[str, Any]:
    points = points_module()
    if points is None:
        return {"points": "skipped: yipan.members.service.points is not in this checkout"}
    runs = {plan[0]: _points_run(url, engine, points, members, plan) for plan in (THROUGHPUT, RACE)}
    race = runs["race"]
    return {
        "points_redeem_per_s": runs["throughput"]["per_s"],
        "points_double_spent": sum(r["double_spent"] for r in runs.values()),
        "points_ledger_drift": sum(r["ledger_drift"] for r in runs.values()),
        "points_negative_balances": sum(r["negative_balances"] for r in runs.values()),
        "points_race_redeemed": race["redeemed"],
        "points_race_available": race["members"] * race["granted_each"] // POINTS_STEP,
        "points_processes": POINTS_PROCESSES,
        "points_runs": runs,
    }


# --- per backend ------------------------------------------------------------------------------


def run_backend(
    name: str, url: str, engine: Engine, records: int, chunk_size: int, workers: int
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    log(f"{name}: building the demo (nodes, SKUs, channels) for the orders of the 360 phase")
    t0 = time.perf_counter()
    world = build_world(engine)
    figures["build_s"] = round(time.perf_counter() - t0, 1)
    vacuum_analyze(engine)

    log(f"{name}: identity resolution, {records:,} records")
    got, found = identity(engine, records, chunk_size, workers, name)
    figures.update(got)
    log(
        f"{name}: precision {got['identity_merge_precision']}, recall {got['identity_merge_recall']}, "
        f"outcomes {got['identity_outcomes']}"
    )
    # The import's pending events (merges, reviews: those a handler listens for; a member
    # created or a record linked is recorded delivered) are delivered first, as a running
    # worker would have by then: the 360 view is timed on a server in its steady state.
    t0 = time.perf_counter()
    backlog = deliver_backlog(engine)
    figures["identity_events_delivered"] = backlog.delivered
    figures["identity_events_delivery_s"] = round(time.perf_counter() - t0, 1)
    log(
        f"{name}: the import's {backlog.delivered:,} events delivered in "
        f"{figures['identity_events_delivery_s']}s"
    )
    vacuum_analyze(engine)

    members = rich_members(found, SAMPLE_MEMBERS)
    log(f"{name}: the 360 view for {len(members)} members seen in several systems")
    figures.update(member_360(url, engine, world, members))
    log(f"{name}: 360 p50 {figures['member_360_p50_ms']} ms, p99 {figures['member_360_p99_ms']} ms")

    log(f"{name}: points redeemed by {POINTS_PROCESSES} processes")
    got = points_phase(url, engine, members)
    figures.update(got)
    log(f"{name}: {json.dumps(got)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    # The target size on PostgreSQL; SQLite gets a twentieth, which keeps the run under 10 min.
    parser.add_argument("--identity-records", type=int, default=1_000_000, help="on PostgreSQL")
    parser.add_argument("--sqlite-identity-records", type=int, default=50_000, help="on SQLite")
    parser.add_argument("--chunk-size", type=int, default=5000, help="records per unit of work")
    parser.add_argument(
        "--identity-workers",
        type=int,
        # One per core of the VM it is measured on: since the processes keep their members in
        # memory they wait less on PostgreSQL, and a third took ~10 % more CPU and longer.
        default=2,
        help="processes ingesting the files on PostgreSQL (SQLite: one)",
    )
    parser.add_argument("--carts", type=int, default=5000, help="timed carts after the warm-up")
    parser.add_argument("--quick", action="store_true", help="20,000 records, 2,000 carts")
    parser.add_argument("--skip-pricing", action="store_true")
    args = parser.parse_args()
    records = 20_000 if args.quick else args.identity_records
    carts = 2000 if args.quick else args.carts
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if not args.skip_pricing:
        log(
            f"pricing: {carts:,} carts of {CART_LINES} lines, {PROMOTIONS} promotions, "
            f"{COUPONS_PER_CART} coupons"
        )
        results.update(pricing(carts))
        log(
            f"pricing: p50 {results['price_cart_p50_us']} µs, p99 {results['price_cart_p99_us']} µs"
        )
    if args.only in (None, "postgresql"):
        url = os.environ.get(PG_ENV, DEFAULT_PG)
        engine = fresh_postgres(url)
        results["postgresql"] = run_backend(
            "postgresql", url, engine, records, args.chunk_size, args.identity_workers
        )
        engine.dispose()
    if args.only in (None, "sqlite"):
        sqlite_records = 20_000 if args.quick else args.sqlite_identity_records
        with tempfile.TemporaryDirectory() as tmp:
            engine = fresh_sqlite(Path(tmp))
            url = engine.url.render_as_string()
            results["sqlite"] = run_backend(
                "sqlite", url, engine, sqlite_records, args.chunk_size, 1
            )
            engine.dispose()
    results["machine"] = {**machine(), "bench_total_s": round(time.perf_counter() - started)}
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
