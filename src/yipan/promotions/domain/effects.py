"""Offers prepared for one cart, and the step that applies one of them to the cart's line amounts.

An `Effect` is a promotion or coupon bound to a cart: the positions of the lines it covers, its
budget, and a `discount` function of the current line amounts. Applying one (`apply`) takes its
discount off those lines, split by `allocate_discount` (largest remainder in proportion to the
line amounts; ties to the larger line, then the lower line_no) so the shares add up exactly.

Every discount here only grows with the amounts it is computed on, and applying an effect only
ever lowers amounts. So a discount computed at list prices (`bound`) is an upper bound of the
same discount anywhere later in any combination: the search relies on that to prune.

Rounding: a percent discount is round-half-up of the exact amount, in fen, once per application
on the covered total (not per line), so 10% of 0.05 yuan is 1 fen, of 0.04 yuan 0 fen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from operator import itemgetter

from yipan.kernel.money import allocate_discount
from yipan.promotions.domain.coupons import CouponKind, Stacking
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.domain.promotions import LAYER_ORDER, Kind, Layer, Step

Amounts = tuple[int, ...]

# Order inside a layer: unit pools work on shelf (or member) unit prices, so they come before a
# percent off; a free item comes before coupons that take a share of what is left.
# Keyed by the kinds' string values, which is what a binding carries.
PROMOTION_ORDER: dict[str, int] = {
    Kind.MEMBER_PRICE: 0,
    Kind.BUY_X_GET_Y: 0,
    Kind.N_FOR_PRICE: 0,
    Kind.PERCENT_OFF: 1,
    Kind.THRESHOLD_REDUCTION: 0,
}
COUPON_ORDER: dict[str, int] = {
    CouponKind.FREE_ITEM: 0,
    CouponKind.PERCENT_OFF: 1,
    CouponKind.AMOUNT_OFF: 2,
    CouponKind.THRESHOLD_OFF: 3,
}


def percent_of(amount_fen: int, percent: int) -> int:
    """Round half up: x.5 fen goes to the customer."""
    return (amount_fen * percent + 50) // 100


def summer(lines: tuple[int, ...], line_count: int) -> Callable[[Sequence[int]], int]:
    if len(lines) == line_count:
        return sum
    if len(lines) == 1:
        only = lines[0]
        return lambda amounts: amounts[only]
    pick = itemgetter(*lines)
    return lambda amounts: sum(pick(amounts))


def unit_runs(
    amounts: Sequence[int], quantities: Sequence[int], lines: Sequence[int]
) -> list[tuple[int, int]]:
    """The units on these lines as (value, how many), cheapest first.

    A line of amount a and quantity q holds a % q units worth a // q + 1 and the rest worth
    a // q, so unit values are whole fen and add back up to the line exactly.
    """
    runs: list[tuple[int, int]] = []
    for i in lines:
        low, dearer = divmod(amounts[i], quantities[i])
        if quantities[i] > dearer:
            runs.append((low, quantities[i] - dearer))
        if dearer:
            runs.append((low + 1, dearer))
    runs.sort()
    return runs


def cheapest(runs: list[tuple[int, int]], units: int) -> int:
    """What the `units` cheapest units are worth together."""
    worth = 0
    for value, count in runs:
        if units <= 0:
            break
        take = min(count, units)
        worth += take * value
        units -= take
    return worth


def grouped_savings(runs: list[tuple[int, int]], size: int, price: int) -> int:
    """Units grouped by `size`, dearest first, each group sold for `price`: how much is saved.

    Groups that would cost more than `price` anyway save nothing, and every later group is
    cheaper still, so grouping stops there.
    """
    groups = sum(count for _, count in runs) // size
    saved = acc = 0
    need = size
    for value, count in reversed(runs):
        while count and groups:
            if need == size and count >= size:
                whole = min(count // size, groups)
                over = size * value - price
                if over <= 0:
                    return saved
                saved += whole * over
                count -= whole * size
                groups -= whole
                continue
            take = min(need, count)
            acc += take * value
            count -= take
            need -= take
            if need == 0:
                if acc <= price:
                    return saved
                saved += acc - price
                groups -= 1
                need, acc = size, 0
        if not groups:
            break
    return saved


@dataclass(slots=True)
class Binding:
    """What every effect knows: which offer it is and which of the cart's lines it covers.

    Not frozen: one is built per offer per cart, and a frozen dataclass takes three times as long
    to build; nothing keeps or changes it after the effect has read it.
    """

    source: Source
    source_id: str
    kind: str
    layer: Layer
    lines: tuple[int, ...]
    line_count: int
    budget: int | None = None
    group: str | None = None
    pool: str | None = None
    stacking: Stacking | None = None


class Effect:
    """One offer bound to one cart. Subclasses say how much it takes off given line amounts."""

    __slots__ = (
        "allows_coupons",
        "allows_promotions",
        "bound",
        "budget",
        "group",
        "key",
        "kind",
        "layer",
        "lines",
        "mask",
        "pool",
        "rank",
        "slope",
        "source",
        "source_id",
        "total",
    )

    def __init__(self, binding: Binding) -> None:
        self.source = binding.source
        self.source_id = binding.source_id
        self.kind = binding.kind
        self.layer = binding.layer
        self.rank = LAYER_ORDER[binding.layer]
        order = COUPON_ORDER if binding.source is Source.COUPON else PROMOTION_ORDER
        self.key = (self.rank, order[binding.kind], binding.source_id)
        self.lines = binding.lines
        mask = 0
        for i in binding.lines:
            mask |= 1 << i
        self.mask = mask
        self.total = summer(binding.lines, binding.line_count)
        self.budget = binding.budget
        self.group = binding.group
        # Effects of the same pool never share a line: one member price and one unit pool per line.
        self.pool = binding.pool
        stacking = binding.stacking
        self.allows_promotions = stacking is None or stacking.allows_promotions
        self.allows_coupons = stacking is None or stacking.allows_coupons
        self.bound = 0
        # (a, b, c): the discount never exceeds ceil((total × a + b) / c) for any amounts, where
        # total is the whole cart; None when it does not grow in proportion to the total.
        self.slope: tuple[int, int, int] | None = None

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        """Before the budget. `entry` holds the amounts as the effect's layer began."""
        raise NotImplementedError

    def weights(self, amounts: Amounts) -> list[int] | None:
        """What the discount is split in proportion to; None: the current line amounts."""
        return None

    def capped(self, amounts: Amounts, entry: Amounts) -> int:
        discount = self.discount(amounts, entry)
        return discount if self.budget is None else min(discount, self.budget)

    def take(self, amounts: Amounts) -> int:
        """What it would take if its layer began at `amounts`: a bound for any amounts below."""
        return self.capped(amounts, amounts)

    def condition_met(self, entry: Amounts) -> bool:
        """Whether a threshold or minimum spend is met by amounts as the layer began."""
        return True


class MemberPriceEffect(Effect):
    __slots__ = ("targets",)

    def __init__(self, binding: Binding, targets: tuple[int, ...]) -> None:
        super().__init__(binding)
        self.targets = targets  # member price × quantity, per covered line

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        return sum(
            max(0, amounts[i] - target) for i, target in zip(self.lines, self.targets, strict=True)
        )

    def weights(self, amounts: Amounts) -> list[int] | None:
        return [
            max(0, amounts[i] - target) for i, target in zip(self.lines, self.targets, strict=True)
        ]


class BuyXGetYEffect(Effect):
    __slots__ = ("free_per_group", "group_size", "quantities")

    def __init__(self, binding: Binding, buy: int, get: int, quantities: tuple[int, ...]) -> None:
        super().__init__(binding)
        self.group_size = buy + get
        self.free_per_group = get
        self.quantities = quantities

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        runs = unit_runs(amounts, self.quantities, self.lines)
        units = sum(count for _, count in runs)
        return cheapest(runs, units // self.group_size * self.free_per_group)


class NForPriceEffect(Effect):
    __slots__ = ("group_size", "price", "quantities")

    def __init__(
        self, binding: Binding, quantity: int, price: int, quantities: tuple[int, ...]
    ) -> None:
        super().__init__(binding)
        self.group_size = quantity
        self.price = price
        self.quantities = quantities

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        runs = unit_runs(amounts, self.quantities, self.lines)
        return grouped_savings(runs, self.group_size, self.price)


class PercentEffect(Effect):
    __slots__ = ("cap", "percent")

    def __init__(self, binding: Binding, percent: int, cap: int | None) -> None:
        super().__init__(binding)
        self.percent = percent
        self.cap = cap

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        off = percent_of(self.total(amounts), self.percent)
        return off if self.cap is None else min(off, self.cap)


class ThresholdEffect(Effect):
    """满减 judged on the covered amount as the order layer began, taken from what is left now."""

    __slots__ = ("cap", "repeat", "steps")

    def __init__(
        self, binding: Binding, steps: tuple[Step, ...], repeat: bool, cap: int | None
    ) -> None:
        super().__init__(binding)
        self.steps = steps
        self.repeat = repeat
        self.cap = cap
        if repeat and self.budget is None and len(self.lines) == binding.line_count:
            # floor(x / t) × r ≤ x × r / t, and the steepest step bounds them all.
            step = max(steps, key=lambda s: Fraction(s.reduction_fen, s.threshold_fen))
            self.slope = (step.reduction_fen, 0, step.threshold_fen)

    def reduction(self, base: int) -> int:
        best = 0
        for step in self.steps:
            if base < step.threshold_fen:
                break
            times = base // step.threshold_fen if self.repeat else 1
            best = max(best, times * step.reduction_fen)
        return best if self.cap is None else min(best, self.cap)

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        return min(self.reduction(self.total(entry)), self.total(amounts))

    def take(self, amounts: Amounts) -> int:
        total = self.total(amounts)
        taken = min(self.reduction(total), total)
        return taken if self.budget is None else min(taken, self.budget)

    def condition_met(self, entry: Amounts) -> bool:
        return self.total(entry) >= self.steps[0].threshold_fen


class CouponEffect(Effect):
    """Amount off, percent off or a free item, if the covered goods reach `need` at layer entry.

    `condition_total` sums the template's scope, which for a free item is wider than the lines
    the discount lands on (the item's own lines).
    """

    __slots__ = ("amount", "condition_total", "free_units", "need", "percent", "quantities")

    def __init__(
        self,
        binding: Binding,
        condition_total: Callable[[Sequence[int]], int],
        need: int,
        *,
        amount: int = 0,
        percent: int = 0,
        free_units: int = 0,
        quantities: tuple[int, ...] = (),
    ) -> None:
        super().__init__(binding)
        self.condition_total = condition_total
        self.need = need
        self.amount = amount  # for a percent coupon: its cap, 0 for none
        self.percent = percent
        self.free_units = free_units
        self.quantities = quantities
        if percent and len(self.lines) == binding.line_count:
            self.slope = (percent, 50, 100)  # round half up of x × p / 100

    def condition_met(self, entry: Amounts) -> bool:
        return self.need == 0 or self.condition_total(entry) >= self.need

    def discount(self, amounts: Amounts, entry: Amounts) -> int:
        if self.need and self.condition_total(entry) < self.need:
            return 0
        if self.free_units:
            return cheapest(unit_runs(amounts, self.quantities, self.lines), self.free_units)
        left = self.total(amounts)
        if self.percent:
            off = percent_of(left, self.percent)
            return min(off, self.amount) if self.amount else off
        return min(self.amount, left)


class State:
    """Line amounts after some effects, linked back to how they got there."""

    __slots__ = (
        "amounts",
        "coupon_bounds",
        "coupon_takes",
        "discount",
        "effect",
        "entry",
        "parent",
        "parts",
        "payable",
        "rank",
        "shrink",
        "touched",
    )

    def __init__(
        self,
        amounts: Amounts,
        entry: Amounts,
        rank: int,
        payable: int,
        parent: State | None = None,
        effect: Effect | None = None,
        discount: int = 0,
        parts: tuple[int, ...] = (),
    ) -> None:
        self.amounts = amounts
        self.entry = entry
        self.rank = rank
        self.payable = payable
        self.parent = parent
        self.effect = effect
        self.discount = discount
        self.parts = parts
        # Lines this state's effects changed (a bit per line position), and, for the search, what
        # coupons could still take (alone, with promotions) and how far the list-price bounds of
        # later effects on changed lines overstate them now.
        self.touched: int = 0
        self.coupon_takes: list[int] | None = None
        self.coupon_bounds: tuple[int, int] | None = None
        self.shrink: list[tuple[int, int]] | None = None

    @classmethod
    def start(cls, amounts: Amounts) -> State:
        return cls(amounts, amounts, -1, sum(amounts))

    def entry_for(self, effect: Effect) -> Amounts:
        return self.amounts if effect.rank > self.rank else self.entry

    def discount_of(self, effect: Effect) -> int:
        """What `effect` would take off next, without splitting it over the lines."""
        return effect.capped(self.amounts, self.entry_for(effect))

    def apply(self, effect: Effect) -> State:
        amounts = self.amounts
        entry = self.entry_for(effect)
        discount = effect.capped(amounts, entry)
        if discount <= 0:
            state = State(amounts, entry, effect.rank, self.payable, self, effect)
            state.touched = self.touched
            return state
        lines = effect.lines
        weights = effect.weights(amounts)
        if weights is None:
            weights = [amounts[i] for i in lines]
        parts = weights if discount == sum(weights) else allocate_discount(discount, weights)
        after = list(amounts)
        for i, part in zip(lines, parts, strict=True):
            after[i] -= part
        state = State(
            tuple(after),
            entry,
            effect.rank,
            self.payable - discount,
            self,
            effect,
            discount,
            tuple(parts),
        )
        state.touched = self.touched | effect.mask
        return state

    def history(self) -> list[State]:
        """The states that applied an effect, in application order (layer, kind, id).

        The search may apply item-level offers that share no line in another order (see
        `search.decision_order`); each one's shares are the same either way.
        """
        chain: list[State] = []
        state: State | None = self
        while state is not None and state.effect is not None:
            chain.append(state)
            state = state.parent
        chain.sort(key=_effect_key)
        return chain


def _effect_key(state: State) -> tuple[int, int, str]:
    assert state.effect is not None
    return state.effect.key
