"""The canonical events the webhook puts on the queue stay byte-for-byte what they were.

`tests/fixtures/intake_serialisation_baseline.json.gz` holds, for every input below, what the
adapters answered with the code as it was before the webhook CPU work (issue #12): the events'
queue JSON (`event_to_json`) and SQS message bodies (`queues.encode`), or the refusal (message and
field path). The inputs: every `events/webhook` sample, every channel fixture under its topic,
the bench's generated orders (5 to 250 lines) and seeded valid variations and hostile mutations
of the fixtures (the fuzz suite's mutator). Any faster path must give the same bytes and the same
refusals. Regenerate only on purpose (a deliberate change of the queue format):
`.venv/bin/python -m tests.unit.test_intake_serialisation --write`.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from intacct_sync.channels import ADAPTERS, InvalidPayload, base, shopify
from intacct_sync.channels.base import Headers
from intacct_sync.models.events import event_to_json
from intacct_sync.queues import encode
from tests.fixtures.channels import sign
from tests.unit.test_webhook_fuzz_long import _mutate, _topic

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests" / "fixtures" / "intake_serialisation_baseline.json.gz"
SEED = 20261204
MUTATIONS = 1500
VARIATIONS = 120
FULL_TEXT_UP_TO = 20_000
"""Events up to this size are stored as text (readable diffs), larger ones as a SHA-256."""

Case = tuple[str, str, dict[str, str], bytes]
"""(name, channel, headers, body)."""


def _headers(channel: str, topic: str, body: bytes) -> dict[str, str]:
    if channel == "shopify":
        return sign.shopify_headers(body, topic)
    if channel == "woocommerce":
        return sign.woocommerce_headers(body, topic)
    return sign.bigcommerce_headers(body)


def _lines(order: dict[str, Any], lines: int, rng: random.Random | None = None) -> dict[str, Any]:
    template = order["line_items"][0]
    out = []
    for i in range(lines):
        line = dict(copy.deepcopy(template), id=template["id"] + i, sku=f"SKU-{i:04d}")
        if rng is not None:
            line["quantity"] = rng.randint(1, 40)
            price = Decimal(rng.randint(0, 10**7)) / 100
            for key in ("price", "subtotal", "total"):
                if isinstance(line.get(key), str):
                    line[key] = str(price * (line["quantity"] if key != "price" else 1))
        out.append(line)
    return dict(order, line_items=out)


def cases() -> Iterator[Case]:
    for path in sorted((ROOT / "events" / "webhook").glob("*/*.json")):
        if path.name.endswith(".base64.json"):
            continue  # the same body as the plain one
        event = json.loads(path.read_text())
        yield f"events/{path.parent.name}/{path.name}", path.parent.name, event["headers"], event["body"].encode()
    seeds = []
    for path in sorted(Path(sign.FIXTURES).glob("*/*.json")):
        if path.name.startswith(("order_fetch", "refund_fetch")):
            continue
        channel, topic = path.parent.name, _topic(path.parent.name, path.name)
        body = path.read_bytes()
        seeds.append((channel, topic, json.loads(body)))
        yield f"fixture/{channel}/{path.name}", channel, _headers(channel, topic, body), body
    for channel, name, topic in (
        ("shopify", "orders_paid_us_tax_exclusive_discount.json", "orders/paid"),
        ("woocommerce", "order_updated_stripe_paid.json", "order.updated"),
    ):
        order = json.loads(sign.load(channel, name))
        for n in (1, 5, 100, 250):
            body = json.dumps(_lines(order, n)).encode()
            yield f"generated/{channel}/{n}", channel, _headers(channel, topic, body), body
    rng = random.Random(SEED)
    ordered = [(c, t, b) for c, t, b in seeds if isinstance(b.get("line_items"), list) and b["line_items"]]
    for i in range(VARIATIONS):
        channel, topic, order = rng.choice(ordered)
        body = json.dumps(_lines(order, rng.randint(1, 30), rng)).encode()
        yield f"variation/{i}", channel, _headers(channel, topic, body), body
    for i in range(MUTATIONS):
        channel, topic, seed_body = rng.choice(seeds)
        try:
            body = json.dumps(_mutate(rng, seed_body)).encode()
        except (ValueError, RecursionError):
            continue
        yield f"mutation/{i}", channel, _headers(channel, topic, body), body


def _stored(data: bytes) -> str:
    if len(data) <= FULL_TEXT_UP_TO:
        return data.decode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def output(channel: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    adapter = ADAPTERS[channel]  # type: ignore[index]
    hdrs = Headers(headers)
    if adapter.detect_ping(hdrs, body) is not None:
        return {"ping": True}
    connection = sign.connection(channel)
    try:
        events = adapter.parse(hdrs, body, connection)
    except InvalidPayload as exc:
        return {"refused": [exc.message, exc.path]}
    claims: list[str] = []

    def put_claim(key: str, data: bytes) -> None:
        claims.append(f"{key} {hashlib.sha256(data).hexdigest()}")

    messages = [encode(e, put_claim) for e in events]
    return {
        "events": [_stored(event_to_json(e)) for e in events],
        "messages": [
            [_stored(m.body.encode()), m.group_id, m.dedup_id, sorted(m.attributes.items())] for m in messages
        ],
        "claims": claims,
    }


def current() -> dict[str, Any]:
    return {name: output(channel, headers, body) for name, channel, headers, body in cases()}


def test_every_input_gives_the_same_events_bytes_and_refusals_as_the_baseline() -> None:
    expected = json.loads(gzip.decompress(BASELINE.read_bytes()))
    got = json.loads(json.dumps(current()))  # tuples as lists, as stored
    assert got.keys() == expected.keys()
    differ = [name for name in expected if got[name] != expected[name]]
    assert not differ, f"{len(differ)} inputs differ, first: {differ[0]}: {got[differ[0]]} != {expected[differ[0]]}"
    # The baseline covers accepted orders and refusals alike.
    assert sum("events" in v for v in expected.values()) > 500
    assert sum("refused" in v for v in expected.values()) > 500


def _models(value: Any) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _models(item)


def test_checked_construction_gives_the_models_validation_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters' checked construction (`models.checked`) against pydantic's validation of the
    same fields, for every input: equal events, the same fields set, the same field order."""
    built = {name: _parse(channel, headers, body) for name, channel, headers, body in cases()}
    monkeypatch.setattr(base, "construct_checked", lambda model, fields: None)
    monkeypatch.setattr(shopify, "_line_model", lambda fields, ordered, whole: None)
    validated = {name: _parse(channel, headers, body) for name, channel, headers, body in cases()}
    assert built.keys() == validated.keys()
    compared = 0
    for name, got in built.items():
        expected = validated[name]
        assert got == expected, name
        if isinstance(got, list):
            for a, b in zip(_models(got), _models(expected), strict=True):
                assert type(a) is type(b), name
                assert list(a.__dict__) == list(b.__dict__), name
                assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__, name
                assert a.__pydantic_extra__ == b.__pydantic_extra__, name
                assert a.__pydantic_private__ == b.__pydantic_private__, name
                compared += 1
    assert compared > 5_000


def _parse(channel: str, headers: dict[str, str], body: bytes) -> Any:
    try:
        return ADAPTERS[channel].parse(Headers(headers), body, sign.connection(channel))  # type: ignore[index]
    except InvalidPayload as exc:
        return (exc.message, exc.path)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    BASELINE.write_bytes(gzip.compress(json.dumps(current(), sort_keys=True).encode(), mtime=0))
    print(f"wrote {BASELINE}")
