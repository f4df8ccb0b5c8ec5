"""Money, quantities, currencies and timestamps as the canonical models hold them.

Money is `Decimal`, never float: channel strings and numbers go through `to_decimal` (which is
`Decimal(str(x))` plus bounds), and an amount is rounded once, at the end, with `quantize_money`.
Timestamps are timezone-aware and normalised to UTC; a naive datetime is rejected here (the
adapters decide which zone a channel's naive values are in, and say so).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, StringConstraints

ZERO: Final = Decimal(0)

# ISO 4217 currencies whose minor unit is not 2 (everything else has cents).
_MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip

# Bounds that keep every later Decimal operation (sums, quantize) exact in the default context.
_MAX_ABS: Final = Decimal(10) ** 15
_MAX_PLACES: Final = 12
_MAX_TEXT: Final = 64
# Decimal() also reads other scripts' digits ('١٢'), underscores ('1_000') and surrounding
# controls; a channel amount is plain ASCII, so anything else is refused rather than guessed.
_DECIMAL_TEXT: Final = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf(?:inity)?|s?nan)", re.IGNORECASE
)


def minor_units(currency: str) -> int:
    """Number of decimal places of `currency`'s minor unit (JPY 0, KWD 3, most 2)."""
    return _MINOR_UNITS.get(currency, 2)


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` to `currency`'s minor unit, half up (the one rounding rule of the product)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def to_decimal(value: object) -> Decimal:
    """Parse a channel amount or quantity exactly: strings as written, numbers via `str()`.

    Raises `TypeError` for booleans and non-numbers; `ValueError` for non-finite values,
    unparsable text and values outside the bounds every amount must keep (|x| < 10^15, at most
    12 decimal places).
    """
    if isinstance(value, bool) or value is None:
        raise TypeError("not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | float | str):
        text = str(value).strip()
        if not text or len(text) > _MAX_TEXT or not _DECIMAL_TEXT.fullmatch(text):
            raise ValueError("not a decimal number")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    else:
        raise TypeError("not a number")
    _check_bounds(result)
    return result


def _check_bounds(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("not a finite number")
    exponent = value.as_tuple().exponent
    if abs(value) >= _MAX_ABS or (isinstance(exponent, int) and exponent < -_MAX_PLACES):
        raise ValueError("out of range: at most 15 integer digits and 12 decimal places")
    return value


def _reject_float(value: object) -> object:
    # A float reaching a model means someone skipped to_decimal: refuse rather than guess.
    if isinstance(value, float | bool):
        # ValueError, not TypeError: pydantic turns only ValueError into a validation error.
        raise ValueError("money and quantities must be Decimal or decimal strings, never float")  # noqa: TRY004
    return value


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


Money = Annotated[Decimal, BeforeValidator(_reject_float), AfterValidator(_check_bounds)]
"""An amount in the order's currency, exact as the channel stated it (not yet quantized)."""

Quantity = Annotated[Decimal, BeforeValidator(_reject_float), AfterValidator(_check_bounds)]
"""A line quantity; Decimal because some channels allow fractional units."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 alphabetic code (three upper-case letters)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 code."""

UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""Timezone-aware datetime, normalised to UTC; naive values are rejected."""
