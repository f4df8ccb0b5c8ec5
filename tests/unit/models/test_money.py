from decimal import Decimal

import pytest

from intacct_sync.models.money import minor_units, quantize_money, to_decimal


@pytest.mark.parametrize(
    ("currency", "places"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("CLF", 4)],
)
def test_minor_unit_follows_iso_4217(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "USD", "2.35"),
        ("2.344", "USD", "2.34"),
        ("-2.345", "USD", "-2.35"),
        ("72.7", "JPY", "73"),
        ("1.0005", "KWD", "1.001"),
        ("10", "EUR", "10.00"),
    ],
)
def test_quantize_money_rounds_half_up_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    result = quantize_money(Decimal(amount), currency)
    assert str(result) == expected


def test_to_decimal_keeps_channel_strings_exactly() -> None:
    assert str(to_decimal("225.0000")) == "225.0000"
    assert str(to_decimal(" 19.99 ")) == "19.99"


def test_to_decimal_reads_json_numbers_through_str_not_binary_float() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(72.53) == Decimal("72.53")
    assert to_decimal(3) == Decimal(3)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e20", "0.0000000000001", "abc", "", "1" * 70])
def test_to_decimal_rejects_non_finite_huge_or_unparsable_values(value: str) -> None:
    with pytest.raises(ValueError):
        to_decimal(value)


@pytest.mark.parametrize("value", [True, None, [], {}])
def test_to_decimal_rejects_non_numbers(value: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)
