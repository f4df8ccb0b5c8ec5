"""Signed-but-mutated requests through the real webhook handler (real adapters, real EventPipeline,
a queue that encodes every event exactly as SqsEventQueue does and checks SQS's rules on it).

Starts from the real payloads in tests/fixtures/channels, mutates them field by field (wrong
types, huge and negative numbers, NaN/Infinity, deep nesting, lone surrogates, control characters,
U+FFFE/U+FFFF, nulls, path-changing ids, very long strings), re-signs each with the connection's
secret and checks: no 5xx, no uncaught exception, every 400 names the field. Forged, truncated,
re-serialised and stale signatures must all be 401.

`make test` runs a short seeded form (FUZZ_EXAMPLES, default 1000); the long form is
`FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/unit/test_webhook_fuzz_long.py -s`
(FUZZ_SEED picks another seed). The figures are printed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from intacct_sync.connections import InMemoryConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, batches, encode
from intacct_sync.state import InMemoryStateStore
from tests.fixtures.channels import sign
from tests.fixtures.mutate import paths, replace

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
SEED = int(os.environ.get("FUZZ_SEED", "20240601"))
SQS_DISALLOWED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SqsRulesQueue:
    """Encodes every event as SqsEventQueue does (queues.encode + queues.batches) and checks SQS's
    character and size rules on what would be sent: a serialisation crash fails the request."""

    def __init__(self) -> None:
        self.messages = 0
        self.claims = 0

    def _claim(self, key: str, data: bytes) -> None:
        self.claims += 1

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        messages = [encode(e, self._claim) for e in events]
        for batch in batches(messages):
            assert len(batch) <= 10
            assert sum(m.size for m in batch) <= MAX_BATCH_BYTES
        for m in messages:
            assert m.size <= MAX_MESSAGE_BYTES
            assert not SQS_DISALLOWED.search(m.body), "body character SQS refuses"
            for value in m.attributes.values():
                assert not SQS_DISALLOWED.search(value), "attribute character SQS refuses"
            assert re.fullmatch(r"[!-~]{1,128}", m.dedup_id) and re.fullmatch(r"[!-~]{1,128}", m.group_id)
        self.messages += len(messages)


def _topic(channel: str, name: str) -> str:
    if channel == "shopify":
        for prefix, topic in (
            ("order_transactions_create", "order_transactions/create"),
            ("orders_cancelled", "orders/cancelled"),
            ("orders_create", "orders/create"),
            ("orders_paid", "orders/paid"),
            ("refunds_create", "refunds/create"),
        ):
            if name.startswith(prefix):
                return topic
        return "orders/updated"
    if channel == "woocommerce":
        return "order.deleted" if "deleted" in name else "order.created" if "created" in name else "order.updated"
    return ""


def _seeds() -> list[tuple[str, str, Any]]:
    root = Path(sign.FIXTURES)
    out = []
    for path in sorted(root.glob("*/*.json")):
        if path.name.startswith(("order_fetch", "refund_fetch")):
            continue
        out.append((path.parent.name, _topic(path.parent.name, path.name), json.loads(path.read_bytes())))
    return out


SEEDS = _seeds()
LONG = "x" * 5000


def _hostile_values(rng: random.Random) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None,
        lambda: True,
        list,
        dict,
        lambda: "",
        lambda: " ",
        lambda: ".",
        lambda: "..",
        lambda: "/",
        lambda: "%2e",
        lambda: "?",
        lambda: "#",
        lambda: -1,
        lambda: 0,
        lambda: 10**30,
        lambda: -(10**30),
        lambda: 1e308,
        lambda: float("nan"),
        lambda: float("inf"),
        lambda: float("-inf"),
        lambda: "NaN",
        lambda: "Infinity",
        lambda: "1e400",
        lambda: "-0.0000000000001",
        lambda: "\ud800",
        lambda: "a\udfffb",
        lambda: "\ufffe",
        lambda: "x\uffff",
        lambda: "\x00",
        lambda: "ok\x01\x1f",
        lambda: "\t\r\n",
        lambda: "\U0001f600",
        lambda: "]]><x>&amp;\"'",
        lambda: LONG,
        lambda: "y" * rng.choice([255, 256, 4001, 70_000]),
        lambda: _nest(rng.randint(50, 3000)),
        lambda: [rng.random() for _ in range(rng.randint(0, 5))],
        lambda: "2024-02-30T25:61:00Z",
        lambda: "gid://shopify/Order/1",
        lambda: rng.choice(["1", "12", "-3", "3.5", "1_000", "\u0661\u0662"]),
    ]
    return rng.choice(choices)()


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _mutate(rng: random.Random, body: Any) -> Any:
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        found = paths(body, max_depth=12)
        path = rng.choice(found[1:] or found)
        body = replace(body, path, _hostile_values(rng), delete=bool(path) and rng.random() < 0.1)
    return body


def _dump(rng: random.Random, body: Any) -> bytes:
    try:
        if rng.random() < 0.9:
            return json.dumps(body).encode()  # ASCII: lone surrogates travel as "\ud800" escapes
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")  # invalid UTF-8
    except (ValueError, RecursionError):
        return b'{"deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def _headers(channel: str, topic: str, body: bytes, rng: random.Random) -> dict[str, str]:
    n = rng.getrandbits(64)
    if channel == "shopify":
        return sign.shopify_headers(body, topic, event_id=f"evt-{n}", webhook_id=f"wh-{n}")
    if channel == "woocommerce":
        return sign.woocommerce_headers(body, topic, delivery_id=f"{n:x}")
    return sign.bigcommerce_headers(body, msg_id=f"msg_{n}", timestamp=int(time.time()))


def _signature_attack(channel: str, topic: str, body: bytes, rng: random.Random) -> tuple[str, dict[str, str], bytes]:
    headers = _headers(channel, topic, body, rng)
    kind = rng.choice(["forged", "truncated", "reserialised", "stale", "other_secret", "missing"])
    sig_name = {"shopify": "X-Shopify-Hmac-Sha256", "woocommerce": "X-WC-Webhook-Signature"}.get(
        channel, "webhook-signature"
    )
    if kind == "forged":
        headers[sig_name] = ("v1," if channel == "bigcommerce" else "") + base64.b64encode(rng.randbytes(32)).decode()
    elif kind == "truncated":
        headers[sig_name] = headers[sig_name][: rng.randint(0, len(headers[sig_name]) - 1)]
    elif kind == "reserialised":
        body = json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).encode() + b" "
    elif kind == "stale":
        if channel == "bigcommerce":
            headers = sign.bigcommerce_headers(body, timestamp=int(time.time()) - 3600)
        else:
            body = body + b"\n"  # a replayed signature over another body: what "stale" means without a timestamp
    elif kind == "other_secret":
        headers = (
            sign.shopify_headers(body, topic, secret="not-the-secret")
            if channel == "shopify"
            else sign.woocommerce_headers(body, topic, secret="not-the-secret")
            if channel == "woocommerce"
            else sign.bigcommerce_headers(body, secret="not-the-secret", timestamp=int(time.time()))
        )
    else:
        headers.pop(sig_name)
    return kind, headers, body


def _gateway_event(channel: str, headers: dict[str, str], body: bytes, b64: bool) -> dict[str, Any]:
    return {
        "pathParameters": {"connection_id": f"test-{channel}"},
        "headers": {k.lower(): v for k, v in headers.items()},
        "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8", "surrogatepass"),
        "isBase64Encoded": b64,
    }


def run_fuzz(examples: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    queue = SqsRulesQueue()
    intake = WebhookIntake(
        InMemoryConnections([sign.connection(c) for c in ("shopify", "woocommerce", "bigcommerce")]),
        EventPipeline(InMemoryStateStore(), queue),
    )
    statuses: Counter[int] = Counter()
    attacks: Counter[str] = Counter()
    failures: list[str] = []
    start = time.perf_counter()
    for i in range(examples):
        channel, topic, seed_body = rng.choice(SEEDS)
        attack = rng.random() < 0.2
        body = _dump(rng, seed_body if attack else _mutate(rng, seed_body))
        if attack:
            kind, headers, body = _signature_attack(channel, topic, body, rng)
        else:
            kind, headers = "", _headers(channel, topic, body, rng)
        b64 = rng.random() < 0.5
        try:
            resp = intake.handle_apigw(_gateway_event(channel, headers, body, b64))
        except Exception as exc:  # the handler must answer, never raise
            failures.append(f"#{i} {channel} {topic}: uncaught {type(exc).__name__}: {exc}"[:300])
            continue
        statuses[resp.status] += 1
        if attack:
            attacks[kind] += 1
            if resp.status != 401:
                failures.append(f"#{i} {channel} {kind} signature answered {resp.status}")
        elif resp.status not in {200, 202, 400}:
            failures.append(f"#{i} {channel} {topic}: {resp.status} {resp.body}"[:300])
        elif resp.status == 400 and not (resp.body.get("path") or resp.body.get("error", "").startswith("body")):
            failures.append(f"#{i} {channel} {topic}: 400 without a field path: {resp.body}"[:300])
    return {
        "requests": examples,
        "seed": seed,
        "statuses": dict(sorted(statuses.items())),
        "signature_attacks": dict(sorted(attacks.items())),
        "messages_encoded": queue.messages,
        "claim_checks": queue.claims,
        "seconds": round(time.perf_counter() - start, 2),
        "failures": failures,
    }


def test_signed_mutated_requests_never_crash_and_bad_signatures_are_always_401() -> None:
    figures = run_fuzz(EXAMPLES, SEED)
    print("\nwebhook fuzz:", json.dumps({k: v for k, v in figures.items() if k != "failures"}))
    assert figures["failures"] == [], "\n".join(figures["failures"][:20])
    assert figures["statuses"].get(202, 0) > 0, "some mutated requests must still be accepted"
    assert figures["statuses"].get(400, 0) > 0
