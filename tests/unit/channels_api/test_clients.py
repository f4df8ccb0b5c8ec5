"""Client construction, webhook planning and the retry loop, with an in-memory HTTP transport."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from intacct_sync.channels.api import (
    DEFAULT_WEBHOOK_TOPICS,
    BigCommerceClient,
    ChannelAuthError,
    ChannelRateLimited,
    ChannelTransientError,
    ShopifyClient,
    WooCommerceClient,
    client_for,
)
from intacct_sync.channels.api.http import Pacer
from intacct_sync.channels.api.port import WebhookSubscription, plan_webhooks
from intacct_sync.cli import webhooks as cli
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Backoff, Deadline

TOKEN = "shpat_0123456789abcdef"


def conn(channel: str = "shopify", **extra: Any) -> Connection:
    base: dict[str, Any] = {
        "shopify": {"store": "demo.myshopify.com", "access_token": TOKEN},
        "woocommerce": {"store": "https://shop.example/store/", "api_key": "ck_key1234", "api_secret": "cs_sec1234"},
        "bigcommerce": {"store": "abc123", "access_token": "bc-token-123456"},
    }[channel]
    return Connection.model_validate({"id": f"{channel}-1", "channel": channel, **base, **extra})


class FakeResponse:
    def __init__(self, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self._content = b"" if body is None else json.dumps(body).encode()

    def iter_content(self, size: int) -> Iterator[bytes]:
        yield self._content

    def close(self) -> None:
        pass


class FakeSession:
    """Answers from a script: a FakeResponse or an exception per call; records the calls."""

    def __init__(self, *script: FakeResponse | Exception) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"method": method, "url": url, **kwargs})
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def client(connection: Connection, session: FakeSession, sleeps: list[float] | None = None) -> Any:
    return client_for(
        connection,
        http=session,  # type: ignore[arg-type]
        backoff=Backoff(base_s=0.01, cap_s=0.02, max_attempts=4),
        sleep=(sleeps if sleeps is not None else []).append,
        pacer=Pacer(),
        min_attempt_s=0.0,
    )


# --- construction ------------------------------------------------------------------------------


def test_factory_picks_the_channel_client() -> None:
    assert isinstance(client_for(conn("shopify")), ShopifyClient)
    assert isinstance(client_for(conn("woocommerce")), WooCommerceClient)
    assert isinstance(client_for(conn("bigcommerce")), BigCommerceClient)


def test_real_hosts_by_default() -> None:
    assert client_for(conn("shopify")).http.base_url == "https://demo.myshopify.com"  # type: ignore[attr-defined]
    assert client_for(conn("woocommerce")).http.base_url == "https://shop.example/store"  # type: ignore[attr-defined]
    assert client_for(conn("bigcommerce")).http.base_url == "https://api.bigcommerce.com"  # type: ignore[attr-defined]


def test_api_base_url_overrides_the_host_and_may_be_plain_http() -> None:
    c = client_for(conn("bigcommerce", api_base_url="http://10.0.0.5:8080/bigcommerce/"))
    assert c.http.base_url == "http://10.0.0.5:8080/bigcommerce"  # type: ignore[attr-defined]


def test_a_plain_http_store_address_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        client_for(conn("woocommerce", store="http://shop.example"))
    assert "'store'" in (info.value.fix or "")


@pytest.mark.parametrize(
    ("channel", "missing"),
    [("shopify", "access_token"), ("woocommerce", "api_secret"), ("bigcommerce", "access_token")],
)
def test_missing_credentials_name_the_secret_key(channel: str, missing: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        client_for(conn(channel, **{missing: None}))
    assert missing in str(info.value)


def test_client_repr_never_shows_credentials() -> None:
    c = client_for(conn("shopify"))
    assert TOKEN not in repr(c)
    assert TOKEN not in repr(c.http)  # type: ignore[attr-defined]


def test_default_topics_are_one_table_covering_every_channel() -> None:
    assert set(DEFAULT_WEBHOOK_TOPICS) == {"shopify", "woocommerce", "bigcommerce"}
    assert "order_transactions/create" in DEFAULT_WEBHOOK_TOPICS["shopify"]


# --- webhook planning --------------------------------------------------------------------------

URL = "https://api.example/webhooks/shopify-1"


def sub(topic: str, address: str = URL, **kw: Any) -> WebhookSubscription:
    return WebhookSubscription(id=kw.pop("id", topic), topic=topic, address=address, **kw)


def test_plan_creates_missing_keeps_matching_and_reports_extras_on_our_url_only() -> None:
    existing = [
        sub("orders/create"),
        sub("orders/create", id="dup"),
        sub("products/update"),
        sub("orders/paid", address="https://elsewhere.example/hook"),
    ]
    plan = plan_webhooks(existing, URL, ["orders/create", "orders/paid"])
    assert [s.id for s in plan.keep] == ["orders/create"]
    assert plan.create == ["orders/paid"]
    assert sorted(s.id for s in plan.extra) == ["dup", "products/update"]


def test_plan_repairs_an_inactive_or_unauthenticated_subscription_instead_of_creating() -> None:
    plan = plan_webhooks(
        [sub("order.updated", active=False, status="disabled"), sub("order.created", auth_header_ok=False)],
        URL,
        ["order.updated", "order.created"],
    )
    assert [s.topic for s in plan.repair] == ["order.updated", "order.created"]
    assert plan.create == []


def test_plan_prefers_a_healthy_duplicate() -> None:
    plan = plan_webhooks([sub("a", id="1", active=False), sub("a", id="2")], URL, ["a"])
    assert [s.id for s in plan.keep] == ["2"]
    assert [s.id for s in plan.extra] == ["1"]


def test_plan_matches_the_host_case_insensitively_but_the_path_exactly() -> None:
    plan = plan_webhooks([sub("a", address="HTTPS://API.EXAMPLE/webhooks/shopify-1")], URL, ["a"])
    assert plan.keep
    plan = plan_webhooks([sub("a", address="https://api.example/webhooks/SHOPIFY-1")], URL, ["a"])
    assert plan.create == ["a"]


# --- retry loop --------------------------------------------------------------------------------


def test_connect_errors_are_retried_even_for_a_post() -> None:
    session = FakeSession(
        requests.ConnectTimeout("connect timed out"),
        FakeResponse(201, {"webhook": {"id": 1, "topic": "orders/create", "address": URL}}),
        FakeResponse(200, {"webhooks": []}, {}),
    )
    c = client(conn(), session)
    result = c.http.request(
        "POST",
        "/admin/api/{version}/webhooks.json",
        path_params={"version": "v"},
        json_body={},
        deadline=Deadline.after(5),
    )
    assert result.status == 201
    assert len(session.calls) == 2


def test_a_lost_answer_to_a_post_is_not_resent() -> None:
    session = FakeSession(requests.ReadTimeout("read timed out"))
    c = client(conn(), session)
    with pytest.raises(ChannelTransientError) as info:
        c.http.request("POST", "/x", json_body={}, deadline=Deadline.after(5))
    assert not info.value.retryable
    assert len(session.calls) == 1


def test_5xx_on_get_is_retried_with_backoff_then_succeeds() -> None:
    sleeps: list[float] = []
    session = FakeSession(FakeResponse(502), FakeResponse(503), FakeResponse(200, {"ok": True}))
    c = client(conn(), session, sleeps)
    assert c.http.request("GET", "/x", deadline=Deadline.after(5)).data == {"ok": True}
    assert len(sleeps) == 2 and all(0 <= s <= 0.02 for s in sleeps)


def test_a_429_longer_than_the_deadline_is_raised_with_retry_after() -> None:
    session = FakeSession(FakeResponse(429, {"errors": "Exceeded"}, {"Retry-After": "30"}))
    c = client(conn(), session)
    with pytest.raises(ChannelRateLimited) as info:
        c.http.request("GET", "/x", deadline=Deadline.after(2))
    assert info.value.retry_after_s == 30
    assert len(session.calls) == 1


def test_timeouts_never_exceed_the_time_left() -> None:
    session = FakeSession(FakeResponse(200, {}))
    c = client(conn(), session)
    c.http.request("GET", "/x", deadline=Deadline.after(1.5))
    connect, read = session.calls[0]["timeout"]
    assert connect <= 1.5 and read <= 1.5
    assert session.calls[0]["allow_redirects"] is False


def test_no_secret_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"errors": f"Invalid API key or access token (unrecognized login or wrong password) {TOKEN}"}
    session = FakeSession(FakeResponse(401, echo))
    c = client(conn(), session)
    with pytest.raises(ChannelAuthError) as info:
        c.fetch_order_events("1001", deadline=Deadline.after(5))
    text = str(info.value) + info.value.message + (info.value.fix or "")
    assert TOKEN not in text
    assert "access_token" in (info.value.fix or "") and "read_orders" in (info.value.fix or "")
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in logged
    assert "/admin/api/{version}/orders/{order_id}.json" in logged  # the template, not the id
    assert session.calls[0]["headers"]["X-Shopify-Access-Token"] == TOKEN


def test_a_quota_pause_that_outlasts_the_deadline_is_not_slept() -> None:
    session = FakeSession(
        FakeResponse(200, [], {"X-Rate-Limit-Requests-Left": "1", "X-Rate-Limit-Time-Reset-Ms": "20000"}),
    )
    sleeps: list[float] = []
    c = client(conn("bigcommerce"), session, sleeps)
    c.http.request("GET", "/x", deadline=Deadline.after(5))
    with pytest.raises(ChannelRateLimited) as info:
        c.http.request("GET", "/x", deadline=Deadline.after(5))
    assert info.value.retry_after_s is not None and info.value.retry_after_s > 15
    assert sleeps == []


# --- CLI configuration errors -------------------------------------------------------------------


def test_cli_missing_connection_file_exits_1_with_the_fix(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["list", "--connection-file", str(tmp_path / "nope.json")], stdout=out, stderr=err)
    assert code == 1
    assert "fix:" in err.getvalue()


def test_cli_connection_without_api_credentials_says_which_key(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps({"id": "shop-1", "channel": "shopify", "store": "x.myshopify.com"}))
    err = io.StringIO()
    assert cli.main(["list", "--connection-file", str(path)], stdout=io.StringIO(), stderr=err) == 1
    assert "access_token" in err.getvalue()


def test_cli_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["register", "--connection-file", "x.json"], stdout=io.StringIO(), stderr=io.StringIO())
    assert info.value.code == 2


def test_woocommerce_without_orderby_modified_reads_unsorted_and_yields_oldest_first() -> None:
    def order(oid: int, modified: str) -> dict[str, Any]:
        return {
            "id": oid,
            "number": str(oid),
            "status": "processing",
            "currency": "USD",
            "date_created_gmt": "2031-01-01T00:00:00",
            "date_modified_gmt": modified,
            "total": "0.00",
            "line_items": [],
            "billing": {},
            "shipping": {},
        }

    rejected = {"code": "rest_invalid_param", "message": "Invalid parameter(s): orderby"}
    session = FakeSession(
        FakeResponse(400, rejected),
        FakeResponse(200, [order(2, "2031-01-02T00:00:05"), order(1, "2031-01-02T00:00:01")], {"X-WP-TotalPages": "1"}),
    )
    c = client(conn("woocommerce"), session)
    from datetime import UTC, datetime

    events = list(c.iter_orders_changed_since(datetime(2031, 1, 2, tzinfo=UTC), deadline=Deadline.after(5)))
    assert [e.order_id for e in events if e.type == "order"] == ["1", "2"]
    assert "orderby" in session.calls[0]["params"] and "orderby" not in session.calls[1]["params"]
    # modified_after is strict in WooCommerce: one second earlier makes `since` inclusive
    assert session.calls[0]["params"]["modified_after"] == "2031-01-01T23:59:59"


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.asked: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.asked.append(SecretId)
        return {"SecretString": self.value}


def test_cli_reads_the_connection_from_secrets_manager() -> None:
    secrets = FakeSecrets(json.dumps({"channel": "bigcommerce", "store": "abc123", "access_token": "t0k3n-abc"}))
    args = cli._parser().parse_args(["list", "--secret-id", "intacct-sync/connections/bc-shop"])
    connection = cli.load_connection(args, secrets_client=secrets)
    assert connection.id == "bc-shop"
    assert secrets.asked == ["intacct-sync/connections/bc-shop"]
