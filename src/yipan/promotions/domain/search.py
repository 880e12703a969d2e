"""Choosing which promotions and coupons to combine: branch and bound over the offers, in layer order.

A combination picks, for each exclusion group, one member or none; for each promotion without a
group, in or out; and a set of coupons that their stacking rules allow together (any coupon with
no promotion chosen; only coupons that allow promotions otherwise; several only if all allow other
coupons). Two promotions of the same pool (member prices; unit pools) that share a line never go
together. Effects are applied in layer order whatever the combination, so a combination's price
does not depend on how it was found.

The search walks the promotions in application order (item-level offers that share no line in
the order `decision_order` gives), deciding each (a group is decided at its first member),
carrying the line amounts so far, so combinations that share a beginning share its work. It
tries "in" before "out" and, in a group, the member that could take most first, so the first
complete combination is the greedy one. A branch is cut when a lower bound of every price
it can still reach is no better than the best found. The bound takes each later offer's discount
at list prices (discounts only shrink as amounts fall), tightened where the branch already knows
more: offers a chosen one excludes, lines already lowered, order-level and coupon discounts
recomputed on the amounts reached, and discounts proportional to the cart total (每满 reductions,
percent coupons) let shrink with the item-level discounts still to come.

Ties: among equally cheap combinations the first met wins, and an offer that would take nothing
is never included, so the answer is unique, and since everything is ordered by layer, kind and
id (item-level offers first by what they could take at list prices), independent of input order.

Written by hand rather than handed to OR-Tools: a combination's price is a sequential computation
with fen rounding that a solver model would only approximate, and building and solving a model
costs more than the whole 2 ms budget of a cart.

The bound on work: at most `max_steps` steps (a branch visited, or a discount or bound computed).
Within it the result is the true optimum; past it the search stops and returns the best found so
far, at least the greedy combination, deterministically (steps are counted, not timed).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from yipan.promotions.domain.effects import Amounts, Effect, State
from yipan.promotions.domain.promotions import LAYER_ORDER, Layer

MAX_STEPS = 400
# Beyond this many stackable coupons, only the k largest together (for each k) are tried.
MAX_STACKED_COUPONS = 8


@dataclass(frozen=True)
class Choice:
    promotions: State  # the state after the chosen promotions, linked back through each
    coupons: tuple[Effect, ...]
    payable: int
    complete: bool

    def final(self) -> State:
        state = self.promotions
        for coupon in self.coupons:
            state = state.apply(coupon)
        return state


def _coupon_sets(coupons: list[Effect], promotions_chosen: bool) -> list[tuple[Effect, ...]]:
    usable = [c for c in coupons if c.allows_promotions or not promotions_chosen]
    sets: list[tuple[Effect, ...]] = [(c,) for c in usable]
    stackable = [c for c in usable if c.allows_coupons]
    if len(stackable) <= MAX_STACKED_COUPONS:
        for size in range(2, len(stackable) + 1):
            sets.extend(combinations(stackable, size))
    else:
        ranked = sorted(stackable, key=lambda c: (-c.bound, c.key))
        for size in range(2, len(ranked) + 1):
            sets.append(tuple(sorted(ranked[:size], key=lambda c: c.key)))
    sets.sort(key=lambda s: (-sum(c.bound for c in s), [c.key for c in s]))
    sets.append(())
    return sets


ORDER_RANK = LAYER_ORDER[Layer.ORDER]


def _most_coupons_take(coupons: list[Effect], takes: list[int], with_promotions: bool) -> int:
    """An upper bound of what any allowed coupon set takes, given what each coupon could take."""
    best_single = stacked = 0
    for coupon, take in zip(coupons, takes, strict=True):
        if with_promotions and not coupon.allows_promotions:
            continue
        best_single = max(best_single, take)
        if coupon.allows_coupons:
            stacked += take
    return max(best_single, stacked)


class _Search:
    def __init__(self, promotions: list[Effect], coupons: list[Effect], max_steps: int) -> None:
        self.effects = promotions
        self.coupons = coupons
        self.max_steps = max_steps
        self.steps = 0
        self.complete = True
        n = len(promotions)
        self.order_start = next((i for i, e in enumerate(promotions) if e.rank >= ORDER_RANK), n)
        members: dict[str, list[int]] = {}
        for i, effect in enumerate(promotions):
            if effect.group is not None:
                members.setdefault(effect.group, []).append(i)
        self.members = members
        self.options = {
            group: sorted(found, key=lambda i: (-promotions[i].bound, i))
            for group, found in members.items()
        }
        self.conflicts: list[set[int]] = [set() for _ in promotions]
        for i, a in enumerate(promotions):
            if a.pool is None:
                continue
            lines = set(a.lines)
            for j in range(i + 1, n):
                b = promotions[j]
                if b.pool == a.pool and not lines.isdisjoint(b.lines):
                    self.conflicts[i].add(j)
                    self.conflicts[j].add(i)
        self.list_bounds = [e.bound for e in promotions]
        self.price_suffix = self._suffix(self.list_bounds, 0, self.order_start)
        self.order_suffix = self._suffix(self.list_bounds, self.order_start, n)
        self.order_bounds: dict[int, tuple[Amounts, list[int], list[int]]] = {}
        # The order-level choices: one per ungrouped effect, one per group met there first.
        self.order_decisions = [
            [i] if e.group is None else members[e.group]
            for i, e in enumerate(promotions)
            if i >= self.order_start and (e.group is None or members[e.group][0] == i)
        ]
        # Sliding bounds assume every effect still to come before the order layer lowers its
        # entry total; a group with members on both sides breaks that, so it turns them off.
        spans_layers = any(
            (found[0] < self.order_start) != (found[-1] < self.order_start)
            for found in members.values()
        )
        self.sloped = not spans_layers and any(
            e.slope is not None for e in [*promotions[self.order_start :], *coupons]
        )
        self.alone = _coupon_sets(coupons, promotions_chosen=False)
        self.with_promotions = _coupon_sets(coupons, promotions_chosen=True)
        bounds = [c.bound for c in coupons]
        self.coupon_bound = (
            _most_coupons_take(coupons, bounds, with_promotions=False),
            _most_coupons_take(coupons, bounds, with_promotions=True),
        )
        self.best: Choice | None = None
        self.chosen: list[int] = []
        self.decided: dict[str, int | None] = {}
        # For each group decided on a member still to come: the bound its choice added to pending.
        self.promised: dict[str, int] = {}

    def _suffix(self, takes: list[int], start: int, stop: int) -> list[int]:
        """Per position i: the most the effects in [start, stop) from i on could take together.

        A group counts once, with its largest member, at its first member's position: once the
        search passes that position the group is decided and its choice is in `pending`.
        """
        suffix = [0] * (len(self.effects) + 1)
        for i in range(len(self.effects) - 1, -1, -1):
            extra = 0
            if start <= i < stop:
                group = self.effects[i].group
                if group is None:
                    extra = takes[i]
                elif self.members[group][0] == i:
                    extra = max(takes[j] for j in self.members[group])
            suffix[i] = suffix[i + 1] + extra
        return suffix

    def run(self, start: State) -> Choice:
        self._visit(0, start, 0)
        assert self.best is not None  # the first descent always reaches a combination
        return Choice(self.best.promotions, self.best.coupons, self.best.payable, self.complete)

    def _out_of_steps(self) -> bool:
        """Count a step; True once the budget is spent (never before a first combination)."""
        self.steps += 1
        if self.steps > self.max_steps and self.best is not None:
            self.complete = False
            return True
        return False

    def _hopeless(self, i: int, state: State, pending: int) -> bool:
        """Whether no completion of this branch can beat the best price found so far.

        A cheap test on list-price bounds first; only if it fails, a tighter one with order-level
        and coupon discounts recomputed on the amounts reached (cached per state).
        """
        if self.best is None:
            return False
        best = self.best.payable
        with_promotions = bool(self.chosen)
        floor = state.payable - self.price_suffix[i] - pending
        if floor - self.order_suffix[i] - self.coupon_bound[with_promotions] >= best:
            return True
        if i < self.order_start:
            # Item-level bounds that overstate: effects a chosen one excludes, and effects on
            # lines already lowered.
            blocked = {
                j
                for chosen in self.chosen
                if self.conflicts[chosen]
                for j in self.conflicts[chosen]
                if j >= i and self.effects[j].group is None
            }
            if blocked:
                floor += sum(self.effects[j].bound for j in blocked)
            if state.touched:
                shrink = self._shrink(state, i)
                floor += sum(saving for j, saving in shrink if j >= i and j not in blocked)
        if floor < best:
            return False  # the tests below only ever subtract more from `floor`
        low = floor  # no less than the cart total entering the order layer
        floor -= self._order_bounds(state)[1][max(i - self.order_start, 0)]
        if floor < best:
            return False
        if floor - self.coupon_bound[with_promotions] >= best:
            return True
        if floor - self._coupon_bounds(state)[with_promotions] >= best:
            return True
        if not self.sloped or i >= self.order_start:
            return False
        return self._sliding_floor(state, low, with_promotions) >= best

    def _shrink(self, state: State, i: int) -> list[tuple[int, int]]:
        """How much less than their list-price bound ungrouped item-level effects from i on could
        take, where earlier effects have already lowered their lines (cached per state; a state
        is first visited at its smallest position)."""
        if state.shrink is None:
            found = []
            amounts = state.amounts
            for j in range(i, self.order_start):
                effect = self.effects[j]
                if effect.group is None and effect.mask & state.touched:
                    self.steps += 1
                    saving = effect.bound - effect.capped(amounts, amounts)
                    if saving > 0:
                        found.append((j, saving))
            state.shrink = found
        return state.shrink

    def _coupon_takes(self, state: State) -> list[int]:
        if state.coupon_takes is None:
            self.steps += 1
            amounts = state.amounts
            state.coupon_takes = [c.capped(amounts, amounts) for c in self.coupons]
        return state.coupon_takes

    def _sliding_floor(self, state: State, low: int, with_promotions: bool) -> int:
        """The lowest final price if the total entering the order layer is anywhere in
        [low, now], with discounts that grow in proportion to the total bounded by lines in it.

        Final ≥ x − Σ order bounds(x) − max coupon-set bound(x): x minus convex functions of x,
        so concave in x, and its minimum over the range is at one end.
        """
        self.steps += 1
        high = state.payable
        takes = self._order_bounds(state)[0]

        def ends(effect: Effect, take: int) -> tuple[int, int]:
            if effect.slope is None:
                return take, take
            a, b, c = effect.slope
            at_low = -(-(low * a + b) // c)
            return (at_low, -(-(high * a + b) // c)) if at_low < take else (take, take)

        order_low = order_high = 0
        for members in self.order_decisions:
            pairs = [ends(self.effects[j], takes[j]) for j in members]
            order_low += max(p[0] for p in pairs)
            order_high += max(p[1] for p in pairs)
        pairs = [ends(c, t) for c, t in zip(self.coupons, self._coupon_takes(state), strict=True)]
        coupons = self.coupons
        coupons_low = _most_coupons_take(coupons, [p[0] for p in pairs], with_promotions)
        coupons_high = _most_coupons_take(coupons, [p[1] for p in pairs], with_promotions)
        return min(low - order_low - coupons_low, high - order_high - coupons_high)

    def _coupon_bounds(self, state: State) -> tuple[int, int]:
        if state.coupon_bounds is None:
            takes = self._coupon_takes(state)
            state.coupon_bounds = (
                _most_coupons_take(self.coupons, takes, with_promotions=False),
                _most_coupons_take(self.coupons, takes, with_promotions=True),
            )
        return state.coupon_bounds

    def _order_bounds(self, state: State) -> tuple[list[int], list[int]]:
        """What each order-level effect could take (by position) from the amounts the order layer
        starts from (or, before it, from an upper bound of them), and their sums from each order
        position on (`tail[i - order_start]`).

        Cached by the identity of those amounts: states share their tuples, and the cache keeps
        each alive, so an id is never reused meanwhile. A state one item-level effect away from
        a cached one only recomputes the order-level effects on the lines that effect changed.
        """
        amounts = state.amounts if state.rank < ORDER_RANK else state.entry
        found = self.order_bounds.get(id(amounts))
        if found is not None:
            return found[1], found[2]
        self.steps += 1
        start, effects = self.order_start, self.effects
        parent, changed = state.parent, state.effect
        known = None
        if state.rank < ORDER_RANK and parent is not None and changed is not None:
            known = self.order_bounds.get(id(parent.amounts))
        if known is not None and changed is not None:
            takes = list(known[1])
            mask = changed.mask
            for i in range(start, len(effects)):
                if effects[i].mask & mask:
                    takes[i] = effects[i].take(amounts)
        else:
            takes = [0] * len(effects)
            for i in range(start, len(effects)):
                takes[i] = effects[i].take(amounts)
        tail = [0] * (len(effects) - start + 1)
        for i in range(len(effects) - 1, start - 1, -1):
            extra = 0
            group = effects[i].group
            if group is None:
                extra = takes[i]
            elif self.members[group][0] == i:
                extra = max(takes[j] for j in self.members[group])
            tail[i - start] = tail[i - start + 1] + extra
        self.order_bounds[id(amounts)] = (amounts, takes, tail)
        return takes, tail

    def _visit(self, i: int, state: State, pending: int) -> None:
        """Decide offers from position i on; `pending` bounds chosen group members not yet applied."""
        self.steps += 1
        if self.best is not None:
            if self.steps > self.max_steps:
                self.complete = False
                return
            if self._hopeless(i, state, pending):
                return
        if i == len(self.effects):
            self._leaf(state)
            return
        effect = self.effects[i]
        group = effect.group
        if group is None:
            if self.conflicts[i].isdisjoint(self.chosen):
                self.chosen.append(i)
                self._include(i, state, pending)
                self.chosen.pop()
            self._visit(i + 1, state, pending)
            return
        if group in self.decided:
            if self.decided[group] == i:
                self._include(i, state, pending - self.promised[group])
            else:
                self._visit(i + 1, state, pending)
            return
        # Past the item level the order layer's entry is known, and so is what each member takes.
        takes = self.list_bounds
        options = self.options[group]
        if i >= self.order_start:
            takes = self._order_bounds(state)[0]
            options = sorted(options, key=lambda j: (-takes[j], j))
        for member in options:
            if not self.conflicts[member].isdisjoint(self.chosen):
                continue
            self.decided[group] = member
            self.chosen.append(member)
            if member == i:
                self._include(i, state, pending)
            else:
                self.promised[group] = takes[member]
                self._visit(i + 1, state, pending + takes[member])
                del self.promised[group]
            self.chosen.pop()
        self.decided[group] = None
        self._visit(i + 1, state, pending)
        del self.decided[group]

    def _include(self, i: int, state: State, pending: int) -> None:
        """Go on with effect i applied, unless it takes nothing: then leaving it out is as cheap
        and restricts less (conflicts, coupon stacking), and that branch is searched anyway."""
        after = state.apply(self.effects[i])
        if after.discount:
            self._visit(i + 1, after, pending)

    def _leaf(self, state: State) -> None:
        sets = self.with_promotions if self.chosen else self.alone
        for coupons in sets:
            if self.best is not None:
                if state.payable - sum(c.bound for c in coupons) >= self.best.payable:
                    break  # sets come largest bound first: the rest cannot do better
                if self._out_of_steps():
                    return
            payable = self._payable_with(state, coupons)
            if payable is not None and (self.best is None or payable < self.best.payable):
                self.best = Choice(state, coupons, payable, True)

    def _payable_with(self, state: State, coupons: tuple[Effect, ...]) -> int | None:
        """The price with these coupons; None if one takes nothing (the set without it is tried)."""
        for coupon in coupons[:-1]:
            self.steps += 1
            state = state.apply(coupon)
            if state.discount == 0:
                return None
        if not coupons:
            return state.payable
        last = state.discount_of(coupons[-1])
        return state.payable - last if last else None


def decision_order(promotions: list[Effect]) -> list[Effect]:
    """`promotions` (in application order) reordered so the search decides the item-level offers
    that could take most first, wherever that cannot change a price.

    An item-level offer reads and lowers only its own lines, so two that share no line give the
    same amounts in either order; those that share one keep their application order. Deciding the
    large ones first lets the bound cut their "out" branches near the root, and leaves the small
    ones, which the bound rarely separates, to the bottom of the tree: on the benchmark's carts
    that need the most steps, it halves them.
    """
    item = LAYER_ORDER[Layer.ITEM]
    first = next((k for k, e in enumerate(promotions) if e.rank >= item), len(promotions))
    stop = next((k for k, e in enumerate(promotions) if e.rank > item), len(promotions))
    left = promotions[first:stop]
    decided: list[Effect] = []
    while left:
        ready: list[Effect] = []
        earlier = 0  # lines of the offers still waiting that apply before this one
        for effect in left:
            if not effect.mask & earlier:
                ready.append(effect)
            earlier |= effect.mask
        chosen = min(ready, key=lambda e: (-e.bound, e.key))
        decided.append(chosen)
        left.remove(chosen)
    return [*promotions[:first], *decided, *promotions[stop:]]


def best_combination(
    promotions: list[Effect], coupons: list[Effect], amounts: Amounts, max_steps: int = MAX_STEPS
) -> Choice:
    """The lowest-priced allowed combination; `promotions` and `coupons` in application order.

    The chosen state's history lists the offers in the order they were decided (see
    `decision_order`), which the amounts do not depend on; `State.history` restores application
    order.
    """
    return _Search(decision_order(promotions), coupons, max_steps).run(State.start(amounts))
