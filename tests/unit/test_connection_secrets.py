"""Connection secrets as stored in Secrets Manager: binary secrets and unusable signing keys are
refused with a fix (the webhook answers 503 'being configured'), and the lookup caches stay bounded
however many unknown connection ids are tried."""

from __future__ import annotations

import json
import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from intacct_sync.connections import SecretsManagerConnections, parse_connection
from intacct_sync.errors import ConfigurationError
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.state import InMemoryStateStore
from local.make_events import connection_secret
from tests.fixtures.channels import sign

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "intacct-sync/test/connections/"
GOOD_SECRET = "a-long-enough-signing-secret-123"
# Spelled out rather than imported, so that a change of either bound is a visible decision here.
MIN_WEBHOOK_SECRET_CHARS = 16
MAX_CACHED_CONNECTIONS = 1000


def _not_found() -> ClientError:
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "nope"}}, "GetSecretValue")


class FakeSecrets:
    """GetSecretValue over a dict of name -> response; other names are ResourceNotFoundException."""

    def __init__(self, responses: dict[str, dict[str, Any]] | None = None) -> None:
        self.responses = responses or {}
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if SecretId not in self.responses:
            raise _not_found()
        return {"Name": SecretId, **self.responses[SecretId]}


def _shopify(**overrides: Any) -> dict[str, Any]:
    return {"channel": "shopify", "store": "example.myshopify.com", "webhook_secret": GOOD_SECRET, **overrides}


def _store(responses: dict[str, dict[str, Any]], **kwargs: Any) -> tuple[SecretsManagerConnections, FakeSecrets]:
    client = FakeSecrets(responses)
    return SecretsManagerConnections(PREFIX, client=client, **kwargs), client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- SecretBinary ---------------------------------------------------------------------------------


def test_a_secret_stored_as_binary_is_a_configuration_error_saying_to_use_secret_string() -> None:
    store, _ = _store({PREFIX + "bin": {"SecretBinary": json.dumps(_shopify()).encode()}})
    with pytest.raises(ConfigurationError) as caught:
        store.get("bin")
    assert "SecretBinary" in caught.value.message
    assert caught.value.fix is not None
    assert "SecretString" in caught.value.fix


def test_the_webhook_answers_503_and_logs_the_fix_for_a_binary_secret(caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _store({PREFIX + "bin": {"SecretBinary": b"\x00\x01"}})
    intake = WebhookIntake(store, EventPipeline(InMemoryStateStore(), _NoQueue()))
    with caplog.at_level(logging.ERROR):
        resp = intake.handle("bin", {}, b"{}")
    assert resp.status == 503
    assert "being configured" in resp.body["error"]
    record = next(r for r in caplog.records if r.getMessage() == "connection secret invalid")
    assert "SecretString" in record.fix  # type: ignore[attr-defined]


class _NoQueue:
    def publish(self, events: Any) -> None:
        raise AssertionError("nothing may be queued for a misconfigured connection")


# --- signing secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["webhook_secret", "previous_webhook_secret"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "blank"),
        ("   ", "blank"),
        ("\t\n ", "blank"),
        ("x" * (MIN_WEBHOOK_SECRET_CHARS - 1), f"shorter than {MIN_WEBHOOK_SECRET_CHARS}"),
        (f"  {GOOD_SECRET}\n", "spaces or a line break"),
    ],
)
def test_an_unusable_signing_secret_is_refused_with_a_fix(key: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_connection("shop-1", _shopify(**{key: value}), source="Secret 'x'")
    assert f"'{key}' is {problem}" in caught.value.message or f"'{key}' has {problem}" in caught.value.message
    assert caught.value.fix is not None
    assert f"at least {MIN_WEBHOOK_SECRET_CHARS} characters" in caught.value.fix
    if value.strip():
        assert value.strip() not in str(caught.value)  # the value itself is never echoed


def test_a_whitespace_secret_from_secrets_manager_makes_the_webhook_answer_503() -> None:
    store, _ = _store({PREFIX + "blank": {"SecretString": json.dumps(_shopify(webhook_secret="    "))}})
    intake = WebhookIntake(store, EventPipeline(InMemoryStateStore(), _NoQueue()))
    headers = sign.shopify_headers(b"{}", "orders/paid", secret="    ")  # signed with the blank key
    resp = intake.handle("blank", headers, b"{}")
    assert resp.status == 503


def test_a_secret_of_exactly_the_minimum_length_is_accepted() -> None:
    conn = parse_connection("shop-1", _shopify(webhook_secret="y" * MIN_WEBHOOK_SECRET_CHARS), source="s")
    assert conn.webhook_secret is not None


def test_a_connection_without_a_signing_secret_is_still_valid() -> None:
    # BigCommerce may rely on the shared header alone; others fail closed (401) at delivery time.
    data = _shopify()
    data.pop("webhook_secret")
    assert parse_connection("shop-1", data, source="s").webhook_secret is None


def _documented_connections() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = [
        (f"make_events {channel}", connection_secret(channel)) for channel in ("shopify", "woocommerce", "bigcommerce")
    ]
    for path in sorted((ROOT / "local" / "config" / "connections").glob("*.json")):
        found.append((str(path.relative_to(ROOT)), json.loads(path.read_text(encoding="utf-8"))))
    return found


@pytest.mark.parametrize(("where", "data"), _documented_connections(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_documented_test_secrets_stay_valid(where: str, data: dict[str, Any]) -> None:
    parse_connection(str(data["id"]), data, source=where)


def test_the_sandbox_and_fixture_signing_secrets_meet_the_minimum() -> None:
    secrets = [sign.SHOPIFY_TEST_SECRET, sign.WOOCOMMERCE_TEST_SECRET, sign.BIGCOMMERCE_TEST_SECRET]
    seed = json.loads((ROOT / "local" / "channel_sandbox" / "seed.json").read_text(encoding="utf-8"))
    secrets += [seed["shopify"]["demo.myshopify.com"]["client_secret"]]
    secrets += [seed["woocommerce"]["demo-woo"]["webhook_secret"]]
    secrets += [seed["bigcommerce"]["demostore"]["client_secret"]]
    assert all(len(s.strip()) >= MIN_WEBHOOK_SECRET_CHARS and s == s.strip() for s in secrets)


# --- bounded caches -------------------------------------------------------------------------------


def test_two_hundred_thousand_unknown_ids_keep_the_cache_at_its_bound() -> None:
    store, client = _store({})
    tracemalloc.start()
    try:
        for i in range(200_000):
            assert store.get(f"nope-{i}") is None
        retained, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert client.calls == 200_000
    # Unbounded, this was ~43 MB; 1,000 cached ids take a few hundred KB.
    assert retained < 2_000_000, f"{retained} bytes still held after 200,000 unknown ids"
    known, unknown = store.cached_ids()
    assert known == 0
    assert unknown == MAX_CACHED_CONNECTIONS


def test_a_flood_of_unknown_ids_does_not_evict_a_real_connection() -> None:
    store, client = _store({PREFIX + "real": {"SecretString": json.dumps(_shopify())}}, max_entries=10)
    assert store.get("real") is not None
    for i in range(100):
        store.get(f"nope-{i}")
    calls = client.calls
    assert store.get("real") is not None
    assert client.calls == calls  # still served from the cache
    assert store.cached_ids() == (1, 10)


def test_known_connections_are_bounded_too_least_recently_used_first() -> None:
    responses = {PREFIX + f"c{i}": {"SecretString": json.dumps(_shopify())} for i in range(5)}
    store, client = _store(responses, max_entries=3)
    for i in range(5):
        store.get(f"c{i}")
    assert store.cached_ids() == (3, 0)
    calls = client.calls
    store.get("c4")  # recent: cached
    assert client.calls == calls
    store.get("c0")  # evicted: read again
    assert client.calls == calls + 1


@pytest.mark.parametrize(
    ("make", "ttl_attr"),
    [(lambda: {PREFIX + "x": {"SecretString": json.dumps(_shopify())}}, "ttl_s"), (dict, "miss_ttl_s")],
)
def test_entries_still_expire_after_their_ttl(make: Callable[[], dict[str, dict[str, Any]]], ttl_attr: str) -> None:
    clock = Clock()
    store, client = _store(make(), clock=clock, ttl_s=300, miss_ttl_s=30)
    store.get("x")
    store.get("x")
    assert client.calls == 1
    clock.now += getattr(store, ttl_attr) - 1
    store.get("x")
    assert client.calls == 1
    clock.now += 1
    store.get("x")
    assert client.calls == 2


def test_a_connection_created_after_a_miss_is_found_once_the_miss_expires() -> None:
    clock = Clock()
    store, client = _store({}, clock=clock, miss_ttl_s=30)
    assert store.get("new") is None
    client.responses[PREFIX + "new"] = {"SecretString": json.dumps(_shopify())}
    clock.now += 30
    assert store.get("new") is not None
    assert store.cached_ids() == (1, 0)


def test_the_bounds_spelled_out_here_are_the_code_s() -> None:
    from intacct_sync import connections
    from intacct_sync.models import connection

    assert connection.MIN_WEBHOOK_SECRET_CHARS == MIN_WEBHOOK_SECRET_CHARS
    assert connections.MAX_CACHED_CONNECTIONS == MAX_CACHED_CONNECTIONS


# --- binary secrets elsewhere: the webhooks CLI, the doctor, the consumers' Intacct secret ---------


class _BinarySecrets:
    """A Secrets Manager stand-in whose every secret is stored as SecretBinary."""

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        return {"Name": kwargs["SecretId"], "SecretBinary": b'{"sender_id": "x"}'}


def test_the_webhooks_cli_refuses_a_binary_connection_secret_with_the_fix() -> None:
    import argparse

    from intacct_sync.cli.webhooks import load_connection

    args = argparse.Namespace(connection_file=None, secret_id="intacct-sync/dev/connections/shop")
    with pytest.raises(ConfigurationError) as caught:
        load_connection(args, secrets_client=_BinarySecrets())
    assert "SecretBinary" in caught.value.message and "--secret-string" in (caught.value.fix or "")


def test_the_cli_takes_the_connection_id_from_the_secret_name_also_when_given_its_arn() -> None:
    """An ARN ends in Secrets Manager's random suffix (`shop-AbC123`): the id is the name's last part,
    as the deployed stack reads it; an `id` inside that differs is refused, as the stack refuses it."""
    import argparse

    import boto3
    from moto import mock_aws

    from intacct_sync.cli.webhooks import load_connection

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        data = {"channel": "woocommerce", "store": "https://shop.example", "webhook_secret": "w" * 20}
        arn = client.create_secret(Name="intacct-sync/dev/connections/shop", SecretString=json.dumps(data))["ARN"]
        assert not arn.endswith("/shop")
        args = argparse.Namespace(connection_file=None, secret_id=arn)
        assert load_connection(args, secrets_client=client).id == "shop"
        client.put_secret_value(SecretId=arn, SecretString=json.dumps({**data, "id": "other"}))
        with pytest.raises(ConfigurationError) as caught:
            load_connection(args, secrets_client=client)
        assert "says its id is not 'shop'" in caught.value.message


def test_the_doctor_reports_a_binary_intacct_secret_with_the_fix() -> None:
    from intacct_sync.cli.doctor import _stack_inputs

    class Cfn:
        def describe_stacks(self, **_: Any) -> dict[str, Any]:
            return {"Stacks": [{"Outputs": [{"OutputKey": "IntacctCredentialsSecret", "OutputValue": "arn:intacct"}]}]}

    class Ssm:
        def get_parameter(self, **_: Any) -> dict[str, Any]:
            return {"Parameter": {"Value": "{}"}}

    class Secrets(_BinarySecrets):
        def get_paginator(self, _name: str) -> Any:
            class Pages:
                def paginate(self, **_: Any) -> list[dict[str, Any]]:
                    return [{"SecretList": []}]

            return Pages()

    inputs = _stack_inputs("intacct-sync", {"cloudformation": Cfn(), "secretsmanager": Secrets(), "ssm": Ssm()})
    assert isinstance(inputs.intacct, ConfigurationError)
    assert "SecretBinary" in inputs.intacct.message and "README 'Intacct setup'" in (inputs.intacct.fix or "")


def test_the_consumers_refuse_a_binary_intacct_secret_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    from intacct_sync import wiring
    from intacct_sync.environment import Environment

    monkeypatch.setattr(parameters, "get_secret", lambda *_a, **_k: b'{"sender_id": "x"}')
    env = Environment.model_validate({"intacct_secret_arn": "arn:intacct"})
    with pytest.raises(ConfigurationError) as caught:
        wiring.intacct_credentials(env)
    assert "SecretBinary" in caught.value.message
