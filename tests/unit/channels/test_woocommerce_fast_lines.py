"""WooCommerce line items read straight from the JSON (issue #12) give what the Node getters and
the model's validation give: the same OrderLine (JSON, field order, fields set) or the same
refusal (message and field path), whatever the shape of the line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from intacct_sync.channels import InvalidPayload, base, woocommerce
from intacct_sync.channels.base import Node, build
from intacct_sync.models import OrderLine
from intacct_sync.models.events import event_to_json
from tests.fixtures.channels.sign import connection
from tests.unit.test_intake_serialisation import _models, cases

CONN = connection("woocommerce")
PATH = "order.line_items[3]"


@contextmanager
def _validated_only() -> Iterator[None]:
    """Every model validated by pydantic: no fast line, no checked construction."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base, "construct_checked", lambda model, fields: None)
        mp.setattr(woocommerce, "_line_model", lambda name, unit_price, discount: False)
        yield


def _by_getters(n: Node) -> OrderLine:
    """The line as the Node getters read it and `build` makes it: what `_line` gave before."""
    quantity = n.decimal("quantity")
    subtotal = n.decimal("subtotal")
    total = n.opt_decimal("total", subtotal)
    tax = n.opt_decimal("total_tax")
    return build(
        OrderLine,
        n,
        line_id=n.id("id"),
        sku=n.text("sku", max_len=255),
        name=n.text("name") or "(no name)",
        product_id=n.opt_id("product_id"),
        variant_id=n.opt_id("variation_id"),
        quantity=quantity,
        unit_price=woocommerce._unit_price(subtotal, quantity),
        subtotal=subtotal,
        discount=subtotal - total,
        tax=tax,
        taxable=bool(n.objects("taxes")) or tax != 0,
    )


def _outcome(read: Any, item: dict[str, Any]) -> tuple[str, Any]:
    try:
        line = read(Node(item, PATH))
    except InvalidPayload as exc:
        return "refused", (exc.message, exc.path)
    return "line", line


def _assert_same_as_validation(item: dict[str, Any]) -> None:
    fast = _outcome(woocommerce._line, item)
    with _validated_only():
        expected = _outcome(_by_getters, item)
    assert fast[0] == expected[0], (item, fast, expected)
    if fast[0] == "refused":
        assert fast[1] == expected[1], item
        return
    got, want = fast[1], expected[1]
    assert type(got) is OrderLine
    assert got.model_dump_json() == want.model_dump_json(), item
    assert got == want
    assert list(got.__dict__) == list(want.__dict__)
    assert got.__pydantic_fields_set__ == want.__pydantic_fields_set__
    assert got.__pydantic_extra__ == want.__pydantic_extra__
    assert got.__pydantic_private__ == want.__pydantic_private__


USUAL = {
    "id": 58,
    "name": "Rhapsody of Realities",
    "product_id": 753,
    "variation_id": 0,
    "quantity": 1,
    "tax_class": "",
    "subtotal": "14.99",
    "subtotal_tax": "0.00",
    "total": "14.99",
    "total_tax": "0.00",
    "taxes": [],
    "meta_data": [],
    "sku": "SKU-0001",
    "price": 14.99,
}

HUGE = "999999999999999.999999999999"

EDGES: list[dict[str, Any]] = [
    USUAL,
    # quantity as a string, a float, an int, negative, zero, fractional, bounds
    {**USUAL, "quantity": "2"},
    {**USUAL, "quantity": " 3 "},
    {**USUAL, "quantity": 2.0},
    {**USUAL, "quantity": 1.5},
    {**USUAL, "quantity": 2, "subtotal": "10.00", "total": "10.00"},
    {**USUAL, "quantity": 3, "subtotal": "10.00", "total": "9.00"},  # unit price 3.333333
    {**USUAL, "quantity": -1, "subtotal": "-14.99", "total": "-14.99"},
    {**USUAL, "quantity": 0},
    {**USUAL, "quantity": "0.000000000001"},  # unit price beyond the bounds
    {**USUAL, "quantity": 10**15 - 1},
    {**USUAL, "quantity": 10**15},
    {**USUAL, "quantity": -(10**15)},
    {**USUAL, "quantity": "abc"},
    {**USUAL, "quantity": True},
    {**USUAL, "quantity": None},
    # missing or odd SKU
    {k: v for k, v in USUAL.items() if k != "sku"},
    {**USUAL, "sku": ""},
    {**USUAL, "sku": "   "},
    {**USUAL, "sku": "  SKU-9  "},
    {**USUAL, "sku": "Café-1"},
    {**USUAL, "sku": "bad\ud800"},
    {**USUAL, "sku": "S" * 256},
    {**USUAL, "sku": 1234},
    {**USUAL, "sku": []},
    # names: non-ASCII, what SQS/XML cannot carry (cleaned), blank, long, not text
    {**USUAL, "name": "Çà ñ — 日本語 😀"},
    {**USUAL, "name": "bad\x01name\ufffe"},
    {**USUAL, "name": "\ud800"},
    {**USUAL, "name": ""},
    {**USUAL, "name": "   "},
    {**USUAL, "name": "n" * 4001},
    {**USUAL, "name": 12.5},
    {k: v for k, v in USUAL.items() if k != "name"},
    # huge values
    {**USUAL, "subtotal": HUGE, "total": HUGE},
    {**USUAL, "subtotal": HUGE, "total": "-" + HUGE},  # discount out of bounds
    {**USUAL, "subtotal": "1E+14", "total": "0E+100"},
    {**USUAL, "subtotal": "1e20"},
    {**USUAL, "subtotal": 10**20},
    {**USUAL, "total_tax": HUGE},
    {**USUAL, "subtotal": "14.9900000000001"},
    # total and tax missing, blank, bad
    {k: v for k, v in USUAL.items() if k != "total"},
    {**USUAL, "total": ""},
    {**USUAL, "total": None},
    {**USUAL, "total": "12.00"},
    {**USUAL, "total": "x"},
    {k: v for k, v in USUAL.items() if k != "total_tax"},
    {**USUAL, "total_tax": ""},
    {**USUAL, "total_tax": "1.20"},
    {**USUAL, "total_tax": {}},
    {k: v for k, v in USUAL.items() if k != "subtotal"},
    # ids
    {**USUAL, "id": "abc"},
    {**USUAL, "id": "a b"},
    {**USUAL, "id": "."},
    {**USUAL, "id": 0},
    {**USUAL, "id": -5},
    {**USUAL, "id": None},
    {**USUAL, "product_id": 0, "variation_id": 12},
    {**USUAL, "product_id": "", "variation_id": "77"},
    {**USUAL, "product_id": False},
    {**USUAL, "variation_id": "x y"},
    # taxes
    {**USUAL, "taxes": [{"id": 1, "total": "1.00"}]},
    {**USUAL, "taxes": None},
    {**USUAL, "taxes": "x"},
    {**USUAL, "taxes": [{}, 1]},
    {**USUAL, "taxes": {}},
    # several faults at once: the first one in reading order is named
    {**USUAL, "quantity": "x", "subtotal": "y", "id": None},
    {**USUAL, "id": None, "sku": "bad\x00", "taxes": "x"},
]


@pytest.mark.parametrize("item", EDGES, ids=range(len(EDGES)))
def test_a_line_of_every_edge_shape_is_what_the_getters_and_validation_make(item: dict[str, Any]) -> None:
    _assert_same_as_validation(item)


def test_the_usual_line_is_built_without_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("validated")

    monkeypatch.setattr(woocommerce, "build", refuse)
    monkeypatch.setattr(Node, "decimal", refuse)
    line = woocommerce._line(Node(USUAL, PATH))
    assert (line.line_id, line.sku, line.quantity, line.subtotal, line.discount) == (
        "58",
        "SKU-0001",
        Decimal(1),
        Decimal("14.99"),
        Decimal("0.00"),
    )
    assert "kind" not in line.__pydantic_fields_set__  # as `build` leaves the default


_AMOUNT = st.one_of(
    st.integers(min_value=-(10**16), max_value=10**16),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**16), max_value=10**16).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " 1.50 ", "0", "-0.00", "1e3", "1E+14", "0E+100", HUGE, "x", "١٢", "1_0"]),
    st.none(),
    st.booleans(),
)
_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    st.sampled_from(["", "  ", "Café", "\ud800", "a\x01b", "\ufffe", "x" * 256, "y" * 4001]),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.lists(st.none(), max_size=1),
)
_ID = st.one_of(
    st.integers(min_value=-(10**19), max_value=10**19),
    st.text(max_size=6),
    st.sampled_from(["", ".", "..", "a b", 0, "0"]),
    st.none(),
    st.booleans(),
)
_LINE = st.fixed_dictionaries(
    {},
    optional={
        "id": _ID,
        "quantity": _AMOUNT,
        "subtotal": _AMOUNT,
        "total": _AMOUNT,
        "total_tax": _AMOUNT,
        "sku": _TEXT,
        "name": _TEXT,
        "product_id": _ID,
        "variation_id": _ID,
        "taxes": st.one_of(st.none(), st.lists(st.one_of(st.just({}), st.integers()), max_size=2), st.just("x")),
    },
)


@settings(max_examples=1_000)
@given(st.one_of(_LINE, _LINE.map(lambda item: {**USUAL, **item})))
@example({**USUAL, "quantity": "2"})
@example({**USUAL, "quantity": 2.0})
@example({**USUAL, "quantity": -3})
@example({k: v for k, v in USUAL.items() if k != "sku"})
@example({**USUAL, "name": "Ünïcødé 😀"})
@example({**USUAL, "subtotal": HUGE, "total": "-" + HUGE})
@example({k: v for k, v in USUAL.items() if k != "total"})
def test_any_line_is_what_the_getters_and_validation_make(item: dict[str, Any]) -> None:
    _assert_same_as_validation(item)


def _woocommerce_inputs() -> list[tuple[str, dict[str, str], bytes]]:
    return [(name, headers, body) for name, channel, headers, body in cases() if channel == "woocommerce"]


def _parse(headers: dict[str, str], body: bytes) -> Any:
    adapter = woocommerce.ADAPTER
    try:
        return adapter.parse(base.Headers(headers), body, CONN)
    except InvalidPayload as exc:
        return (exc.message, exc.path)


def test_every_serialisation_baseline_input_gives_the_events_validation_gives() -> None:
    """`test_intake_serialisation`'s WooCommerce inputs (fixtures, generated orders of up to 250
    lines, seeded variations and hostile mutations), fast lines against validated ones."""
    inputs = _woocommerce_inputs()
    built = [_parse(headers, body) for _, headers, body in inputs]
    with _validated_only():
        validated = [_parse(headers, body) for _, headers, body in inputs]
    lines = 0
    for (name, _, _), got, expected in zip(inputs, built, validated, strict=True):
        assert got == expected, name
        if isinstance(got, list):
            assert [event_to_json(e) for e in got] == [event_to_json(e) for e in expected], name
            for a, b in zip(_models(got), _models(expected), strict=True):
                assert type(a) is type(b), name
                assert list(a.__dict__) == list(b.__dict__), name
                assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__, name
                lines += type(a) is OrderLine
    assert lines > 1_000
