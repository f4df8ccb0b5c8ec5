"""Shared fixtures: the Intacct sandbox over real HTTP, and clients pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

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
from tests.aws import Stack, create_stack


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[tuple[IntacctSandbox, dict[str, Any]]]:
    sb = IntacctSandbox.start()
    yield sb, sb.seed
    sb.stop()


@pytest.fixture
def sandbox(_sandbox_server: tuple[IntacctSandbox, dict[str, Any]]) -> IntacctSandbox:
    """The sandbox, back at its default seed, with no faults, latency or concurrency cap."""
    server, pristine = _sandbox_server
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
