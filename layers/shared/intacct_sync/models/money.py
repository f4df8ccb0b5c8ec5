"""Money, quantities, currencies and timestamps as the canonical models hold them.

Money is `Decimal`, never float: channel strings and numbers go through `to_decimal` (which is
`Decimal(str(x))` plus bounds), and an amount is rounded once, at the end, with `quantize_money`.
Timestamps are timezone-aware and normalised to UTC; a naive datetime is rejected here (the
adapters decide which zone a channel's naive values are in, and say so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Final

from pydantic import AfterValidator, StringConstraints

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
_MAX_INTEGER_DIGITS: Final = 15
_MAX_PLACES: Final = 12
_MAX_TEXT: Final = 64
_INT_BOUND: Final = 10**_MAX_INTEGER_DIGITS
MAX_INTEGER_DIGITS: Final = _MAX_INTEGER_DIGITS
MAX_PLACES: Final = _MAX_PLACES
"""The bounds of `in_bounds`, for the models' inline copy of it (`order.Frozen._check_inputs`)."""


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
    if type(value) is str:
        text = value.strip()
        if text.isascii() and 0 < len(text) <= _MAX_TEXT and "_" not in text:
            try:
                result = Decimal(text)
            except InvalidOperation:
                raise ValueError("not a decimal number") from None
            # The usual case, checked inline (this runs for every amount): plain notation, whose
            # decimal places are the digits after the dot as written (Decimal keeps the exponent
            # the text has), and at most 15 integer digits. Anything else: `_check_bounds` below.
            if result.is_finite() and "e" not in text and "E" not in text:
                dot = text.find(".")
                if (dot < 0 or len(text) - dot - 1 <= _MAX_PLACES) and (
                    result.adjusted() < _MAX_INTEGER_DIGITS or result.is_zero()
                ):
                    return result
        else:
            result = _parse(text)
    elif type(value) is int:
        if -_INT_BOUND < value < _INT_BOUND:  # no decimal places: only the magnitude to check
            return Decimal(value)
        result = Decimal(value)  # exact; out of range: refused by the bounds below
    elif type(value) is Decimal:
        result = value
    elif isinstance(value, bool) or value is None:
        raise TypeError("not a number")
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | float | str):
        result = _parse(str(value).strip())
    else:
        raise TypeError("not a number")
    return _check_bounds(result)


def _parse(text: str) -> Decimal:
    # Decimal() also reads other scripts' digits ('١٢') and underscores ('1_000'); a channel
    # amount is plain ASCII, so those are refused rather than guessed. Anything else that is not
    # a decimal number ('1 2', '1\x00', '0x1') Decimal() refuses itself; 'nan' and 'inf' are
    # refused by the bounds.
    if not text or len(text) > _MAX_TEXT or not text.isascii() or "_" in text:
        raise ValueError("not a decimal number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None


def decimal_places(value: Decimal) -> int:
    """`-value.as_tuple().exponent` of a finite value (0 for a positive exponent): the places it
    is written with, trailing zeros included. Read from its text when that is in plain notation,
    without building `as_tuple()`'s digits (several times dearer)."""
    text = str(value)
    if "E" in text:
        exponent = value.as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def in_bounds(value: Decimal) -> bool:
    """Whether `value` is finite, |value| < 10^15 and has at most 12 decimal places (its exponent,
    not its numeric value: 1.0000000000000 has 13), which keeps later sums and quantizing exact."""
    if not value.is_finite() or (value.adjusted() >= _MAX_INTEGER_DIGITS and not value.is_zero()):
        return False
    # `decimal_places(value) <= _MAX_PLACES`, inline: this runs for every amount of every model.
    text = str(value)
    if "E" in text:
        return decimal_places(value) <= _MAX_PLACES
    dot = text.find(".")
    return dot < 0 or len(text) - dot - 1 <= _MAX_PLACES


def _check_bounds(value: Decimal) -> Decimal:
    if in_bounds(value):
        return value
    if not value.is_finite():
        raise ValueError("not a finite number")
    raise ValueError("out of range: at most 15 integer digits and 12 decimal places")


def amount(value: object) -> Decimal:
    """An amount or quantity as a model holds it: a Decimal (what adapters and arithmetic give) is
    bounds-checked; decimal text and integers (queue messages, JSON) are read as `to_decimal`
    reads them; floats are refused. Raises ValueError."""
    if type(value) is Decimal:
        return _check_bounds(value)
    if isinstance(value, float | bool):
        # A float reaching a model means someone skipped to_decimal: refuse rather than guess.
        # ValueError, not TypeError: pydantic turns only ValueError into a validation error.
        raise ValueError("money and quantities must be Decimal or decimal strings, never float")  # noqa: TRY004
    if isinstance(value, Decimal | int | str):
        return to_decimal(value)
    raise ValueError("not a decimal number")


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


class _Amount:
    """Marks a field as an amount: the canonical models' one input check (`order.Frozen`)
    passes it through `amount`, with the text checks, in a single call per model."""

    def __repr__(self) -> str:
        return "AMOUNT"


AMOUNT: Final = _Amount()

Money = Annotated[Decimal, AMOUNT]
"""An amount in the order's currency, exact as the channel stated it (not yet quantized)."""

Quantity = Annotated[Decimal, AMOUNT]
"""A line quantity; Decimal because some channels allow fractional units."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 alphabetic code (three upper-case letters)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 code."""

UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""Timezone-aware datetime, normalised to UTC; naive values are rejected."""
