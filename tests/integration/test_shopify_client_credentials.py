"""Shopify connections of apps made in the Dev Dashboard, against the channel sandbox over real
HTTP: the client credentials grant, the token cache, renewal after expiry and on 401 (once),
refused credentials as a configuration error naming the fix, secrets kept out of logs and
errors, the API version in every URL, the doctor, and webhooks verified with the client secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from intacct_sync.channels.api import ChannelAuthError, ChannelRequestError, client_for
from intacct_sync.channels.api import shopify as shopify_api
from intacct_sync.channels.api.http import Pacer
from intacct_sync.channels.api.port import StockRow, StockWriteOptions, WritebackOptions
from intacct_sync.channels.api.shopify import ShopifyClient, TokenCache
from intacct_sync.cli import doctor
from intacct_sync.connections import InMemoryConnections, parse_connection
from intacct_sync.errors import ConfigurationError
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.state import InMemoryStateStore
from local.channel_sandbox import ChannelFault, ChannelSandbox, RequestRecord
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox

SHOP = "demo.myshopify.com"
ORDER = "450789469"
TOKEN_PATH = "/admin/oauth/access_token"
INVALID = "[API] Invalid API key or access token (unrecognized login or wrong password)"
EAST = "gid://shopify/Location/70000000001"
ITEM_S = "gid://shopify/InventoryItem/46000000000001"
TODAY = date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _fresh_process_cache() -> Iterator[None]:
    shopify_api.TOKENS.clear()
    yield
    shopify_api.TOKENS.clear()


def secret_json(cs: ChannelSandbox, cid: str = "shop-cc", **override: Any) -> dict[str, Any]:
    data = cs.connection_secret("shopify", SHOP, cid, auth="client_credentials") | override
    return {k: v for k, v in data.items() if v is not None}


def connection(cs: ChannelSandbox, cid: str = "shop-cc", **override: Any) -> Connection:
    return parse_connection(cid, secret_json(cs, cid, **override), source="test")


def legacy(cs: ChannelSandbox, **override: Any) -> Connection:
    data = cs.connection_secret("shopify", SHOP, "shop-legacy") | override
    return parse_connection("shop-legacy", data, source="test")


def client(conn: Connection, cache: TokenCache | None = None, **options: Any) -> ShopifyClient:
    return ShopifyClient(
        conn,
        token_cache=cache if cache is not None else TokenCache(),
        backoff=Backoff(base_s=0.01, cap_s=0.05, max_attempts=3),
        sleep=lambda _s: None,
        pacer=Pacer(),
        read_timeout_s=10,
        **options,
    )


def deadline() -> Deadline:
    return Deadline.after(30)


def token_calls(cs: ChannelSandbox) -> list[RequestRecord]:
    return [r for r in cs.requests if r.path == TOKEN_PATH]


def api_calls(cs: ChannelSandbox) -> list[RequestRecord]:
    return [r for r in cs.requests if r.path.startswith("/admin/api/")]


def issued(cs: ChannelSandbox) -> list[str]:
    """Every token the sandbox issued (read from its state: the product never shows them)."""
    with cs.world.lock:
        return list(cs.world.store("shopify", SHOP).issued_tokens)


def app(cs: ChannelSandbox, index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = cs.credentials("shopify", SHOP)["apps"][index]
    return found


# --- one token, reused -----------------------------------------------------------------------------


def test_one_token_is_obtained_and_reused_across_calls(channels: ChannelSandbox) -> None:
    c = client(connection(channels))
    events = c.fetch_order_events(ORDER, deadline=deadline())
    assert any(e.type == "order" for e in events)
    c.list_webhooks(deadline=deadline())
    assert set(c.stock_locations(deadline=deadline())) == {EAST, "gid://shopify/Location/70000000002"}
    tokens = token_calls(channels)
    assert len(tokens) == 1
    assert (tokens[0].method, tokens[0].status, tokens[0].notes["encoding"]) == ("POST", 200, "form")
    assert tokens[0].notes["params"]["grant_type"] == "client_credentials"
    assert tokens[0].notes["params"]["client_id"] == app(channels)["client_id"]
    assert len(api_calls(channels)) >= 4 and {r.status for r in api_calls(channels)} == {200}
    assert len(issued(channels)) == 1


def test_the_process_cache_serves_every_client_of_the_connection_like_a_warm_container(
    channels: ChannelSandbox,
) -> None:
    conn = connection(channels)
    for _ in range(3):  # a new client per invocation, as the handlers build them
        client_for(conn, pacer=Pacer()).fetch_order_events(ORDER, deadline=deadline())
    assert len(token_calls(channels)) == 1
    # Another connection of the same store and app has its own token.
    client_for(connection(channels, "shop-cc-2"), pacer=Pacer()).list_webhooks(deadline=deadline())
    assert len(token_calls(channels)) == 2


def test_concurrent_calls_of_one_connection_ask_for_one_token(channels: ChannelSandbox) -> None:
    cache = TokenCache()
    conn = connection(channels)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client(conn, cache).list_webhooks(deadline=deadline())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(token_calls(channels)) == 1


# --- renewal ---------------------------------------------------------------------------------------


def test_a_token_is_renewed_shortly_before_it_expires_without_a_401(channels: ChannelSandbox) -> None:
    channels.freeze_clock()  # only advance_clock moves it: the 1 s steps below cannot be raced
    cache = TokenCache(clock=channels.clock)  # the same clock as the sandbox's token expiry
    c = client(connection(channels), cache)
    c.list_webhooks(deadline=deadline())
    channels.advance_clock(86399 - 301)
    c.list_webhooks(deadline=deadline())
    assert len(token_calls(channels)) == 1
    channels.advance_clock(2)  # now within the 5-minute margin
    c.list_webhooks(deadline=deadline())
    assert len(token_calls(channels)) == 2
    assert 401 not in [r.status for r in api_calls(channels)]


def test_a_token_expired_early_is_renewed_on_the_401_and_the_call_sent_once_more(channels: ChannelSandbox) -> None:
    c = client(connection(channels))
    c.fetch_order_events(ORDER, deadline=deadline())
    channels.expire_tokens("shopify", SHOP)
    channels.clear_requests()
    c.fetch_order_events(ORDER, deadline=deadline())
    trail = [(r.path == TOKEN_PATH, r.status) for r in channels.requests]
    assert trail[:3] == [(False, 401), (True, 200), (False, 200)]
    assert len(token_calls(channels)) == 1


def test_a_mutation_refused_with_401_is_sent_once_more_and_applied_once(channels: ChannelSandbox) -> None:
    c = client(connection(channels))
    c.list_webhooks(deadline=deadline())
    channels.expire_tokens("shopify", SHOP)
    c.write_document_number(ORDER, "INV-1001", options=WritebackOptions(), deadline=deadline())
    tags = channels.order("shopify", SHOP, int(ORDER))["tags"]
    assert tags.split(", ").count("intacct:INV-1001") == 1
    graphql = [r.status for r in api_calls(channels) if r.path.endswith("/graphql.json")]
    assert graphql == [401, 200]


def test_exactly_one_retry_when_the_new_token_is_refused_too(channels: ChannelSandbox) -> None:
    c = client(connection(channels))
    channels.inject(
        ChannelFault(
            "shopify", kind="http_error", status=401, times=None, path_contains="/orders/", body={"errors": INVALID}
        )
    )
    with pytest.raises(ChannelAuthError) as caught:
        c.fetch_order_events(ORDER, deadline=deadline())
    assert [r.status for r in api_calls(channels)] == [401, 401]
    assert len(token_calls(channels)) == 2  # the first token, and one renewal
    assert caught.value.status == 401
    fix = caught.value.fix or ""
    assert "'client_id' and 'client_secret'" in fix and "Dev Dashboard" in fix and "read_orders" in fix


def test_a_legacy_static_token_is_never_renewed(channels: ChannelSandbox) -> None:
    c = client(legacy(channels))
    channels.inject(ChannelFault("shopify", kind="http_error", status=401, times=None, body={"errors": INVALID}))
    with pytest.raises(ChannelAuthError) as caught:
        c.fetch_order_events(ORDER, deadline=deadline())
    assert len(api_calls(channels)) == 1
    assert token_calls(channels) == []
    assert "'access_token'" in (caught.value.fix or "")


# --- refused credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "status", "words"),
    [
        (
            {"client_secret": "shpss_wrong_secret_value_000000099"},
            401,
            ["'client_secret'", "Shopify Dev Dashboard > Apps > (the app) > Settings"],
        ),
        ({"client_id": "0000000000000000000000000000dead"}, 401, ["'client_id'", "Settings"]),
        ("not-installed", 400, ["Install app", SHOP, "Versions"]),
    ],
)
def test_refused_credentials_are_a_permanent_error_naming_the_key_and_the_step(
    channels: ChannelSandbox, caplog: pytest.LogCaptureFixture, override: Any, status: int, words: list[str]
) -> None:
    if override == "not-installed":
        absent = app(channels, 2)
        override = {"client_id": absent["client_id"], "client_secret": absent["client_secret"]}
    conn = connection(channels, **override)
    secret = conn.client_secret.get_secret_value() if conn.client_secret else ""
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelAuthError) as caught:
        client(conn).list_webhooks(deadline=deadline())
    err = caught.value
    assert isinstance(err, ConfigurationError)  # parked with its fix, never retried
    assert err.status == status
    assert f"POST {TOKEN_PATH} refused the client credentials: HTTP {status}" in err.message
    for word in words:
        assert word in (err.fix or ""), word
    assert len(token_calls(channels)) == 1  # a refusal is not retried
    assert api_calls(channels) == []  # no API call without a token
    assert secret not in str(err)
    _assert_not_logged(caplog.records, [secret])


def test_a_redirected_token_request_is_not_followed(channels: ChannelSandbox) -> None:
    channels.inject(ChannelFault("shopify", kind="http_error", status=307, path_contains=TOKEN_PATH, body={}))
    with pytest.raises(ChannelRequestError) as caught:
        client(connection(channels)).list_webhooks(deadline=deadline())
    assert "redirects are not followed" in caught.value.message
    assert [r.status for r in channels.requests] == [307]  # the client secret went nowhere else


def test_the_client_secret_never_travels_over_plain_http_to_a_store_address(channels: ChannelSandbox) -> None:
    conn = connection(channels, store="http://demo.example", api_base_url=None)
    with pytest.raises(ConfigurationError, match="plain http"):
        client(conn)
    assert channels.requests == []


def _assert_not_logged(records: Sequence[logging.LogRecord], secrets: Sequence[str]) -> None:
    for record in records:
        text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        for secret in secrets:
            assert secret not in text, record.getMessage()


def test_neither_the_client_secret_nor_any_token_is_ever_logged(
    channels: ChannelSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connection(channels)
    c = client(conn)
    with caplog.at_level(logging.DEBUG):
        c.fetch_order_events(ORDER, deadline=deadline())
        channels.expire_tokens("shopify", SHOP)
        c.list_webhooks(deadline=deadline())
        c.write_stock(
            [StockRow("TSHIRT-S", EAST, 4, ITEM_S)], options=StockWriteOptions(run_id="log-run"), deadline=deadline()
        )
    assert len(issued(channels)) == 2
    assert conn.client_secret is not None
    _assert_not_logged(caplog.records, [conn.client_secret.get_secret_value(), *issued(channels)])
    obtained = [r for r in caplog.records if r.getMessage() == "shopify access token obtained"]
    assert len(obtained) == 2 and "read_orders" in obtained[0].scope  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith("channel refused the token") for r in caplog.records)
    assert conn.client_secret.get_secret_value() not in repr(c) + repr(c.http)


# --- API version ------------------------------------------------------------------------------------


def _every_kind_of_call(c: ShopifyClient) -> None:
    c.fetch_order_events(ORDER, deadline=deadline())
    list(c.iter_orders_changed_since(datetime(2000, 1, 1, tzinfo=UTC), deadline=deadline()))
    c.list_webhooks(deadline=deadline())
    c.write_stock([StockRow("TSHIRT-S", EAST, 9, ITEM_S)], options=StockWriteOptions(run_id="v"), deadline=deadline())


@pytest.mark.parametrize(
    ("api_version", "expected"), [(None, "2026-10"), ("2026-07", "2026-07"), ("2026-04", "2026-04")]
)
def test_every_rest_and_graphql_url_carries_the_connection_s_api_version(
    channels: ChannelSandbox, api_version: str | None, expected: str
) -> None:
    _every_kind_of_call(client(connection(channels, api_version=api_version)))
    paths = [r.path for r in api_calls(channels)]
    assert any(p.endswith("/graphql.json") for p in paths) and any(p.endswith("/orders.json") for p in paths)
    assert all(p.startswith(f"/admin/api/{expected}/") for p in paths), paths
    assert channels.inventory("shopify", SHOP)[("TSHIRT-S", 70000000001)] == 9


@pytest.mark.parametrize("api_version", ["2025-10", "2026-01", "2026-10"])
def test_the_stock_push_mutation_satisfies_each_version_s_rules(channels: ChannelSandbox, api_version: str) -> None:
    c = client(legacy(channels, api_version=api_version))
    rejected = c.write_stock(
        [StockRow("TSHIRT-S", EAST, 11, ITEM_S)], options=StockWriteOptions(run_id="r"), deadline=deadline()
    )
    assert rejected == []
    assert channels.inventory("shopify", SHOP)[("TSHIRT-S", 70000000001)] == 11
    sent = next(r for r in api_calls(channels) if r.operations == ("inventorySetQuantities",))
    assert "@idempotent(key: $key)" in sent.body["query"]
    row = sent.body["variables"]["input"]["quantities"][0]
    if api_version >= "2026-01":
        assert row["changeFromQuantity"] is None and "ignoreCompareQuantity" not in sent.body["variables"]["input"]
    else:
        assert "changeFromQuantity" not in row and sent.body["variables"]["input"]["ignoreCompareQuantity"] is True


# --- webhooks signed with the client secret ----------------------------------------------------------


class _Queue:
    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        self.events.extend(events)


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    intake: WebhookIntake
    statuses: list[int]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        connection_id = self.path.rstrip("/").rsplit("/", 1)[-1]
        resp = self.server.intake.handle(connection_id, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.statuses.append(resp.status)
        payload = json.dumps(resp.body).encode()
        self.send_response(resp.status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, _Queue]]:
    srv = _Receiver(("127.0.0.1", 0), _Handler)
    queue = _Queue()
    srv.statuses = []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv, queue
    srv.shutdown()
    srv.server_close()


def test_without_webhook_secret_a_delivery_is_verified_with_the_client_secret(
    channels: ChannelSandbox, receiver: tuple[_Receiver, _Queue]
) -> None:
    srv, queue = receiver
    with_client_secret = connection(channels, "shop-cc", webhook_secret=None)
    assert with_client_secret.webhook_secret is None
    neither = legacy(channels, webhook_secret=None)
    srv.intake = WebhookIntake(
        InMemoryConnections([with_client_secret, neither]), EventPipeline(InMemoryStateStore(), queue)
    )
    base = f"http://127.0.0.1:{srv.server_address[1]}/webhooks/"
    (delivery,) = channels.deliver_webhook("shopify", SHOP, "orders/paid", int(ORDER), url=base + "shop-cc")
    assert delivery.status in (200, 202), delivery.response
    assert [e.order_id for e in queue.events if e.type == "order"] == [ORDER]
    (refused,) = channels.deliver_webhook("shopify", SHOP, "orders/paid", int(ORDER), url=base + "shop-legacy")
    assert refused.status == 401  # fails closed: no key at all


# --- the doctor ---------------------------------------------------------------------------------------


def run_doctor(tmp_path: Path, sandbox: IntacctSandbox, connections: list[dict[str, Any]]) -> tuple[int, str]:
    creds = tmp_path / "intacct.json"
    creds.write_text(json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}))
    args = ["--intacct-file", str(creds)]
    for c in connections:
        path = tmp_path / f"{c['id']}.json"
        path.write_text(json.dumps(c))
        args += ["--connection-file", str(path)]
    out = io.StringIO()
    code = doctor.main(args, stdout=out, today=TODAY)
    return code, out.getvalue()


def line(output: str, start: str) -> str:
    lines = output.splitlines()
    for i, text in enumerate(lines):
        if text.startswith(start):
            fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("      fix:") else ""
            return text + "\n" + fix
    raise AssertionError(f"no line starting {start!r} in:\n{output}")


def test_doctor_warns_for_an_aged_out_api_version_and_checks_the_token_exchange(
    tmp_path: Path, sandbox: IntacctSandbox, channels: ChannelSandbox
) -> None:
    old = {**channels.connection_secret("shopify", SHOP, "shop-old"), "api_version": "2025-10"}
    new = secret_json(channels, "shop-cc", api_version="2026-10")
    future = {**channels.connection_secret("shopify", SHOP, "shop-future"), "api_version": "2027-04"}
    code, output = run_doctor(tmp_path, sandbox, [old, new, future])
    assert code == 0, output  # warnings only
    text = line(output, "warn  connection shop-old api_version")
    assert "2025-10 (set in the secret) is out of Shopify's support window since 2026-10-01" in text
    assert "fix: Set 'api_version' in the connection secret 'shop-old' to \"2026-10\"" in text
    assert (
        "ok    connection shop-cc api_version: 2026-10 (set in the secret), supported until at least 2027-10-01"
        in output
    )
    text = line(output, "warn  connection shop-future api_version")
    assert "2027-04 (set in the secret) is not released yet (today is 2026-12-04)" in text
    text = line(output, "ok    connection shop-cc (shopify demo.myshopify.com) token exchange")
    assert "Admin API token obtained (valid 24 h)" in text and "read_all_orders" in text
    assert "ok    connection shop-cc (shopify demo.myshopify.com): API credentials accepted" in output
    assert "ok    connection shop-old (shopify" in output  # the legacy token still works
    assert "scopes:" not in output and "warn  connection shop-cc (shopify demo.myshopify.com) scopes" not in output
    assert len(token_calls(channels)) == 1


def test_doctor_default_version_is_current_and_today_is_injectable(
    tmp_path: Path, sandbox: IntacctSandbox, channels: ChannelSandbox
) -> None:
    _, output = run_doctor(tmp_path, sandbox, [secret_json(channels, "shop-cc")])
    assert "ok    connection shop-cc api_version: 2026-10 (the default), supported until at least 2027-10-01" in output
    out = io.StringIO()
    path = tmp_path / "shop-cc.json"
    doctor.main(
        ["--intacct-file", str(tmp_path / "intacct.json"), "--connection-file", str(path)],
        stdout=out,
        today=date(2027, 11, 2),
    )
    text = line(out.getvalue(), "warn  connection shop-cc api_version")
    assert "2026-10 (the default) is out of Shopify's support window since 2027-10-01" in text
    assert '"2027-10"' in text and "update the product too" in text


def test_doctor_fails_a_refused_token_exchange_with_the_fix_and_no_secret(
    tmp_path: Path, sandbox: IntacctSandbox, channels: ChannelSandbox
) -> None:
    wrong = "shpss_wrong_secret_value_000000099"
    readonly = app(channels, 1)
    connections = [
        secret_json(channels, "shop-bad", client_secret=wrong),
        secret_json(channels, "shop-ro", client_id=readonly["client_id"], client_secret=readonly["client_secret"]),
    ]
    code, output = run_doctor(tmp_path, sandbox, connections)
    assert code == 1
    text = line(output, "FAIL  connection shop-bad (shopify demo.myshopify.com) token exchange")
    assert "refused the client credentials: HTTP 401 (invalid_client" in text
    assert "fix: Copy the Client ID into 'client_id' and the Client secret into 'client_secret'" in text
    assert "FAIL  connection shop-bad (shopify demo.myshopify.com):" not in output  # not repeated
    assert wrong not in output and readonly["client_secret"] not in output
    # An app whose released version lacks scopes: warned, with the Dev Dashboard step.
    detail, fix = line(output, "warn  connection shop-ro (shopify demo.myshopify.com) scopes").split("\n")
    assert "read_all_orders" in detail and "write_inventory" in detail and "read_orders (" not in detail
    assert "Versions > Create a version" in fix
