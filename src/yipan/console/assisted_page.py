"""The guide-assisted order (代客下单) on a store's tablet: find the customer by phone, build the
cart with the stock here and nearby and the price the member will pay, choose per line pickup
or ship-home, and place the order with the guide and the store credited.

Read and written through the services only: members (`profile.find_members`, the 360 view's
scope rule), the catalogue (`get_sku`, a code or a barcode), inventory (`atp_near`,
`atp_for_sku`, `get_node`), promotions (`pricing.quote`, the engine the orders service prices
Yipan's own channels with) and orders (`capture.place_order`, `queries`, `lifecycle`).

Three decisions worth knowing:

- The phone lookup is not limited to the members the store has already served, unlike the
  members pages: the customer standing at the counter gives their phone, and a guide must be able
  to sell to a member who has never bought at this store. It answers only for that exact phone,
  and shows name, tier and id, not the 360 view. A member id alone (the 360 page's button) is
  taken only when the 360 rules let the user see that member.
- The cart lives in the page's query string (`sku`/`qty` pairs): no server-side state, a
  reload shows the same cart, and adding a line writes nothing.
- The order form carries the unit prices and the total it showed. The orders service prices the
  cart again and refuses (PRICE_CHANGED, QUOTE_CHANGED) if the figures moved, so nobody is
  charged a price they were not shown. Each rendering of the form carries a fresh idempotency
  key, which becomes the order's external id: the same form sent twice places one order.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal, Role, Scope
from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.channels import service as channels
from yipan.channels.domain import ChannelType
from yipan.console.desk_page import desk_store
from yipan.console.fulfilment_steps import TERMINAL
from yipan.console.members_page import member_page
from yipan.console.notice import Notice
from yipan.console.paging import record_id
from yipan.inventory.errors import UnknownNode
from yipan.inventory.schemas import NodeOut
from yipan.inventory.service import atp, nodes
from yipan.kernel.errors import YipanError
from yipan.members.domain.identifiers import IdentityKind, normalise
from yipan.members.errors import InvalidLookup
from yipan.members.schemas import MemberOut
from yipan.members.service import profile
from yipan.orders.domain.fulfilment import Action, Kind, State
from yipan.orders.domain.routing import Method
from yipan.orders.errors import (
    OrderReplayMismatch,
    OutOfStock,
    PickupNotOffered,
    PriceChanged,
    UnknownOrder,
)
from yipan.orders.schemas import (
    MAX_LINE_QUANTITY,
    ActionIn,
    Address,
    Customer,
    OrderIn,
    OrderLineIn,
    OrderOut,
)
from yipan.orders.service import capture, lifecycle, queries
from yipan.promotions.errors import QuoteChanged
from yipan.promotions.schemas import MemberIn, PriceQuoteOut, QuoteIn, QuoteLineIn
from yipan.promotions.service import pricing

PLACE_PERMISSION = "orders.write"
# Region managers may write orders through the API, but the assisted order is the store floor's
# (and HQ's, which picks the store): an order is credited to one store and one person there.
ASSIST_ROLES = frozenset({Role.HQ_ADMIN, Role.STORE_MANAGER, Role.STORE_GUIDE})
MAX_LINES = 20
MAX_SKU_LENGTH = 64
MAX_PHONE_LENGTH = 32
MAX_ADDRESS_LENGTH = 300  # as orders' Address.line
MAX_CITY_LENGTH = 50
MAX_NAME_LENGTH = 100
NEAR_RADIUS_KM = 50.0  # a drive across town: further than that, ship it home
NEARBY_SHOWN = 3
SHIP = "ship"
PICKUP = "pickup:"
_KEY = re.compile(r"[A-Za-z0-9_-]{16,32}")
_MEMBER_ID = re.compile(r"[Mm]\d{1,18}")
_COORDINATE = re.compile(r"-?\d{1,3}(\.\d{1,8})?")


def may_assist(principal: Principal) -> bool:
    return principal.role in ASSIST_ROLES and principal.may(PLACE_PERMISSION)


def assist_store(principal: Principal, asked: str) -> str | None:
    """The store the user places orders for: their own, or the one HQ names; None if neither."""
    if not may_assist(principal):
        return None
    return desk_store(principal.scope, asked)


def new_key() -> str:
    return secrets.token_urlsafe(16)


def guide_channel(session: Session) -> str | None:
    """The code of the active channel of type `guide`; None when the chain has none."""
    found = channels.list_channels(session, type=ChannelType.GUIDE.value, active=True)
    return found[0].code if found else None


def store_node(session: Session, store: str) -> NodeOut | Notice:
    try:
        node = nodes.get_node(session, store)
    except UnknownNode:
        return Notice("assist.unknown_store", {"store": store}, status=404)
    if node.type != "store" or not node.active:
        return Notice("assist.unknown_store", {"store": store}, status=404)
    return node


# --- step 1: the customer --------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerStep:
    """Who the order is for: a member (found by phone, or by id from the 360 page), a walk-in
    without membership (with the phone they gave, if any), or nobody chosen yet."""

    phone: str = ""
    member: MemberOut | None = None
    matches: list[MemberOut] = field(default_factory=list)
    walk_in: bool = False
    notice: Notice | None = None

    @property
    def chosen(self) -> bool:
        return self.member is not None or self.walk_in

    @property
    def order_phone(self) -> str | None:
        """The phone the order keeps: a walk-in's, so the pickup code can reach them."""
        if self.member is not None or not self.phone:
            return None
        return normalise(IdentityKind.PHONE, self.phone)

    def query(self) -> dict[str, str]:
        """The customer as query parameters, for the links and forms of the next steps."""
        found: dict[str, str] = {}
        if self.phone:
            found["phone"] = self.phone
        if self.member is not None:
            found["member"] = self.member.id
        if self.walk_in:
            found["walkin"] = "1"
        return found


def find_customer(
    session: Session, scope: Scope, phone: str, member_id: str, walk_in: bool
) -> CustomerStep:
    phone, member_id = phone.strip(), member_id.strip()
    if len(phone) > MAX_PHONE_LENGTH:
        notice = Notice("assist.bad_phone", {"phone": phone[:MAX_PHONE_LENGTH]}, status=422)
        return CustomerStep(notice=notice)
    if walk_in:
        if phone and normalise(IdentityKind.PHONE, phone) is None:
            return CustomerStep(
                phone=phone, notice=Notice("assist.bad_phone", {"phone": phone}, 422)
            )
        return CustomerStep(phone=phone, walk_in=True)
    if not phone and not member_id:
        return CustomerStep()
    if not phone:
        return _by_id(session, scope, member_id)
    try:
        matches = profile.find_members(session, phone=phone)
    except InvalidLookup:
        return CustomerStep(phone=phone, notice=Notice("assist.bad_phone", {"phone": phone}, 422))
    if not matches:
        return CustomerStep(phone=phone, notice=Notice("assist.no_member", {"phone": phone}, 404))
    if member_id:
        wanted = member_id.upper()
        chosen = [m for m in matches if wanted in (m.id, m.resolved_from)]
        if not chosen:
            notice = Notice("assist.member_not_of_phone", {"id": member_id, "phone": phone}, 404)
            return CustomerStep(phone=phone, matches=matches, notice=notice)
        return CustomerStep(phone=phone, member=chosen[0])
    if len(matches) == 1:
        return CustomerStep(phone=phone, member=matches[0])
    return CustomerStep(phone=phone, matches=matches)


def _by_id(session: Session, scope: Scope, member_id: str) -> CustomerStep:
    if not _MEMBER_ID.fullmatch(member_id):
        return CustomerStep(notice=Notice("assist.unknown_member", {"id": member_id}, 404))
    shown = member_page(session, member_id, scope)
    if shown.view is None:
        return CustomerStep(notice=Notice("assist.unknown_member", {"id": member_id}, 404))
    return CustomerStep(member=shown.view.profile)


# --- step 2: the cart ------------------------------------------------------------------------


@dataclass(frozen=True)
class StockAt:
    node: str
    name: str
    atp: int
    distance_km: float | None


@dataclass(frozen=True)
class Choice:
    """One way to hand a line over: pickup at a store (this one or a nearby one) or ship home."""

    value: str
    node: str | None
    name: str
    atp: int
    distance_km: float | None
    enough: bool

    @property
    def ship(self) -> bool:
        return self.value == SHIP


@dataclass(frozen=True)
class CartLine:
    line_no: int
    sku: str
    name: str
    quantity: int
    here: int  # ATP at the guide's store
    nearby: list[StockAt]  # other stores near it with stock, nearest first
    can_ship: int  # ATP at the nodes that ship parcels
    store: str
    store_name: str
    unit_price_fen: int = 0
    list_total_fen: int = 0
    discount_fen: int = 0
    payable_fen: int = 0
    how: str = ""

    @property
    def choices(self) -> list[Choice]:
        here = Choice(
            PICKUP + self.store, self.store, self.store_name, self.here, 0.0,
            self.here >= self.quantity,
        )  # fmt: skip
        near = [
            Choice(PICKUP + s.node, s.node, s.name, s.atp, s.distance_km, s.atp >= self.quantity)
            for s in self.nearby
        ]
        ship = Choice(SHIP, None, "", self.can_ship, None, self.can_ship >= self.quantity)
        return [here, *near, ship]

    def default_how(self) -> str:
        """Pickup here when the store has it; else the nearest store that has; else ship."""
        for choice in self.choices:
            if choice.enough:
                return choice.value
        return ""


def checked_sku(session: Session, raw: str) -> str | Notice:
    """The SKU code for a code or barcode typed or scanned, or why not."""
    text = raw.strip()
    if not text:
        return Notice("assist.sku_missing", status=422)
    if len(text) > MAX_SKU_LENGTH:
        return Notice("assist.unknown_sku", {"sku": text[:MAX_SKU_LENGTH]}, status=422)
    try:
        return catalog.get_sku(session, text).code
    except UnknownSku:
        return Notice("assist.unknown_sku", {"sku": text}, status=422)


def checked_quantity(raw: str, sku: str) -> int | Notice:
    """A whole number of units from 1 to the orders service's line maximum."""
    text = raw.strip()
    bad = Notice("assist.bad_quantity", {"sku": sku, "max": MAX_LINE_QUANTITY}, status=422)
    if not text.isdecimal() or len(text) > len(str(MAX_LINE_QUANTITY)):
        return bad
    quantity = int(text)
    return quantity if 1 <= quantity <= MAX_LINE_QUANTITY else bad


def checked_lines(
    session: Session, skus: Sequence[str], quantities: Sequence[str]
) -> list[tuple[str, int]] | Notice:
    """The cart's (SKU code, quantity) pairs; the same SKU twice becomes one line."""
    if len(skus) != len(quantities) or len(skus) > MAX_LINES:
        return Notice("assist.too_many_lines", {"max": MAX_LINES}, status=422)
    merged: dict[str, int] = {}
    for raw_sku, raw_quantity in zip(skus, quantities, strict=True):
        sku = checked_sku(session, raw_sku)
        if isinstance(sku, Notice):
            return sku
        quantity = checked_quantity(raw_quantity, sku)
        if isinstance(quantity, Notice):
            return quantity
        merged[sku] = merged.get(sku, 0) + quantity
        if merged[sku] > MAX_LINE_QUANTITY:
            return Notice("assist.bad_quantity", {"sku": sku, "max": MAX_LINE_QUANTITY}, 422)
    return list(merged.items())


def stock_for(
    session: Session, store: NodeOut, channel: str, line_no: int, sku: str, quantity: int
) -> CartLine:
    """A cart line with the stock the guide needs to offer it: here, nearby, and to ship."""
    near = atp.atp_near(
        session, sku, latitude=store.latitude, longitude=store.longitude,
        radius_km=NEAR_RADIUS_KM, channel=channel, capability="pickup", limit=50,
    )  # fmt: skip
    here = next((n.atp for n in near.nodes if n.node == store.code), 0)
    nearby = [
        StockAt(n.node, n.name, n.atp, n.distance_km)
        for n in near.nodes
        if n.node != store.code and n.atp > 0
    ][:NEARBY_SHOWN]
    pool = atp.atp_for_sku(session, sku, channel=channel, capability="ship")
    return CartLine(
        line_no=line_no,
        sku=sku,
        name=catalog.get_sku(session, sku).name,
        quantity=quantity,
        here=here,
        nearby=nearby,
        can_ship=pool.total_atp,
        store=store.code,
        store_name=store.name,
    )


def anywhere(session: Session, sku: str, channel: str) -> int:
    """What the whole pool can promise of `sku` on the guide channel."""
    return atp.atp_for_sku(session, sku, channel=channel).total_atp


def priced(
    session: Session,
    channel: str,
    store: str,
    member: MemberOut | None,
    lines: list[CartLine],
) -> tuple[list[CartLine], PriceQuoteOut]:
    """The lines with what the member pays for each: the policy's price for the store's region
    and the channel, less the promotions in force for this store."""
    quote = pricing.quote(
        session,
        QuoteIn(
            channel=channel,
            store=store,
            member=MemberIn(id=member.id) if member else None,
            lines=[
                QuoteLineIn(line_no=ln.line_no, sku=ln.sku, quantity=ln.quantity) for ln in lines
            ],
        ),
    )
    by_no = {q.line_no: q for q in quote.lines}
    return [
        replace(
            ln,
            unit_price_fen=by_no[ln.line_no].list_total_fen // ln.quantity,
            list_total_fen=by_no[ln.line_no].list_total_fen,
            discount_fen=sum(d.discount_fen for d in by_no[ln.line_no].discounts),
            payable_fen=by_no[ln.line_no].payable_fen,
        )
        for ln in lines
    ], quote


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressForm:
    line: str = ""
    city: str = ""
    name: str = ""
    phone: str = ""
    latitude: str = ""
    longitude: str = ""


@dataclass(frozen=True)
class AssistedOrder:
    store: str
    store_name: str = ""
    customer: CustomerStep = field(default_factory=CustomerStep)
    lines: list[CartLine] = field(default_factory=list)
    quote: PriceQuoteOut | None = None
    address: AddressForm = field(default_factory=AddressForm)
    notice: Notice | None = None
    idempotency_key: str = ""
    ready: bool = True  # False when the page cannot take orders at all (no guide channel)

    def cart_query(
        self, *, without: int | None = None, customer: bool = True
    ) -> list[tuple[str, str]]:
        """The customer and the cart as query pairs, for the next step's links and forms;
        `without` drops one line (its remove link), `customer=False` the customer (to change it)."""
        pairs = [("store", self.store)]
        if customer:
            pairs += list(self.customer.query().items())
        for ln in self.lines:
            if ln.line_no != without:
                pairs += [("sku", ln.sku), ("qty", str(ln.quantity))]
        return pairs

    @property
    def total_fen(self) -> int:
        return self.quote.payable_fen if self.quote else 0


@dataclass(frozen=True)
class CartRequest:
    """What the page was asked to show: the customer, the cart, and a line to add or drop."""

    phone: str = ""
    member: str = ""
    walk_in: bool = False
    skus: Sequence[str] = ()
    quantities: Sequence[str] = ()
    add_sku: str | None = None
    add_quantity: str = "1"
    hows: Mapping[int, str] = field(default_factory=dict)
    address: AddressForm = field(default_factory=AddressForm)


def assisted_order(
    session: Session, scope: Scope, store: str, asked: CartRequest, *, notice: Notice | None = None
) -> AssistedOrder:
    """The page: the customer step, the cart with stock and prices, and the order form with a
    fresh idempotency key. A bad line to add leaves the cart as it was, with the reason."""
    node = store_node(session, store)
    if isinstance(node, Notice):
        return AssistedOrder(store=store, notice=node, ready=False)
    channel = guide_channel(session)
    if channel is None:
        return AssistedOrder(
            store=store,
            store_name=node.name,
            notice=Notice("assist.no_channel", status=409),
            ready=False,
        )
    customer = find_customer(session, scope, asked.phone, asked.member, asked.walk_in)
    page = AssistedOrder(
        store=store,
        store_name=node.name,
        customer=customer,
        address=asked.address,
        idempotency_key=new_key(),
        notice=notice or customer.notice,
    )
    if not customer.chosen:
        return page
    pairs = checked_lines(session, asked.skus, asked.quantities)
    if isinstance(pairs, Notice):
        return replace(page, notice=notice or pairs)
    if asked.add_sku is not None:
        added = _add(session, channel, pairs, asked.add_sku, asked.add_quantity)
        if isinstance(added, Notice):
            notice = notice or added
        else:
            pairs = added
    lines = [
        stock_for(session, node, channel, no, sku, quantity)
        for no, (sku, quantity) in enumerate(pairs, 1)
    ]
    if not lines:
        return replace(page, notice=notice or customer.notice)
    try:
        lines, quote = priced(session, channel, store, customer.member, lines)
    except YipanError as refused:
        return replace(
            page, notice=Notice("assist.refused", {"message": refused.message}, refused.status)
        )
    lines = [
        replace(ln, how=_kept(ln, asked.hows.get(ln.line_no, "")) or ln.default_how())
        for ln in lines
    ]
    return replace(page, lines=lines, quote=quote, notice=notice or customer.notice)


def _kept(line: CartLine, how: str) -> str:
    return how if how in {c.value for c in line.choices} else ""


def _add(
    session: Session, channel: str, pairs: list[tuple[str, int]], raw_sku: str, raw_quantity: str
) -> list[tuple[str, int]] | Notice:
    sku = checked_sku(session, raw_sku)
    if isinstance(sku, Notice):
        return sku
    quantity = checked_quantity(raw_quantity, sku)
    if isinstance(quantity, Notice):
        return quantity
    merged = dict(pairs)
    if sku not in merged and len(merged) >= MAX_LINES:
        return Notice("assist.too_many_lines", {"max": MAX_LINES}, status=422)
    wanted = merged.get(sku, 0) + quantity
    if wanted > MAX_LINE_QUANTITY:
        return Notice("assist.bad_quantity", {"sku": sku, "max": MAX_LINE_QUANTITY}, status=422)
    available = anywhere(session, sku, channel)
    if available <= 0:
        return Notice("assist.no_stock_anywhere", {"sku": sku}, status=409)
    if available < wanted:
        return Notice(
            "assist.not_enough_anywhere", {"sku": sku, "n": available, "asked": wanted}, 409
        )
    merged[sku] = wanted
    return list(merged.items())


# --- step 3: placing the order ---------------------------------------------------------------


@dataclass(frozen=True)
class PlaceForm:
    cart: CartRequest
    idempotency_key: str
    prices: Sequence[str]
    total: str


def _address(form: AddressForm, store: NodeOut) -> Address | Notice:
    line, phone = form.line.strip(), form.phone.strip()
    if not line:
        return Notice("assist.address_missing", status=422)
    if len(line) > MAX_ADDRESS_LENGTH:
        return Notice("assist.address_too_long", {"max": MAX_ADDRESS_LENGTH}, status=422)
    if not phone or len(phone) > MAX_PHONE_LENGTH or normalise(IdentityKind.PHONE, phone) is None:
        return Notice("assist.bad_address_phone", status=422)
    city, name = form.city.strip(), form.name.strip()
    if len(city) > MAX_CITY_LENGTH or len(name) > MAX_NAME_LENGTH:
        return Notice("assist.address_too_long", {"max": MAX_NAME_LENGTH}, status=422)
    lat, lon = form.latitude.strip(), form.longitude.strip()
    if not lat and not lon:
        # Without a geocoder the store stands in for the address: the customer is at the
        # counter, and most live in its city. Routing then ships from the nodes near the store.
        latitude, longitude = store.latitude, store.longitude
    else:
        if not (_COORDINATE.fullmatch(lat) and _COORDINATE.fullmatch(lon)):
            return Notice("assist.bad_coordinates", status=422)
        latitude, longitude = float(lat), float(lon)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return Notice("assist.bad_coordinates", status=422)
    return Address(
        line=line,
        city=city or None,
        name=name or None,
        phone=phone,
        latitude=latitude,
        longitude=longitude,
    )


def _fen(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isdecimal() and len(text) <= 13 else None


_REFUSALS: dict[type[YipanError], str] = {
    OutOfStock: "assist.out_of_stock",
    PriceChanged: "assist.price_changed",
    QuoteChanged: "assist.price_changed",
    OrderReplayMismatch: "assist.form_used",
    PickupNotOffered: "assist.pickup_not_offered",
}


def place(
    session: Session, scope: Scope, store: str, form: PlaceForm, who: str
) -> OrderOut | Notice:
    """Place the order for the customer, credited to `store` and to `who`; or the notice saying
    why not. The caller rolls back on a notice, so a refusal writes nothing."""
    if not _KEY.fullmatch(form.idempotency_key):
        return Notice("assist.form_expired", status=403)
    node = store_node(session, store)
    if isinstance(node, Notice):
        return node
    channel = guide_channel(session)
    if channel is None:
        return Notice("assist.no_channel", status=409)
    asked = form.cart
    customer = find_customer(session, scope, asked.phone, asked.member, asked.walk_in)
    if customer.notice is not None:
        return customer.notice
    if not customer.chosen:
        return Notice("assist.customer_missing", status=422)
    pairs = checked_lines(session, asked.skus, asked.quantities)
    if isinstance(pairs, Notice):
        return pairs
    if not pairs:
        return Notice("assist.nothing_to_place", status=422)
    if len(form.prices) != len(pairs):
        return Notice("assist.form_expired", status=403)
    lines: list[OrderLineIn] = []
    for no, ((sku, quantity), raw_price) in enumerate(zip(pairs, form.prices, strict=True), 1):
        how, price = asked.hows.get(no, "").strip(), _fen(raw_price)
        if price is None:
            return Notice("assist.form_expired", status=403)
        if how == SHIP:
            lines.append(OrderLineIn(sku=sku, quantity=quantity, unit_price_fen=price))
        elif how.startswith(PICKUP) and how != PICKUP:
            node_code = how.removeprefix(PICKUP)[:MAX_SKU_LENGTH]
            lines.append(
                OrderLineIn(
                    sku=sku,
                    quantity=quantity,
                    unit_price_fen=price,
                    method=Method.PICKUP,
                    pickup_node=node_code,
                )
            )
        else:
            return Notice("assist.how_missing", {"line": no, "sku": sku}, status=422)
    address = None
    if any(ln.method is Method.SHIP for ln in lines):
        checked = _address(asked.address, node)
        if isinstance(checked, Notice):
            return checked
        address = checked
    total = _fen(form.total)
    if total is None:
        return Notice("assist.form_expired", status=403)
    try:
        order_in = OrderIn(
            channel=channel,
            external_id=f"G-{store}-{form.idempotency_key}",
            lines=lines,
            customer=Customer(
                member_id=customer.member.id if customer.member else None,
                phone=customer.order_phone,
            )
            if customer.member or customer.order_phone
            else None,
            address=address,
            total_fen=total,
            guide=who,
            store=store,
        )
    except ValidationError as invalid:
        problems = "; ".join(str(e["msg"]) for e in invalid.errors())
        return Notice("assist.refused", {"message": problems}, status=422)
    try:
        placed = capture.place_order(session, order_in)
    except YipanError as refused:
        key = _REFUSALS.get(type(refused), "assist.refused")
        return Notice(key, {"message": refused.message}, status=refused.status)
    return placed.order


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedView:
    store: str
    order: OrderOut | None = None
    notice: Notice | None = None
    pickup_code: str | None = None
    code_for: int | None = None  # the pickup the code is for

    def may_ready_now(self, fulfilment_id: int) -> bool:
        """A pickup at this store not yet prepared: the guide may put it on the shelf now."""
        if self.order is None:
            return False
        return any(
            f.id == fulfilment_id
            and f.node == self.store
            and f.kind == Kind.PICKUP.value
            and f.state == State.ALLOCATED.value
            for f in self.order.fulfilments
        )


def _unknown_order(store: str, raw: str) -> PlacedView:
    return PlacedView(store=store, notice=Notice("assist.unknown_order", {"id": raw}, status=404))


def placed_view(session: Session, store: str, raw_id: str) -> PlacedView:
    """An assisted order credited to `store`; any other order answers as an unknown one."""
    number = record_id(raw_id)
    if number is None:
        return _unknown_order(store, raw_id.strip()[:20])
    try:
        order = queries.get_order(session, number)
    except UnknownOrder:
        return _unknown_order(store, str(number))
    if order.store != store or order.kind != "guide":
        return _unknown_order(store, str(number))
    return PlacedView(store=store, order=order)


def ready_now(
    session: Session, store: str, raw_order: str, raw_fulfilment: str, who: str
) -> PlacedView:
    """Put a pickup of this store's assisted order on the shelf at once, for the customer who
    is still at the counter: the pickup code is shown to hand over. Sending it again shows the
    same code (the orders service replays a mark-ready)."""
    shown = placed_view(session, store, raw_order)
    number = record_id(raw_fulfilment)
    if shown.order is None or number is None:
        return (
            shown if shown.order is None else replace(shown, notice=_not_a_pickup(raw_fulfilment))
        )
    mine = [f for f in shown.order.fulfilments if f.id == number]
    if not mine or mine[0].node != store or mine[0].kind != Kind.PICKUP.value:
        return replace(shown, notice=_not_a_pickup(raw_fulfilment))
    try:
        moved = lifecycle.advance(
            session, number, Action.MARK_READY, ActionIn(actor=who, terminal=TERMINAL)
        )
    except YipanError as refused:
        notice = Notice("assist.refused", {"message": refused.message}, status=refused.status)
        return replace(shown, notice=notice)
    order = queries.get_order(session, shown.order.id)
    return PlacedView(store=store, order=order, pickup_code=moved.pickup_code, code_for=number)


def _not_a_pickup(raw: str) -> Notice:
    return Notice("assist.unknown_pickup", {"id": raw.strip()[:20]}, status=404)
