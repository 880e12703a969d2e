"""Price consistency: one SKU's price policy laid beside the unit prices its channels charged.

The rows are assembled here from values the caller has already read (the policy from
`catalog.prices.price_policies`, the sales from whichever context keeps them), so the
catalogue needs to know nothing about orders. Promotion discounts are not price differences:
observations carry unit prices before any discount.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from yipan.catalog.domain import (
    NO_RULE,
    ObservedCharge,
    PricePolicy,
    Verdict,
    effective_price,
    judge_charge,
)
from yipan.catalog.prices import price_exception_ref
from yipan.catalog.schemas import (
    ChannelPrice,
    ObservedPrices,
    PriceDifference,
    SkuPriceConsistency,
)


def price_consistency_row(
    policy: PricePolicy,
    observed: Iterable[ObservedCharge],
    *,
    channels: Iterable[str],
    at: datetime,
    channel: str | None = None,
) -> SkuPriceConsistency:
    """Lay one SKU's policy beside what was charged for it: the price per channel now, what each
    channel charged, and every difference with the exception that explains it or "no rule".

    `observed` holds this SKU's sales (unit prices before promotion discounts, which are not
    price differences); `channels` are the channels to show besides those that sold it;
    `channel`, when given, keeps only that channel.
    """
    sales = [o for o in observed if channel is None or o.channel == channel]
    shown = {channel} if channel else {*channels, *(o.channel for o in sales)}
    if channel is None:
        shown.update(r.channel for r in policy.rules if r.channel and r.in_force(at))
    differences = _policy_differences(policy, at, channel) + _sales_differences(policy, sales)
    unexplained = sum(not d.explained for d in differences)
    return SkuPriceConsistency(
        sku=policy.sku,
        name=policy.name,
        category_code=policy.category_code,
        list_price_fen=policy.list_price_fen,
        currency=policy.currency,
        status="unexplained" if unexplained else "explained" if differences else "consistent",
        unexplained=unexplained,
        channels=[_channel_price(policy, code, sales, at) for code in sorted(shown)],
        differences=differences,
    )


def _channel_price(
    policy: PricePolicy, channel: str, sales: Sequence[ObservedCharge], at: datetime
) -> ChannelPrice:
    resolved = effective_price(
        policy.list_price_fen, policy.rules, channel=channel, region=None, at=at
    )
    units: Counter[int] = Counter()
    lines = 0
    for o in sales:
        if o.channel == channel:
            units[o.unit_price_fen] += o.units
            lines += o.lines
    observed = None
    if units:
        observed = ObservedPrices(
            units=sum(units.values()),
            lines=lines,
            min_fen=min(units),
            max_fen=max(units),
            most_common_fen=min(units, key=lambda price: (-units[price], price)),
        )
    return ChannelPrice(
        channel=channel,
        effective_price_fen=resolved.price_fen,
        exception=price_exception_ref(resolved.rule) if resolved.rule else None,
        observed=observed,
    )


def _policy_differences(
    policy: PricePolicy, at: datetime, channel: str | None
) -> list[PriceDifference]:
    return [
        PriceDifference(
            source="policy",
            channel=rule.channel,
            region=rule.region,
            price_fen=rule.price_fen,
            list_price_fen=policy.list_price_fen,
            expected_fen=rule.price_fen,
            explained=True,
            reason=rule.reason,
            exception=price_exception_ref(rule),
        )
        for rule in policy.rules
        if rule.in_force(at)
        and rule.price_fen != policy.list_price_fen
        and (channel is None or rule.channel in (None, channel))
    ]


def _sales_differences(
    policy: PricePolicy, sales: Sequence[ObservedCharge]
) -> list[PriceDifference]:
    merged: dict[tuple[object, ...], PriceDifference] = {}
    for o in sales:
        judged = judge_charge(
            o.unit_price_fen,
            policy.list_price_fen,
            policy.rules,
            channel=o.channel,
            region=o.region,
            at=o.first_at,
        )
        if judged.verdict is Verdict.AS_LISTED:
            continue
        explained = judged.verdict is Verdict.EXPLAINED
        rule = judged.expected.rule
        key = (o.channel, o.region, o.unit_price_fen, judged.expected.price_fen, rule and rule.id)
        seen = merged.get(key)
        if seen is None:
            merged[key] = PriceDifference(
                source="sales",
                channel=o.channel,
                region=o.region,
                price_fen=o.unit_price_fen,
                list_price_fen=policy.list_price_fen,
                expected_fen=judged.expected.price_fen,
                explained=explained,
                reason=rule.reason if explained and rule else NO_RULE,
                exception=price_exception_ref(rule) if explained and rule else None,
                units=o.units,
                lines=o.lines,
                first_at=o.first_at,
                last_at=o.last_at,
            )
        else:
            seen.units = (seen.units or 0) + o.units
            seen.lines = (seen.lines or 0) + o.lines
            seen.first_at = min(seen.first_at or o.first_at, o.first_at)
            seen.last_at = max(seen.last_at or o.last_at, o.last_at)
    return sorted(
        merged.values(),
        key=lambda d: (d.explained, d.channel or "", d.region or "", d.price_fen),
    )
