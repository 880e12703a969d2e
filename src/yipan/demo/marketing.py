"""The demo's marketing calendar: the festival promotions, a member price and coupon campaigns.

Dates follow the build's clock: the most recent 618 (June 1–18) and Double 11 (November 1–11)
that have begun, each with a promotion on Yipan's own channels and a coupon campaign, a "come
back" coupon sent ten days ago (some still open), and a member price on the hero T-shirt that
starts today. Pure: the build saves these through the promotions service and the history uses
the same definitions to price the orders they touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from yipan.demo.catalogue import DemoSku, Family, hero_sku
from yipan.promotions.domain.coupons import Stacking
from yipan.promotions.schemas import (
    CouponTemplateIn,
    MemberPriceIn,
    PercentOffIn,
    PromotionIn,
    ScopeIn,
    StepIn,
    ThresholdOffIn,
    ThresholdReductionIn,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Yipan prices these channels itself; the promotions and coupons apply there.
OWN_CHANNELS = ("online-shop", "mini-program", "guide")
MANJIAN_STEP_FEN, MANJIAN_OFF_FEN = 20_000, 2_000  # 每满 200 减 20
FESTIVAL_PERCENT = 20  # 8折 on one category on Double 11
MEMBER_PRICE_DAYS = 30


@dataclass(frozen=True)
class Festival:
    code: str
    name: str
    starts_at: datetime  # UTC, inclusive
    ends_at: datetime  # UTC, exclusive

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Campaign:
    """Coupons of `template` issued at `issue_at` to a `share` of the members there were then;
    a holder uses it on an order it fits with chance `use_rate`."""

    template: CouponTemplateIn
    issue_at: datetime
    share: float
    use_rate: float

    @property
    def valid_until(self) -> datetime:
        if self.template.valid_until is not None:
            return self.template.valid_until
        assert self.template.valid_days is not None
        return self.issue_at + timedelta(days=self.template.valid_days)

    def usable(self, at: datetime) -> bool:
        return self.issue_at <= at < self.valid_until


@dataclass(frozen=True)
class Calendar:
    festivals: tuple[Festival, Festival]  # 618, Double 11
    promotions: tuple[PromotionIn, ...]
    campaigns: tuple[Campaign, ...]
    festival_category: str  # the category on sale on Double 11

    @property
    def manjian(self) -> PromotionIn:
        return self.promotions[0]

    @property
    def category_sale(self) -> PromotionIn:
        return self.promotions[1]


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _latest(now: datetime, month: int, day: int) -> date:
    """The most recent `month`-`day` (tenant's calendar) on or before `now`."""
    today = now.astimezone(SHANGHAI).date()
    year = today.year if (today.month, today.day) >= (month, day) else today.year - 1
    return date(year, month, day)


def festivals(now: datetime) -> tuple[Festival, Festival]:
    june = _latest(now, 6, 1)
    november = _latest(now, 11, 1)
    return (
        Festival(
            "618",
            f"{june.year} 618",
            local_midnight(june),
            local_midnight(june.replace(day=19)),
        ),
        Festival(
            "1111",
            f"{november.year} 双11",
            local_midnight(november),
            local_midnight(november.replace(day=12)),
        ),
    )


def festival_category(skus: Sequence[DemoSku]) -> str:
    """The shoe category with the most SKUs (there is one at every scale)."""
    counts: dict[str, int] = {}
    for s in skus:
        if s.family is Family.SHOES:
            counts[s.sku.category_code] = counts.get(s.sku.category_code, 0) + 1
    return max(sorted(counts), key=lambda c: counts[c])


def demo_calendar(now: datetime, skus: Sequence[DemoSku]) -> Calendar:
    june, november = festivals(now)
    category = festival_category(skus)
    hero = hero_sku(list(skus))
    hero_skus = sorted(s.code for s in skus if s.sku.product_code == hero.sku.product_code)
    price = hero.sku.list_price_fen
    today = local_midnight(now.astimezone(SHANGHAI).date())
    own = list(OWN_CHANNELS)
    promotions = (
        PromotionIn(
            code=f"618-MANJIAN-{june.starts_at.astimezone(SHANGHAI).year}",
            name=f"{june.name} 全场每满200减20",
            rule=ThresholdReductionIn(
                kind="threshold_reduction",
                steps=[StepIn(threshold_fen=MANJIAN_STEP_FEN, reduction_fen=MANJIAN_OFF_FEN)],
                repeat=True,
            ),
            channels=own,
            starts_at=june.starts_at,
            ends_at=june.ends_at,
        ),
        PromotionIn(
            code=f"1111-{category.upper()}-{november.starts_at.astimezone(SHANGHAI).year}",
            name=f"{november.name} 鞋类8折",
            rule=PercentOffIn(kind="percent_off", percent=FESTIVAL_PERCENT),
            scope=ScopeIn(categories=[category]),
            channels=own,
            starts_at=november.starts_at,
            ends_at=november.ends_at,
        ),
        PromotionIn(
            code="MEMBER-PRICE-HERO",
            name=f"会员价：{hero.sku.product_name or hero.sku.name}",
            rule=MemberPriceIn(
                kind="member_price",
                tier_prices={
                    "silver": price * 90 // 100,
                    "gold": price * 85 // 100,
                    "black": price * 80 // 100,
                },
            ),
            scope=ScopeIn(skus=hero_skus),
            starts_at=today,
            ends_at=today + timedelta(days=MEMBER_PRICE_DAYS),
        ),
    )
    comeback = today - timedelta(days=10)
    campaigns = (
        Campaign(
            CouponTemplateIn(
                code=f"618-COUPON-{june.starts_at.astimezone(SHANGHAI).year}",
                name=f"{june.name} 满199减20",
                benefit=ThresholdOffIn(
                    kind="threshold_off", threshold_fen=19_900, amount_fen=2_000
                ),
                stacking=Stacking.WITH_PROMOTIONS,
                channels=own,
                valid_from=june.starts_at,
                valid_until=june.ends_at + timedelta(days=2),
            ),
            issue_at=june.starts_at + timedelta(hours=8),
            share=0.2,
            use_rate=0.9,
        ),
        Campaign(
            CouponTemplateIn(
                code=f"1111-COUPON-{november.starts_at.astimezone(SHANGHAI).year}",
                name=f"{november.name} 满299减40",
                benefit=ThresholdOffIn(
                    kind="threshold_off", threshold_fen=29_900, amount_fen=4_000
                ),
                stacking=Stacking.WITH_PROMOTIONS,
                channels=own,
                valid_from=november.starts_at,
                valid_until=november.ends_at,
            ),
            issue_at=november.starts_at + timedelta(hours=8),
            share=0.25,
            use_rate=0.9,
        ),
        Campaign(
            CouponTemplateIn(
                code=f"COMEBACK-{comeback.astimezone(SHANGHAI):%Y%m%d}",
                name="老朋友回归券 满159减15",
                benefit=ThresholdOffIn(
                    kind="threshold_off", threshold_fen=15_900, amount_fen=1_500
                ),
                stacking=Stacking.WITH_PROMOTIONS,
                channels=own,
                valid_days=21,
            ),
            issue_at=comeback + timedelta(hours=10),
            share=0.08,
            use_rate=0.6,
        ),
    )
    return Calendar((june, november), promotions, campaigns, category)
