"""The KPI figures as values: shares with their numerator and denominator, days of cover, and
a node's stock health. docs/kpis.md says what each one counts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Line statuses that are sales: still to be handed over, or handed over. A cancelled line and a
# line no node could fulfil never became a sale.
SOLD_LINE_STATUSES = ("open", "fulfilled")
# Node types that are shops: where a customer picks up, buys at the till or brings goods back.
STORE_TYPES = ("store", "distributor_store")
# Fulfilment methods in which a node sends the goods to the customer.
DELIVERY_METHODS = ("ship", "local_delivery", "group_leader")


@dataclass(frozen=True)
class Share:
    """`part` of `whole`, both kept so that the figure can be checked; no ratio of nothing."""

    part: int
    whole: int

    def __post_init__(self) -> None:
        if not 0 <= self.part <= self.whole:
            raise ValueError(f"a share needs 0 <= part <= whole, got {self.part}/{self.whole}")

    @property
    def ratio(self) -> float | None:
        return None if self.whole == 0 else self.part / self.whole

    @property
    def percent(self) -> float | None:
        ratio = self.ratio
        return None if ratio is None else round(100 * ratio, 1)


def days_of_cover(on_hand: int, units_sold: int, days: int) -> float | None:
    """How many days `on_hand` lasts at the average daily sales of the last `days` days; None
    when nothing sold (the stock lasts for ever, which is no number to act on)."""
    if units_sold <= 0 or days <= 0:
        return None
    return round(on_hand / (units_sold / days), 1)


class HealthBand(StrEnum):
    GOOD = "good"
    WATCH = "watch"
    POOR = "poor"
    EMPTY = "empty"  # the node carries nothing


# Share of a node's carried SKUs that are out or under their alert threshold.
WATCH_FROM = 0.05
POOR_FROM = 0.15

HEALTH_COLOURS: dict[HealthBand, str] = {
    HealthBand.GOOD: "#2f9e5d",
    HealthBand.WATCH: "#e39b0b",
    HealthBand.POOR: "#d1343e",
    HealthBand.EMPTY: "#9aa5b4",
}


def health_band(short: int, carried: int) -> HealthBand:
    """A node's stock health from how many of the SKUs it carries are short (out or low)."""
    if carried <= 0:
        return HealthBand.EMPTY
    share = short / carried
    if share >= POOR_FROM:
        return HealthBand.POOR
    if share >= WATCH_FROM:
        return HealthBand.WATCH
    return HealthBand.GOOD


# --- the KPI table (by day, channel, region or store) -----------------------------------------


class Breakdown(StrEnum):
    DAY = "day"
    CHANNEL = "channel"
    REGION = "region"
    STORE = "store"


# Breakdowns under which the stock figures exist: stock sits at nodes, not in days or channels.
STOCK_BREAKDOWNS = frozenset({Breakdown.REGION, Breakdown.STORE})


def mean_fen(total_fen: int, count: int) -> int | None:
    """`total_fen / count` rounded half up to whole fen (integers only); None for no count."""
    if count <= 0:
        return None
    return (2 * total_fen + count) // (2 * count)


def average_on_hand(closing: int, weighted_change: float) -> float:
    """The time-weighted mean stock over a period from its closing stock and Σ qᵢ·(tᵢ − start)/T
    over the period's movements: ∫ on_hand dt / T = closing − Σ qᵢ·(tᵢ − start)/T. Never below
    zero: a negative reconstruction means the ledger's dates are out of order."""
    return max(0.0, closing - weighted_change)


def turnover(units_issued: int, avg_on_hand: float) -> float | None:
    """Units issued to customers over the period ÷ the mean stock held; None without stock."""
    if avg_on_hand <= 0:
        return None
    return round(units_issued / avg_on_hand, 2)


def inventory_days(units_issued: int, avg_on_hand: float, days: int) -> float | None:
    """How many days the mean stock lasted at the period's rate of issue: days × stock ÷ units;
    None when nothing was issued."""
    if units_issued <= 0 or days <= 0:
        return None
    return round(days * avg_on_hand / units_issued, 1)


def per_m2(net_fen: int, area_m2: int) -> int | None:
    """Net sales per m² of sales floor, whole fen rounded half up; None without a floor area."""
    return mean_fen(net_fen, area_m2)


@dataclass(frozen=True)
class StockFigures:
    """The stock figures of a node, a region or the scope (docs/kpis.md, "KPI table")."""

    stock_out: Share  # store levels with ATP ≤ 0, of the levels stores carry (now)
    units_issued: int  # sold or committed to customers from the ledger over the period
    avg_on_hand: float  # time-weighted over the period, from the ledger
    days: int

    @property
    def turnover(self) -> float | None:
        return turnover(self.units_issued, self.avg_on_hand)

    @property
    def inventory_days(self) -> float | None:
        return inventory_days(self.units_issued, self.avg_on_hand, self.days)


@dataclass(frozen=True)
class KpiRow:
    """Every KPI for one key of a breakdown (a day, a channel, a province, a store) or for the
    whole scope (key None). Shares keep their two counts; docs/kpis.md defines each."""

    key: str | None
    orders: int
    net_fen: int
    units: int  # sold less returned
    member_share: Share  # fen of member orders, of net fen
    repurchase: Share  # members with 2+ orders, of the members who ordered
    omnichannel: Share  # orders that crossed channels, of orders
    online_to_offline: Share  # online orders served by a store, of online orders
    pickup: Share  # orders with a pickup line, of orders not sold at a till
    return_rate: Share  # units returned, of units sold
    fill_rate: Share  # units a node took on, of units ordered (cancelled lines left out)
    on_time_pickup: Share  # pickups collected within the hold, of pickups collected or expired
    floor_area_m2: int | None  # of the stores whose sales count below; None when not a place
    store_net_fen: int  # net sales of orders homed at those stores
    stock: StockFigures | None = None  # None for a day or a channel
    # The orders that crossed channels each way (docs/kpis.md, "Orders"); BOPIS is `pickup.part`.
    ship_from_store: int = 0
    return_in_store: int = 0
    guide: int = 0

    @property
    def average_order_fen(self) -> int | None:
        return mean_fen(self.net_fen, self.orders)

    @property
    def sales_per_m2_fen(self) -> int | None:
        if not self.floor_area_m2:
            return None
        return per_m2(self.store_net_fen, self.floor_area_m2)
