from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.catalog.domain import barcode_problem, gtin_check_digit, gtin_is_valid, yuan_to_fen

# GTIN bodies: everything but the check digit, for EAN-8, UPC-A, EAN-13 and GTIN-14.
bodies = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)


@pytest.mark.parametrize(
    "code",
    [
        "6901234567892",  # EAN-13, China prefix 690
        "4006381333931",  # EAN-13
        "9787115275790",  # ISBN-13 (book EAN)
        "73513537",  # EAN-8
        "036000291452",  # UPC-A
        "10012345678902",  # GTIN-14
    ],
)
def test_known_gtins_are_valid(code: str) -> None:
    assert gtin_is_valid(code)
    assert barcode_problem(code) is None


@pytest.mark.parametrize(
    "code", ["6901234567891", "4006381333930", "73513536", "036000291450", "10012345678901"]
)
def test_a_wrong_check_digit_is_caught(code: str) -> None:
    assert not gtin_is_valid(code)
    assert barcode_problem(code) == f"barcode {code} has a wrong GTIN check digit"


@pytest.mark.parametrize(
    "code", ["12345", "690123456789201", "69O1234567892", "６９０１２３４５６７８９２", ""]
)
def test_other_shapes_are_not_gtins(code: str) -> None:
    assert not gtin_is_valid(code)


@pytest.mark.parametrize("code", ["IN-HOUSE-42", "2000001", "ABC123"])
def test_in_house_codes_are_taken_as_they_are(code: str) -> None:
    assert barcode_problem(code) is None


def test_empty_and_full_width_barcodes_are_refused() -> None:
    assert barcode_problem("  ") == "barcode is empty"
    problem = barcode_problem("６９０１２３４５６７８９２")
    assert problem is not None
    assert "non-ASCII" in problem


@given(bodies)
def test_a_computed_check_digit_always_validates(body: str) -> None:
    assert gtin_is_valid(body + str(gtin_check_digit(body)))


@given(bodies, st.data())
def test_any_single_digit_change_is_caught(body: str, data: st.DataObject) -> None:
    code = body + str(gtin_check_digit(body))
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    changed = code[:position] + digit + code[position + 1 :]
    assert not gtin_is_valid(changed)
    assert barcode_problem(changed) is not None


@given(bodies)
def test_exactly_one_check_digit_fits(body: str) -> None:
    assert sum(gtin_is_valid(body + d) for d in "0123456789") == 1


# -- prices in yuan ----------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False)


@given(prices)
def test_yuan_with_at_most_two_places_is_exact(price: Decimal) -> None:
    fen = yuan_to_fen(format(price, "f"))
    assert isinstance(fen, int)
    assert fen == price * 100


@given(prices)
def test_written_forms_of_the_same_price_agree(price: Decimal) -> None:
    plain = format(price, "f")
    assert yuan_to_fen(f"¥{plain}") == yuan_to_fen(f" ￥{plain} ") == yuan_to_fen(plain)
    assert yuan_to_fen(f"{price:,f}") == yuan_to_fen(plain)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("399", 39900),
        ("399.5", 39950),
        ("399.50", 39950),
        ("399.500", 39950),  # a zero third place loses nothing
        ("1,299.00", 129900),
        ("¥59.90", 5990),
        ("0.01", 1),
        (".5", 50),
        ("5.", 500),
        ("0", 0),
        ("99999999999999999999999999999.99", 9999999999999999999999999999999),
    ],
)
def test_yuan_examples(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@given(
    st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False).filter(
        lambda d: d * 100 != (d * 100).to_integral_value()
    )
)
def test_a_third_decimal_place_is_refused(price: Decimal) -> None:
    with pytest.raises(ValueError, match="more than two decimal places"):
        yuan_to_fen(format(price, "f"))


@given(st.decimals(max_value=Decimal("-0.01"), places=2, allow_nan=False, allow_infinity=False))
def test_negative_prices_are_refused(price: Decimal) -> None:
    with pytest.raises(ValueError, match="negative"):
        yuan_to_fen(format(price, "f"))


@pytest.mark.parametrize(
    "text",
    ["", " ", ".", "abc", "1e2", "NaN", "Infinity", "1.2.3", "+5", "1_000", "１２", "5元", "¥"],
)
def test_junk_is_not_a_price(text: str) -> None:
    with pytest.raises(ValueError, match="not a price"):
        yuan_to_fen(text)


@given(st.text().filter(lambda t: "-" not in t and not any(c.isdigit() for c in t)))
def test_text_without_digits_is_never_a_price(text: str) -> None:
    with pytest.raises(ValueError, match="not a price"):
        yuan_to_fen(text)
