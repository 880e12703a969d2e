"""The demo assortment: about 2,000 SKUs of apparel, shoes, home appliances and FMCG.

Apparel comes in colour × size variants, shoes in sizes, appliances in a few models and colours,
FMCG in pack sizes and flavours. Names are the Chinese a shopper sees on a shelf or a product
page; brands are made up. Barcodes are EAN-13 under China's GS1 prefix 69 with a correct check
digit; prices are integer fen at the price points retailers use (¥79, ¥199, ¥2,999 …).

Every SKU also carries a popularity in (0, 1]: a long tail (Zipf over products, a size curve
inside apparel and shoes) that the stock plan turns into assortment and quantities. The first
apparel product is the hero, a plain white cotton T-shirt that outsells everything else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from yipan.catalog.schemas import SkuIn
from yipan.demo.assortment import (
    ADULT_SIZES,
    APPAREL_BRANDS,
    APPLIANCE_BRANDS,
    APPLIANCES,
    CARE_BRANDS,
    COLOURS,
    CONSUMABLES,
    FOOD_BRANDS,
    GARMENTS,
    HERO,
    KIDS_SHOE_SIZES,
    KIDS_SIZES,
    MEN_SHOE_SIZES,
    SHOE_BRANDS,
    SHOE_COLOURS,
    SHOE_TYPES,
    SIZE_CURVE,
    WOMEN_SHOE_SIZES,
    WOMEN_SIZES,
    Brand,
)


class Family(StrEnum):
    APPAREL = "apparel"
    SHOES = "shoes"
    APPLIANCE = "appliance"
    FMCG = "fmcg"


# SKUs per family at scale 1.0 (about 2,000 in all).
FAMILY_TARGETS: dict[Family, int] = {
    Family.APPAREL: 1064,
    Family.SHOES: 480,
    Family.APPLIANCE: 200,
    Family.FMCG: 256,
}
ZIPF_EXPONENT = 1.0


@dataclass(frozen=True)
class DemoSku:
    sku: SkuIn
    family: Family
    popularity: float  # 1.0 for the best seller, down a long tail
    bulky: bool = False  # large appliances: few stores show them

    @property
    def code(self) -> str:
        return self.sku.code


PRICE_POINTS = (2990, 3990, 4900, 5900, 6900, 7900, 8900, 9900, 12900, 15900, 19900, 25900)


def price_point(fen: int) -> int:
    """The highest usual price point at or under `fen` (¥49, ¥59 … ¥259)."""
    return max((p for p in PRICE_POINTS if p <= fen), default=PRICE_POINTS[0])


def ean13(company: str, item: int) -> str:
    """An EAN-13 under China's prefix 69: 69 + company + item number + GS1 check digit."""
    body = f"69{company}{item:05d}"
    if len(body) != 12:
        raise ValueError(f"EAN-13 body {body} must have 12 digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@dataclass
class _Builder:
    """Collects SKUs family by family, numbering products and barcodes as it goes."""

    rng: random.Random
    skus: list[DemoSku]
    items: dict[str, int]

    def barcode(self, brand: Brand) -> str:
        self.items[brand.gs1_company] = self.items.get(brand.gs1_company, 0) + 1
        return ean13(brand.gs1_company, self.items[brand.gs1_company])

    def add(
        self,
        *,
        family: Family,
        code: str,
        name: str,
        product_code: str,
        product_name: str,
        category: tuple[str, str],
        brand: Brand,
        price: int,
        attributes: dict[str, str],
        weight: float,
        bulky: bool = False,
    ) -> None:
        sku = SkuIn(
            code=code,
            barcode=self.barcode(brand),
            name=name,
            product_code=product_code,
            product_name=product_name,
            category_code=category[0],
            category_name=category[1],
            brand=brand.name,
            attributes=attributes,
            list_price_fen=price,
        )
        self.skus.append(DemoSku(sku=sku, family=family, popularity=weight, bulky=bulky))


def _apparel(b: _Builder, target: int) -> None:
    styles = [
        (g, m, garment) for garment in GARMENTS for g in garment.genders for m in garment.modifiers
    ]
    hero_gender, hero_mod, hero_garment, _, _ = HERO
    styles.remove((hero_gender, hero_mod, hero_garment))
    b.rng.shuffle(styles)
    styles.insert(0, (hero_gender, hero_mod, hero_garment))
    made = 0
    for n, (gender, modifier, garment) in enumerate(styles, start=1):
        if made >= target:
            return
        brand = APPAREL_BRANDS[0] if n == 1 else b.rng.choice(APPAREL_BRANDS)
        colours: tuple[str, ...]
        sizes: tuple[str, ...]
        if n == 1:
            price, colours = HERO[3], HERO[4]
        else:
            price = b.rng.choice(garment.prices)
            colours = tuple(b.rng.sample(sorted(COLOURS), b.rng.randint(2, 4)))
        if gender == "儿童":
            sizes, price = KIDS_SIZES, price_point(price * 2 // 3)
        elif gender == "女士":
            sizes = WOMEN_SIZES
        else:
            sizes = ADULT_SIZES
        product_code = f"AP-{n:04d}"
        product_name = f"{gender}{modifier}{garment.name}"
        for c, colour in enumerate(colours):
            for size in sizes:
                if made >= target:
                    return
                curve = SIZE_CURVE.get(size, 0.8)
                b.add(
                    family=Family.APPAREL,
                    code=f"{product_code}-{COLOURS[colour]}-{size}",
                    name=f"{brand.name} {product_name} {colour} {size}",
                    product_code=product_code,
                    product_name=f"{brand.name} {product_name}",
                    category=(garment.category, garment.category_name),
                    brand=brand,
                    price=price,
                    attributes={"colour": colour, "size": size},
                    weight=curve / (1 + c * 0.6),
                )
                made += 1


def _shoes(b: _Builder, target: int) -> None:
    styles = [(g, m, t) for t in SHOE_TYPES for g in t.genders for m in t.modifiers]
    b.rng.shuffle(styles)
    made = 0
    for n, (gender, modifier, shoe) in enumerate(styles, start=1):
        if made >= target:
            return
        brand = SHOE_BRANDS[0]
        price = b.rng.choice(shoe.prices)
        sizes = {"男款": MEN_SHOE_SIZES, "女款": WOMEN_SHOE_SIZES}.get(gender, KIDS_SHOE_SIZES)
        colours = b.rng.sample(SHOE_COLOURS, b.rng.randint(1, 2))
        product_code = f"SH-{n:04d}"
        product_name = f"{modifier}{shoe.name} {gender}"
        for c, colour in enumerate(colours):
            for s, size in enumerate(sizes):
                if made >= target:
                    return
                # Middle sizes sell best.
                curve = 1.0 - abs(s - (len(sizes) - 1) / 2) / len(sizes)
                b.add(
                    family=Family.SHOES,
                    code=f"{product_code}-{COLOURS[colour]}-{size}",
                    name=f"{brand.name} {product_name} {colour} {size}码",
                    product_code=product_code,
                    product_name=f"{brand.name} {product_name}",
                    category=(shoe.category, shoe.category_name),
                    brand=brand,
                    price=price,
                    attributes={"colour": colour, "size": size},
                    weight=curve / (1 + c * 0.7),
                )
                made += 1


def _appliances(b: _Builder, target: int) -> None:
    models = [(a, k) for a in APPLIANCES for k in range(4)]
    b.rng.shuffle(models)
    made = 0
    for n, (appliance, _k) in enumerate(models, start=1):
        if made >= target:
            return
        brand = b.rng.choice(APPLIANCE_BRANDS)
        model = f"{brand.gs1_company[-2:]}{b.rng.randint(10, 99)}{n:02d}"
        price = b.rng.choice(appliance.prices)
        product_code = f"HA-{n:04d}"
        product_name = f"{brand.name} {appliance.name} {model}"
        for v, variant in enumerate(appliance.variants):
            if made >= target:
                return
            key = (
                "colour"
                if variant.endswith("色") or variant in ("香槟金", "薄荷绿", "樱花粉")
                else "spec"
            )
            b.add(
                family=Family.APPLIANCE,
                code=f"{product_code}-{v + 1}",
                name=f"{product_name} {variant}",
                product_code=product_code,
                product_name=product_name,
                category=(appliance.category, appliance.category_name),
                brand=brand,
                # A bigger capacity costs a little more.
                price=price + (v * 3000 if key == "spec" else 0),
                attributes={key: variant, "model": model},
                weight=1.0 / (1 + v * 0.5),
                bulky=appliance.bulky,
            )
            made += 1


def _fmcg(b: _Builder, target: int) -> None:
    goods = [
        (c, p, f, line)
        for c in CONSUMABLES
        for p in c.packs
        for f in c.flavours
        for line in range(2)
    ]
    b.rng.shuffle(goods)
    products: dict[tuple[str, str, int], str] = {}
    for made, (good, (pack, price), flavour, line) in enumerate(goods):
        if made >= target:
            return
        brand = (CARE_BRANDS if good.care else FOOD_BRANDS)[line]
        if line:  # the second label is the premium one
            price = price * 6 // 5 // 100 * 100 + 90
        key = (good.name, pack, line)
        if key not in products:
            products[key] = f"FM-{len(products) + 1:04d}"
        product_code = products[key]
        product_name = f"{brand.name} {good.name} {pack}"
        code = f"{product_code}-{good.flavours.index(flavour) + 1}"
        attributes = {"pack": pack}
        if flavour:
            attributes["flavour"] = flavour
        b.add(
            family=Family.FMCG,
            code=code,
            name=f"{brand.name} {good.name} {flavour + ' ' if flavour else ''}{pack}",
            product_code=product_code,
            product_name=product_name,
            category=(good.category, good.category_name),
            brand=brand,
            price=price,
            attributes=attributes,
            weight=1.0,
        )


def family_targets(scale: float) -> dict[Family, int]:
    return {f: max(6, round(n * scale)) for f, n in FAMILY_TARGETS.items()}


def demo_catalogue(seed: int = 7, *, scale: float = 1.0) -> list[DemoSku]:
    """The demo SKUs, pure and deterministic; popularity is normalised so the hero is 1.0."""
    b = _Builder(rng=random.Random(f"yipan-demo:{seed}:catalogue"), skus=[], items={})
    targets = family_targets(scale)
    _apparel(b, targets[Family.APPAREL])
    _shoes(b, targets[Family.SHOES])
    _appliances(b, targets[Family.APPLIANCE])
    _fmcg(b, targets[Family.FMCG])
    return _with_popularity(b.skus, random.Random(f"yipan-demo:{seed}:popularity"))


def _with_popularity(skus: list[DemoSku], rng: random.Random) -> list[DemoSku]:
    """Rank products at random (the hero first) and give them Zipf weights; a SKU's popularity
    is its product's weight times its share within the product."""
    products = list(dict.fromkeys(s.sku.product_code for s in skus))
    hero = products[0]
    rest = products[1:]
    rng.shuffle(rest)
    rank = {code: r for r, code in enumerate([hero, *rest], start=1)}
    raw = [s.popularity / rank[s.sku.product_code] ** ZIPF_EXPONENT for s in skus]
    top = max(raw)
    return [
        DemoSku(sku=s.sku, family=s.family, popularity=w / top, bulky=s.bulky)
        for s, w in zip(skus, raw, strict=True)
    ]


def hero_sku(skus: list[DemoSku]) -> DemoSku:
    """The best-selling apparel SKU (the skew case's fast seller)."""
    return max((s for s in skus if s.family is Family.APPAREL), key=lambda s: s.popularity)
