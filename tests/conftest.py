"""Shared fixtures: the Intacct sandbox over real HTTP, and clients pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis: no per-example time limit and no "too slow" health check. Both measure wall-clock
# speed, so a busy machine would fail a correct run; every @settings(...) without its own value
# inherits these (this conftest is imported before any test module is).
settings.register_profile("intacct-sync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("intacct-sync")

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "IntacctSyncTest")
# moto: fake credentials, so no test can ever reach a real account.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}.items():
    os.environ[_key] = _value

from intacct_sync.intacct import IntacctClient, IntacctCredentials, SessionCache
from intacct_sync.retry import Backoff
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from local.moto_atomic import make_dynamodb_atomic
from tests.aws import Stack, create_stack

make_dynamodb_atomic()  # moto's conditional writes race across threads; DynamoDB's never do


@pytest.fixture(autouse=True)
def _fresh_container_caches() -> Iterator[None]:
    """Every test starts as a new Lambda container: no pause state cached by an earlier test (whose
    stack used the same table name) may decide whether this test's events post."""
    from intacct_sync import pause

    pause.forget_gates()
    yield
    pause.forget_gates()


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[tuple[IntacctSandbox, dict[str, Any]]]:
    sb = IntacctSandbox.start()
    yield sb, sb.seed
    sb.stop()


@pytest.fixture
def sandbox(_sandbox_server: tuple[IntacctSandbox, dict[str, Any]]) -> IntacctSandbox:
    """The sandbox, back at its default seed, with no faults, latency, concurrency cap or hold."""
    server, pristine = _sandbox_server
    # End what a previous test left waiting (hang faults, holds) and let it finish first.
    server.release_holds()
    server.release_hangs()
    assert server.wait_idle(timeout_s=30), "a gateway request of a previous test is still in flight"
    server.reset(seed=pristine)
    server.set_latency(0)
    server.set_max_concurrency(None)
    return server


def make_credentials(sandbox: IntacctSandbox, **override: object) -> IntacctCredentials:
    return IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": sandbox.url, **override})


class RecordingSleep:
    """Stands in for time.sleep: records the backoff delays and sleeps briefly for real."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.delays.append(seconds)
        time.sleep(min(seconds, 0.01))


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(sandbox: IntacctSandbox, sleeps: RecordingSleep) -> IntacctClient:
    return IntacctClient(
        make_credentials(sandbox),
        sessions=SessionCache(),
        backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=5),
        sleep=sleeps,
        read_timeout_s=5,
    )


@pytest.fixture
def aws() -> Iterator[Stack]:
    """The stack's queues, table, bucket and secret store in moto (in-process)."""
    from moto import mock_aws

    with mock_aws():
        yield create_stack()


@pytest.fixture(scope="session")
def _channel_server() -> Iterator[ChannelSandbox]:
    server = ChannelSandbox.start()
    yield server
    server.stop()


@pytest.fixture
def channels(_channel_server: ChannelSandbox) -> ChannelSandbox:
    """The channel sandbox over real HTTP, back at its seed with no faults or limits."""
    _channel_server.reset()
    return _channel_server


@pytest.fixture
def cs(channels: ChannelSandbox) -> ChannelSandbox:
    """`channels` under the name most tests give it."""
    return channels
